"""The SalesMan CRM resource: `apikey` + `login` headers, errors inside an HTTP 200 answer.

SalesMan API v3 lives under `{base}/developer/v3/<method>/<request>` on the customer's own CRM
address. Every answer, including errors, comes with HTTP 200; an error is the body
`{"result": "Error", "error": {"code": N, "text": "..."}}` with SalesMan's own codes: 400 wrong
API key, 401 unknown user, 402 unknown method (request name), 403/404 record not found, 405 a
required parameter missing. A NotFoundError with HTTP status 200 therefore always means "SalesMan
says this record does not exist" (a wrong base URL gives an HTTP 404 instead). Rate limiting is not documented; a 429 or a code 429 is treated as
"slow down".
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
from pydantic import Field

from finance_pipeline.http.client import Classification
from finance_pipeline.http.errors import (
    AuthenticationError,
    NotFoundError,
    RequestRejectedError,
    ServerError,
    ThrottledError,
)
from finance_pipeline.http.masking import mask
from finance_pipeline.http.ratelimit import LimiterPolicy
from finance_pipeline.sources.resource_base import SourceResource


def salesman_error(body: Any) -> tuple[int | None, str] | None:
    """(code, text) of a SalesMan error body, or None when the body is not an error."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if body.get("result") != "Error" and not isinstance(error, dict):
        return None
    code: int | None = None
    text = ""
    if isinstance(error, dict):
        try:
            code = int(error.get("code"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            code = None
        text = str(error.get("text") or "").strip()
    if not text and body.get("text"):
        text = str(body["text"]).strip()
    return code, text


def classify_salesman(response: httpx.Response, body: Any) -> Classification:
    """Map SalesMan's answers (errors come with HTTP 200) to typed errors, quoting SalesMan."""
    status = response.status_code
    parsed = salesman_error(body)
    if parsed is None:
        if status == 429:
            return ThrottledError, "SalesMan answered 429 Too Many Requests"
        return None  # a success body, or a non-SalesMan answer the generic rules phrase
    code, text = parsed
    said = f"SalesMan error {code if code is not None else '?'}: {text or 'no text'}"
    said = mask(said)
    if status == 429 or code == 429:
        return ThrottledError, said
    if status >= 500 or (code is not None and code >= 500):
        return ServerError, said
    if code == 400 and "api" in text.lower() and "key" in text.lower():
        return AuthenticationError, f"{said} (the API key was refused)"
    if code == 401:
        return AuthenticationError, f"{said} (the login is not a user of this CRM)"
    if code == 402:
        # Not NotFoundError: that one means "this record is gone" to the fetch code.
        return RequestRejectedError, (
            f"{said} (this SalesMan does not know the request; check that SALESMAN_BASE_URL "
            "points at SalesMan CRM with API v3)"
        )
    if code in (403, 404):
        return NotFoundError, said
    return RequestRejectedError, said


class SalesmanResource(SourceResource):
    """SalesMan CRM invoices, read through API v3 with a user's login and the account API key."""

    source: ClassVar[str] = "salesman"

    crm_base_url: str = Field(
        default="",
        description=(
            "Address of the SalesMan CRM, without /developer/v3 (SALESMAN_BASE_URL), "
            "e.g. https://crm.example.ru"
        ),
    )
    login: str = Field(
        default="",
        description="Login of the SalesMan user the API acts as (SALESMAN_LOGIN).",
    )
    api_key: str = Field(
        default="",
        description="Account API key from the control panel (SALESMAN_API_KEY); a secret.",
    )

    base_url_field = "crm_base_url"
    account_field = "api_key"  # one bucket per CRM and key

    def auth_headers(self) -> dict[str, str]:
        return {"apikey": self.value("api_key"), "login": self.value("login")}

    classify = staticmethod(classify_salesman)
    # SalesMan documents no limit: learn the account's, starting from the old fixed guess.
    limiter_policy = LimiterPolicy()
