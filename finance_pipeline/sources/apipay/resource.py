"""The ApiPay.kz resource: API key in the `X-API-Key` header, Laravel-style JSON errors.

ApiPay (Kaspi Pay invoicing, KZT) answers errors as `{"message": "...", "errors": {...}}` with
the HTTP status telling the kind: 401 bad or missing key, 403 organisation not connected, 404,
422 validation (with per-field `errors`), 429 over the documented 60 requests/minute per key
(with `Retry-After`), 5xx including 502 "Kaspi API error" and 503 "Kaspi session expired".
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
from finance_pipeline.http.ratelimit import LimiterPolicy
from finance_pipeline.sources.answers import message_with_field_errors
from finance_pipeline.sources.resource_base import SourceResource

DEFAULT_BASE_URL = "https://bpapi.bazarbay.site/api/v1"


def classify_apipay(response: httpx.Response, body: Any) -> Classification:
    """Map ApiPay's own error answers to typed errors, quoting what the API said."""
    status = response.status_code
    if status < 400:
        return None
    said = message_with_field_errors(body) or None
    quoted = f"ApiPay said {said!r}" if said else f"ApiPay answered {status} without a message"
    if status == 401:
        return AuthenticationError, f"{quoted}; the API key (X-API-Key) was refused"
    if status == 403:
        return AuthenticationError, f"{quoted}; the key's organisation has no access"
    if status == 404:
        return NotFoundError, quoted
    if status == 429:
        retry = body.get("retry_after") if isinstance(body, dict) else None
        suffix = f" (retry after {retry}s)" if retry is not None else ""
        return ThrottledError, f"{quoted}{suffix}"
    if status >= 500:
        return ServerError, f"{quoted} (HTTP {status})"
    if status in (400, 410, 422):
        return RequestRejectedError, quoted
    if said is None:
        return None  # let the generic status rule phrase it
    return RequestRejectedError, quoted


class ApipayResource(SourceResource):
    """ApiPay.kz invoices and refunds (Kaspi Pay, KZT), read with an organisation's API key."""

    source: ClassVar[str] = "apipay"

    api_key: str = Field(
        default="",
        description="ApiPay API key (Settings > Connection), sent as X-API-Key. Set via APIPAY_API_KEY.",
    )
    api_base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description="Base URL of the API, up to and including /api/v1 (APIPAY_BASE_URL).",
    )

    base_url_field = "api_base_url"
    account_field = "api_key"  # ApiPay limits requests per API key

    def auth_headers(self) -> dict[str, str]:
        return {"X-API-Key": self.value("api_key")}

    classify = staticmethod(classify_apipay)
    # errors.md says 60/minute per key, the answers announce X-RateLimit-*: start at the
    # documented rate and follow what the server announces (the setting caps it).
    limiter_policy = LimiterPolicy()
