"""The HTTP client every source uses: one httpx client, one rate limiter, one retry loop.

Sources differ only in how they authenticate, how their error bodies look and what their bodies
say about limits; all are passed in (`auth_headers`/`auth_params`, `classify`, `method_loads`),
everything else is shared. Every answer is shown to the limiter: throttled or not, what its
headers say (Retry-After, X-RateLimit-*) is honoured and the learned rate adapts.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, Field

from finance_pipeline.http.answer import parse_answer
from finance_pipeline.http.errors import (
    ApiError,
    AuthenticationError,
    BadResponseError,
    NetworkError,
    NotFoundError,
    PaymentRequiredError,
    RequestRejectedError,
    ServerError,
    ThrottledError,
)
from finance_pipeline.http.masking import install_log_masking, mask
from finance_pipeline.http.ratelimit import (
    AdaptiveLimiter,
    LimitSignals,
    MethodLoad,
    Reservation,
    parse_retry_after,
    signals_from_headers,
)
from finance_pipeline.http.stats import RequestStats
from finance_pipeline.http.transports import transport_for

log = logging.getLogger("finance_pipeline.http")

# What a source-specific classifier returns for an answer that is an error: the error class and
# a human message. `None` means "not an error as far as this source knows".
Classification = tuple[type[ApiError], str] | None
Classifier = Callable[[httpx.Response, Any], Classification]
# Which API methods a request calls (a Bitrix24 batch calls several), from its path and JSON body.
CalledMethods = Callable[[str, Any], list[str]]
# What a parsed answer says about each called method's server-time budget (Bitrix24's `time`),
# from the request's path and JSON body and the answer's body.
MethodLoads = Callable[[str, Any, Any], list[MethodLoad]]

RETRYABLE: tuple[type[ApiError], ...] = (ThrottledError, ServerError, NetworkError, BadResponseError)


class RetryPolicy(BaseModel):
    """Exponential backoff with full jitter, bounded in attempts and in total sleep."""

    max_attempts: int = Field(default=6, ge=1, le=20)
    base_delay: float = Field(default=0.5, ge=0)
    max_delay: float = Field(default=30.0, ge=0)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        # Full jitter: spread retries of parallel workers instead of retrying in lock-step.
        return random.uniform(ceiling / 2, ceiling)


def classify_status(response: httpx.Response) -> Classification:
    """What an HTTP status alone says, for answers no source classifier recognised."""
    status = response.status_code
    if status < 400:
        return None
    reason = response.reason_phrase or "error"
    if status in (401, 403):
        return AuthenticationError, f"the service answered {status} {reason}"
    if status == 402:
        return PaymentRequiredError, "the service answered 402 Payment Required"
    if status == 404:
        return NotFoundError, "the service answered 404 Not Found"
    if status == 429:
        return ThrottledError, "the service answered 429 Too Many Requests"
    if status >= 500:
        return ServerError, f"the service answered {status} {reason}"
    return RequestRejectedError, f"the service answered {status} {reason}"


def _excerpt(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


class ApiClient:
    """Sends requests for one source and returns parsed JSON, or raises a typed ApiError."""

    def __init__(
        self,
        source: str,
        base_url: str,
        *,
        limiter: AdaptiveLimiter,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        auth_headers: Mapping[str, str] | None = None,
        auth_params: Mapping[str, str] | None = None,
        classify: Classifier | None = None,
        called_methods: CalledMethods | None = None,
        method_loads: MethodLoads | None = None,
        transport: httpx.BaseTransport | None = None,
        stats: RequestStats | None = None,
        max_connections: int = 16,
    ) -> None:
        # httpx logs every request's URL (a Bitrix24 webhook key is in it): whoever makes a client,
        # with or without the Dagster definitions, gets the masking filters (idempotent).
        install_log_masking()
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter
        self.retry = retry or RetryPolicy()
        self.classify = classify
        self.called_methods = called_methods
        self.method_loads = method_loads
        self.auth_params = dict(auth_params or {})
        self.stats = stats or RequestStats()
        self._http = httpx.Client(
            headers={"Accept": "application/json", **dict(auth_headers or {})},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=8),
            # An explicit transport (tests), else whatever is mounted for this URL (the sandbox,
            # mounted by definitions.py), else the network.
            transport=transport or transport_for(self.base_url),
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str | None = None,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json_body: Any = None,
        form: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
    ) -> Any:
        """One logical call, retried on transient failures. Returns the parsed JSON body."""
        url = f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url
        name = endpoint or path
        query: list[tuple[str, Any]] = list(self.auth_params.items())
        if params:
            query += list(params.items()) if isinstance(params, Mapping) else list(params)
        content = None
        headers = {}
        if json_body is not None:
            # GET with a JSON body is how SalesMan documents its list calls; httpx allows it
            # only through `content`, so the body is encoded here for every method alike.
            content = json.dumps(json_body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        called = self.called_methods(path, json_body) if self.called_methods else None
        scopes = self.limiter.scopes_for(path, called)
        call = _Call(path, json_body, scopes)
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._attempt(call, method, url, name, query, content, form, headers)
            except ApiError as error:
                retryable = isinstance(error, RETRYABLE)
                if not retryable or attempt >= self.retry.max_attempts:
                    self.stats.add(failed=1)
                    if attempt > 1:
                        error.attempts = attempt
                        raise type(error)(
                            self.source,
                            name,
                            error.detail,
                            status=error.status,
                            hint=error.hint,
                            attempts=attempt,
                        ) from error
                    raise
                retry_after = getattr(error, "retry_after", None)
                delay = self.retry.delay(attempt, retry_after)
                if isinstance(error, ThrottledError):
                    self.stats.add(throttled=1)
                    # The limiter already paused the scope for what the server asked (or one
                    # request interval); a throttle repeated on retry also backs off
                    # exponentially.
                    pause = getattr(error, "pause", None) or 0.0
                    backoff = self.retry.delay(attempt, None) if attempt > 1 else 0.0
                    delay = min(self.retry.max_delay, max(pause, backoff))
                self.stats.add(retries=1)
                log.warning(
                    "%s %s: %s; retry %d/%d in %.1fs",
                    self.source,
                    mask(name),
                    error.detail,
                    attempt,
                    self.retry.max_attempts - 1,
                    delay,
                )
                time.sleep(delay)

    def _attempt(
        self,
        call: _Call,
        method: str,
        url: str,
        name: str,
        query: list[tuple[str, Any]],
        content: bytes | None,
        form: Mapping[str, Any] | list[tuple[str, Any]] | None,
        headers: dict[str, str],
    ) -> Any:
        reservation = self.limiter.acquire(call.scopes)
        started = time.monotonic()
        self.stats.add(requests=1, waited_for_rate_limit=reservation.waited)
        try:
            response = self._http.request(
                method, url, params=query, content=content, data=form, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise NetworkError(self.source, name, f"timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise NetworkError(
                self.source, name, f"connection failed: {type(exc).__name__}: {mask(exc)}"
            ) from None
        finally:
            self.stats.add(seconds=time.monotonic() - started)
        # Before parsing: the limiter bounds when the request reached the server by this.
        answered_at = time.time()
        self.stats.add(bytes_received=len(response.content))
        body = self._parse(response)
        verdict = self.classify(response, body) if self.classify else None
        if verdict is None and (response.status_code >= 400 or body is _UNPARSABLE):
            verdict = classify_status(response)
        if verdict is None and body is _UNPARSABLE:
            ctype = response.headers.get("content-type", "?")
            if not response.content:
                problem = "empty body"
            elif "json" in ctype.lower():
                # Said JSON but is not: most often an answer cut off in transit.
                problem = (
                    f"invalid JSON (cut off after {len(response.content)} bytes?): "
                    f"{_excerpt(response.text)!r}"
                )
            else:
                problem = f"expected JSON, got {ctype}: {_excerpt(response.text)!r}"
            verdict = (BadResponseError, problem)
        throttled = verdict is not None and issubclass(verdict[0], ThrottledError)
        pause = self._tell_limiter(
            call, reservation, response, body, throttled=throttled, answered_at=answered_at
        )
        if verdict is not None:
            error_cls, message = verdict
            error = error_cls(self.source, name, message, status=response.status_code)
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            error.retry_after = retry_after  # type: ignore[attr-defined]
            error.pause = pause  # type: ignore[attr-defined]
            raise error
        return body

    def _tell_limiter(
        self,
        call: _Call,
        reservation: Reservation,
        response: httpx.Response,
        body: Any,
        *,
        throttled: bool,
        answered_at: float,
    ) -> float | None:
        """Show the limiter what this answer said; returns the pause it imposed (seconds)."""
        signals: LimitSignals = signals_from_headers(response.headers)
        if self.method_loads is not None and body is not _UNPARSABLE:
            signals.methods = self.method_loads(call.path, call.json_body, body)
        pause = self.limiter.observe(
            reservation, signals, throttled=throttled, answered_at=answered_at
        )
        if pause:
            self.stats.add(server_pauses=1)
        return pause

    @staticmethod
    def _parse(response: httpx.Response) -> Any:
        if not response.content:
            return _UNPARSABLE
        try:
            # json.loads' values, keeping the text of each member (http/answer.py): a page of
            # records can then be landed as the server wrote it.
            return parse_answer(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _UNPARSABLE


@dataclass
class _Call:
    """One logical request as the limiter sees it: its path, body and scopes."""

    path: str
    json_body: Any
    scopes: list[str]


class _Unparsable:
    """Marker for a body that is not JSON (HTML error page, truncated JSON, empty)."""

    def __repr__(self) -> str:
        return "<unparsable body>"


_UNPARSABLE: Any = _Unparsable()
