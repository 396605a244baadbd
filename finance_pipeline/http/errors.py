"""Typed errors. Each names the source and the endpoint, says what to do, and is masked."""

from __future__ import annotations

from finance_pipeline.http.masking import mask


class ApiError(Exception):
    """Base of every error raised after talking to (or failing to reach) an API."""

    kind = "api error"
    default_hint = "See the source's API documentation."

    def __init__(
        self,
        source: str,
        endpoint: str,
        message: str,
        *,
        status: int | None = None,
        hint: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.source = source
        self.endpoint = mask(endpoint)
        self.status = status
        self.detail = mask(message)
        self.hint = mask(hint or self.default_hint)
        self.attempts = attempts
        status_part = f" (HTTP {status})" if status is not None else ""
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(
            f"[{source}] {self.kind} on {self.endpoint}{status_part}{tries}: {self.detail}. "
            f"What to do: {self.hint}"
        )


class AuthenticationError(ApiError):
    kind = "authentication failed"
    default_hint = "Check the credentials configured for this source (they are never printed)."


class PaymentRequiredError(ApiError):
    kind = "subscription or payment required"
    default_hint = "The account's subscription has expired; renew it in the service, then re-run."


class ThrottledError(ApiError):
    kind = "rate limit exceeded"
    default_hint = "Lower this source's rate limit setting or run the sync later."


class NotFoundError(ApiError):
    kind = "not found"
    default_hint = "Check the base URL and that this API method exists on your plan/version."


class RequestRejectedError(ApiError):
    kind = "request rejected"
    default_hint = "The API refused the parameters; this is a bug or an API change - report it."


class ServerError(ApiError):
    kind = "server error"
    default_hint = "The service is failing; it was retried. Try again later."


class NetworkError(ApiError):
    kind = "network error"
    default_hint = "Check the base URL, DNS and network access to the service."


class BadResponseError(ApiError):
    kind = "bad response"
    default_hint = (
        "The service answered with something that is not the documented JSON; "
        "check the base URL (a proxy or login page answers HTML) and retry later."
    )
