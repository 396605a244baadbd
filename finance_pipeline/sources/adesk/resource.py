"""The Adesk resource: `api_token` query parameter (v1), errors told by the body's `code`.

Adesk documents three error bodies, and says nothing about the HTTP status they come with:
`{"message": "Auth required", "code": 401, "success": false}` (missing or wrong token),
`{"message": "Payment required", "code": 21, "success": false}` (trial or subscription over:
every method is blocked) and `{"message": "Too many requests", "code": 429, "success": false}`.
The classifier therefore reads the body first, whatever the status (a 200 carrying code 21 is
a payment error), and only then falls back to the status. Other refusals are
`{"success": false, "message": ..., "errors": {field: [...]}}`.

The token travels as `?api_token=` because every read method we use is a v1 method and the docs
give the `X-API-Token` header for v2 only. URLs therefore carry the secret: it is registered for
masking (and `api_token=` is masked structurally too), and no message built here quotes a URL.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
from pydantic import Field

from finance_pipeline.http.client import Classification
from finance_pipeline.http.errors import (
    AuthenticationError,
    NotFoundError,
    PaymentRequiredError,
    RequestRejectedError,
    ServerError,
    ThrottledError,
)
from finance_pipeline.http.ratelimit import LimiterPolicy
from finance_pipeline.sources.answers import message_with_field_errors
from finance_pipeline.sources.resource_base import SourceResource

DEFAULT_BASE_URL = "https://api.adesk.ru"
# The largest `length` the list methods accept. Adesk documents no maximum; the sandbox
# enforces this one and refuses more, so the client asks for exactly this much per page.
MAX_PAGE_LENGTH = 1000


def code_of(value: Any) -> int | None:
    """Adesk's `code` or `recordsFiltered`: a whole number, or digits in a string (a bool is not)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def classify_adesk(response: httpx.Response, body: Any) -> Classification:
    """Map Adesk's own error answers to typed errors, quoting what Adesk said."""
    status = response.status_code
    if isinstance(body, dict):
        code = code_of(body.get("code"))
        failed = body.get("success") is False
        said = message_with_field_errors(body)
        quoted = (
            f"Adesk said {said!r}" if said else "Adesk answered success=false without a message"
        )
        if failed or code in (401, 21, 429):
            if code == 401:
                return AuthenticationError, f"{quoted} (code 401): the API token was refused"
            if code == 21:
                return (
                    PaymentRequiredError,
                    f"{quoted} (code 21): the account's trial or subscription has ended, so "
                    "Adesk blocks every API method",
                )
            if code == 429:
                return ThrottledError, f"{quoted} (code 429)"
        if failed:
            if status == 401 or status == 403:
                return AuthenticationError, quoted
            if status == 402:
                return PaymentRequiredError, quoted
            if status == 404:
                return NotFoundError, quoted
            if status == 429:
                return ThrottledError, quoted
            if status >= 500:
                return ServerError, f"{quoted} (HTTP {status})"
            return RequestRejectedError, quoted
    return None  # the generic status rules phrase anything else


class AdeskResource(SourceResource):
    """Adesk (cash-flow ledger: movements, projects, contractors), read with an API token."""

    source: ClassVar[str] = "adesk"

    api_token: str = Field(
        default="",
        description="Adesk API token (Settings > Profile > API), sent as the api_token query "
        "parameter. Set via ADESK_API_TOKEN.",
    )
    api_base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description="Base URL of the API, without /v1 (ADESK_BASE_URL).",
    )
    page_length: int = Field(
        default=MAX_PAGE_LENGTH,
        ge=1,
        description="Rows per page for the paged lists (transactions, projects, bank accounts): "
        "the largest `length` the API accepts.",
    )
    verify_limit: int = Field(
        default=500,
        ge=0,
        description="Incremental runs look up at most this many vanished movements by id to tell "
        "a deletion from a date moved out of the window; more are left to the full refresh.",
    )

    base_url_field = "api_base_url"
    account_field = "api_token"  # Adesk limits per account (token)

    def auth_params(self) -> dict[str, str]:
        return {"api_token": self.value("api_token")}

    classify = staticmethod(classify_adesk)
    # "If requests to a method exceed the limit, the method is blocked" (adesk-api.md): the
    # limit is per method and unpublished, so it is learned per method, from the old fixed 5/s.
    limiter_policy = LimiterPolicy(per_method=True)
