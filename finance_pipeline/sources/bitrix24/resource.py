"""The Bitrix24 resource: an inbound webhook URL (the key is inside it) and Bitrix24's errors.

Bitrix24 answers errors as `{"error": "CODE", "error_description": "..."}` (older methods use
an empty or numeric code with only a description). The codes that matter here come from the REST
docs' system error table:

- 401 `NO_AUTH_FOUND`, `INVALID_CREDENTIALS`, `expired_token`, `invalid_token`,
  `insufficient_scope`, `user_access_error` -> the webhook is wrong, deleted or lacks a scope;
- 401 `ACCESS_DENIED` "REST is available only on commercial plans / by subscription" -> the
  portal's plan has no REST;
- 503 `QUERY_LIMIT_EXCEEDED` -> the leaky bucket (50 requests, drained at 2/s) overflowed;
- 429 `OPERATION_TIME_LIMIT` -> a method used more than 480 s of server time in 10 minutes;
- 404 `ERROR_METHOD_NOT_FOUND`, 500 `INTERNAL_SERVER_ERROR`/`ERROR_UNEXPECTED_ANSWER`;
- 400 with a method's own code (`INVALID_ARG_VALUE`, `NOT_FOUND`, `REQUIRED_ARG_MISSING`, ...).
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
from pydantic import Field

from finance_pipeline.http.client import Classification
from finance_pipeline.http.errors import (
    ApiError,
    AuthenticationError,
    NotFoundError,
    PaymentRequiredError,
    RequestRejectedError,
    ServerError,
    ThrottledError,
)
from finance_pipeline.http.ratelimit import LimiterPolicy, MethodLoad
from finance_pipeline.sources.resource_base import SourceResource

_AUTH_CODES = {
    "NO_AUTH_FOUND",
    "INVALID_CREDENTIALS",
    "EXPIRED_TOKEN",
    "INVALID_TOKEN",
    "INSUFFICIENT_SCOPE",
    "USER_ACCESS_ERROR",
    "WRONG_AUTH_TYPE",
    "INVALID_REQUEST",  # "Https required"
    "PORTAL_DELETED",
}
_THROTTLE_CODES = {"QUERY_LIMIT_EXCEEDED", "OPERATION_TIME_LIMIT"}
_SERVER_CODES = {"INTERNAL_SERVER_ERROR", "ERROR_UNEXPECTED_ANSWER"}


def api_error_of(body: Any) -> tuple[str, str] | None:
    """(code, description) of a Bitrix24 error body, or None when the body is not an error."""
    if not isinstance(body, dict) or "error" not in body or "result" in body:
        return None
    code = body.get("error")
    code = "" if code is None else str(code)
    description = body.get("error_description")
    description = "" if description is None else str(description)
    return code, description


def describe(code: str, description: str) -> str:
    said = ": ".join(part for part in (code, description) if part)
    return f"Bitrix24 said {said!r}" if said else "Bitrix24 answered an error without a message"


def error_class(code: str, description: str, status: int | None) -> type[ApiError]:
    """The typed error for one Bitrix24 error (also used for errors of commands in a batch)."""
    upper = code.upper()
    if upper in _THROTTLE_CODES:
        return ThrottledError
    if upper == "ACCESS_DENIED" and status == 401:
        # "REST is available only on commercial plans" / "... only by subscription"
        if "commercial" in description or "subscription" in description:
            return PaymentRequiredError
        return AuthenticationError
    if upper in _AUTH_CODES:
        return AuthenticationError
    if upper == "OVERLOAD_LIMIT":
        return RequestRejectedError
    if upper == "ERROR_METHOD_NOT_FOUND":
        return NotFoundError
    if upper in _SERVER_CODES:
        return ServerError
    if status is not None:
        if status in (401, 403):
            return AuthenticationError
        if status >= 500:
            return ServerError
    return RequestRejectedError


_HINTS: dict[type[ApiError], str] = {
    AuthenticationError: (
        "Check BITRIX24_WEBHOOK_URL: the inbound webhook may have been deleted or regenerated, "
        "or it lacks the crm scope (Developer resources > Other > Inbound webhook)"
    ),
    PaymentRequiredError: "The portal's plan has no REST API access; renew it, then re-run",
    ThrottledError: (
        "Bitrix24's limit is 2 requests/s with a burst of 50 per portal (shared with every "
        "other integration of the portal); lower BITRIX24_RATE_LIMIT or run later"
    ),
}


def classify_bitrix24(response: httpx.Response, body: Any) -> Classification:
    """Map Bitrix24's own error answers to typed errors, quoting what the API said."""
    status = response.status_code
    error = api_error_of(body)
    if error is None:
        if status >= 400:
            return None  # no Bitrix24 body: the generic status rule phrases it
        return None
    code, description = error
    cls = error_class(code, description, status)
    message = describe(code, description)
    if cls is ThrottledError and code.upper() == "OPERATION_TIME_LIMIT":
        message += " (this method used more than 480 s of server time in 10 minutes)"
    return cls, message


