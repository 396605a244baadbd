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
from urllib.parse import urlsplit

import httpx
from pydantic import Field

from finance_pipeline.config import DEFAULT_RATE_LIMITS, START_RATES, check_base_url
from finance_pipeline.http.client import Classification
from finance_pipeline.http.errors import (
    AuthenticationError,
    ConfigError,
    NotFoundError,
    RequestRejectedError,
    ServerError,
    ThrottledError,
)
from finance_pipeline.http.masking import mask
from finance_pipeline.http.ratelimit import LimiterPolicy
from finance_pipeline.sources.resource_base import SourceResource

_DEFAULTS = DEFAULT_RATE_LIMITS["salesman"]


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
    rate_limit: float = Field(
        default=_DEFAULTS.rate, gt=0, description="Sustained requests per second."
    )
    rate_burst: int = Field(
        default=_DEFAULTS.burst, ge=1, description="Requests that may be sent back to back."
    )

    def is_configured(self) -> bool:
        return bool(self.crm_base_url.strip() and self.login.strip() and self.api_key.strip())

    def not_configured_reason(self) -> str:
        missing = [
            name
            for name, value in (
                ("SALESMAN_BASE_URL", self.crm_base_url),
                ("SALESMAN_LOGIN", self.login),
                ("SALESMAN_API_KEY", self.api_key),
            )
            if not value.strip()
        ]
        return f"{', '.join(missing)} not set" if missing else "configured"

    def validate_config(self) -> None:
        url = self.crm_base_url.strip()
        check_base_url(
            "SALESMAN_BASE_URL", url, "Give the CRM's address, e.g. https://crm.example.ru"
        )
        parts = urlsplit(url)
        if "/developer/" in parts.path.rstrip("/") + "/":
            raise ConfigError(
                "SALESMAN_BASE_URL",
                "must be the CRM's address, not an API URL",
                "Drop /developer/v3/... from it; the pipeline adds the API path itself",
            )
        login = self.login.strip()
        if (
            not login
            or not login.isascii()
            or any(c.isspace() or not c.isprintable() for c in login)
        ):
            raise ConfigError(
                "SALESMAN_LOGIN",
                "is empty or not a plain ASCII login (it travels in an HTTP header)",
                "Use the user's login as shown in SalesMan, e.g. name@company.ru",
            )
        key = self.api_key.strip()
        if not key or not key.isascii() or any(c.isspace() or not c.isprintable() for c in key):
            raise ConfigError(
                "SALESMAN_API_KEY",
                "is empty or contains whitespace/non-ASCII characters",
                "Copy the key again from Control panel > API",
            )

    def base_url(self) -> str:
        return self.crm_base_url.strip().rstrip("/")

    def secrets(self) -> list[str]:
        return [self.api_key.strip()] if self.api_key.strip() else []

    def auth_headers(self) -> dict[str, str]:
        return {"apikey": self.api_key.strip(), "login": self.login.strip()}

    def account_key(self) -> str:
        # One bucket per CRM and key (hashed by the limiter, never written in clear).
        return f"{self.base_url()}\0{self.api_key.strip()}"

    classify = staticmethod(classify_salesman)
    # SalesMan documents no limit: learn the account's, starting from the old fixed guess.
    limiter_policy = LimiterPolicy(start_rate=START_RATES["salesman"])