def hint_for(cls: type[ApiError]) -> str | None:
    return _HINTS.get(cls)


def _method_name(path_or_command: str) -> str:
    """`crm.item.list?entityTypeId=31` or `crm.item.list.json` -> `crm.item.list`."""
    method = path_or_command.split("?", 1)[0].strip("/").rsplit("/", 1)[-1].lower()
    return method[: -len(".json")] if method.endswith(".json") else method


def batch_commands(json_body: Any) -> dict[str, str]:
    """The commands of a batch body: name -> method."""
    commands = json_body.get("cmd") if isinstance(json_body, dict) else None
    if not isinstance(commands, dict):
        return {}
    return {str(name): _method_name(str(cmd)) for name, cmd in commands.items()}


def called_methods(path: str, json_body: Any) -> list[str]:
    """The API methods one request runs: a batch runs each of its commands' methods."""
    method = _method_name(path)
    if method == "batch":
        return ["batch", *sorted(set(batch_commands(json_body).values()))]
    return [method]


def _load(method: str, timing: Any) -> MethodLoad | None:
    if not isinstance(timing, dict):
        return None
    try:
        operating = float(timing["operating"])
    except (KeyError, TypeError, ValueError):
        return None  # a portal without the operating limit (REST module before 22.0.0)
    duration = timing.get("duration")
    reset_at = timing.get("operating_reset_at")
    return MethodLoad(
        method=method,
        operating=operating,
        duration=float(duration) if isinstance(duration, int | float) else None,
        reset_at=float(reset_at) if isinstance(reset_at, int | float) else None,
    )


def method_loads(path: str, json_body: Any, body: Any) -> list[MethodLoad]:
    """Server time each called method used, from the answer's `time` block.

    REST docs (dev.1c-bitrix.ru rest_help/rest_sum/operating.php, b24restdocs "limits"): since
    REST 22.0.0 every answer's `time` has `operating`, a method's request times are summed, and
    a method over 480 s within 10 minutes is blocked for the whole portal while the others keep
    working; `operating_reset_at` is when part of that budget is freed. A batch answer also has
    `result.result_time[<command>]` per command.
    """
    if not isinstance(body, dict):
        return []
    method = _method_name(path)
    loads = [load for load in [_load(method, body.get("time"))] if load is not None]
    if method == "batch":
        outer = body.get("result")
        times = outer.get("result_time") if isinstance(outer, dict) else None
        if isinstance(times, dict):
            commands = batch_commands(json_body)
            for name, timing in times.items():
                command_method = commands.get(str(name))
                load = _load(command_method, timing) if command_method else None
                if load is not None:
                    loads.append(load)
    return loads


class Bitrix24Resource(SourceResource):
    """Bitrix24 CRM (smart invoices, companies, requisites, products) via an inbound webhook."""

    source: ClassVar[str] = "bitrix24"

    webhook_url: str = Field(
        default="",
        description=(
            "Inbound webhook URL https://<portal>/rest/<user id>/<key>/ with the crm scope "
            "(BITRIX24_WEBHOOK_URL). It contains the secret key and is never printed."
        ),
    )

    # The method name is appended to the webhook URL (<webhook>/crm.item.list); its validator
    # gave it the trailing slash. Bitrix24 counts requests per portal and one webhook URL is one
    # portal, so the URL alone names the account (no `account_field`). Masking knows the key
    # inside the URL on its own too (registering the URL registers its credential parts).
    base_url_field = "webhook_url"

    classify = staticmethod(classify_bitrix24)
    # The documented leaky bucket is the limit (never learned past); what is honoured on top is
    # each method's server-time budget, pausing that method only.
    limiter_policy = LimiterPolicy(adaptive=False, operating_budget=480.0)
    called_methods = staticmethod(called_methods)
    method_loads = staticmethod(method_loads)
