"""The sandbox's shared machinery: how an emulated API is called, limited, slowed and broken.

An emulator (one per API, in this package) only turns a `SandboxRequest` into a
`SandboxResponse` from the synthetic `World`. This module wraps every emulator the same way:
authentication-aware rate limiting that answers like the real service, per-request latency and
per-request server cost, and fault injection. The same wrapped handler is reachable in-process
(an httpx transport: the demo and fast tests) and over real HTTP on 127.0.0.1 (`serve`).
"""

from __future__ import annotations

import importlib
import json
import math
import random
import re
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import httpx

from finance_sandbox.world import World, WorldSize

SOURCES = ("bitrix24", "salesman", "adesk", "apipay")

# Credentials the sandbox accepts. They are not secrets (they only open the fake APIs), but the
# pipeline still treats them as secrets, so masking is exercised on every sandbox run.
SANDBOX_CREDENTIALS: dict[str, dict[str, str]] = {
    "bitrix24": {"user_id": "1", "webhook_key": "sandboxwebhookkey0001"},
    "salesman": {"login": "sandbox@finance.example", "api_key": "sandbox-salesman-apikey-0001"},
    "adesk": {"api_token": "sandboxadesktoken0001"},
    "apipay": {"api_key": "sandbox-apipay-key-0001"},
}

# Where each API lives inside the sandbox. In-process the host is fake; `serve` swaps in
# 127.0.0.1:<port>. Paths are those of the real services.
SANDBOX_BASE_PATHS = {
    "bitrix24": "/rest/{user_id}/{webhook_key}/",
    "salesman": "",
    "adesk": "",
    "apipay": "/api/v1",
}

EMULATORS = {
    "bitrix24": "finance_sandbox.bitrix24:Bitrix24Emulator",
    "salesman": "finance_sandbox.salesman:SalesmanEmulator",
    "adesk": "finance_sandbox.adesk:AdeskEmulator",
    "apipay": "finance_sandbox.apipay:ApipayEmulator",
}


def sandbox_base_url(source: str, origin: str | None = None) -> str:
    """Where the pipeline finds an emulated API: in-process by default, or at `origin`."""
    origin = origin or f"http://{source}.sandbox"
    return origin + SANDBOX_BASE_PATHS[source].format(**SANDBOX_CREDENTIALS[source])


@dataclass
class SandboxRequest:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    def param(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None

    def json(self) -> Any:
        """The JSON body; raises ValueError when it is not JSON."""
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def form(self) -> list[tuple[str, str]]:
        ctype = self.headers.get("content-type", "")
        if self.body and "application/x-www-form-urlencoded" in ctype:
            return parse_qsl(self.body.decode("utf-8"), keep_blank_values=True)
        return []


@dataclass
class SandboxResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> SandboxResponse:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return cls(status, body, {"content-type": "application/json; charset=utf-8", **(headers or {})})

    @classmethod
    def html(cls, text: str, status: int) -> SandboxResponse:
        return cls(status, text.encode("utf-8"), {"content-type": "text/html; charset=utf-8"})


@dataclass
class ServerRateLimit:
    """How an emulated server limits requests, in each style real services use.

    style "leaky": a leaky bucket of `burst` drained at `rate`/s (Bitrix24 documents X=50,
    Y=2/s for webhooks). style "sliding": at most round(rate * window) requests in any `window`
    seconds (a sliding log), no burst beyond it: the strictest count of a window. Laravel's
    limiter (illuminate/cache RateLimiter) counts a window that starts at the first request
    after the last one expired, whose requests all lie within `window` seconds of the latest:
    whatever the log admits it admits too. Its announced counts differ (they grow until the
    window starts again, never levelling off); the client's reading of those is tested in
    finance_pipeline_tests/http/test_ratelimit.py. `per_method`: one limit per method (path with ids folded), as Adesk's "the method
    gets blocked" implies. `answer` "nginx": over the limit answer nginx's own HTML 429 page
    without Retry-After (limit_req in front of the API) instead of the API's throttle answer.
    `announce`: every answer carries X-RateLimit-Limit/Remaining and a throttled one also
    Retry-After and X-RateLimit-Reset (an epoch time), as Laravel's throttle middleware sends
    them (ApiPay runs on Laravel), replacing whatever the emulator sent.
    """

    rate: float
    burst: int
    style: str = "leaky"
    window: float = 1.0
    per_method: bool = False
    answer: str = "source"
    announce: bool = False

    @property
    def window_count(self) -> int:
        return max(1, round(self.rate * self.window))


@dataclass
class Admission:
    """The limiter's verdict on one request, and what it would announce."""

    admitted: bool
    limit: int
    remaining: int
    reset_at: float  # epoch seconds when the next request would be admitted


NGINX_429 = (
    "<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n<center><h1>429 "
    "Too Many Requests</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_ID_SEGMENT = re.compile(r"(?<=/)\d+(?=/|$)")
_ANNOUNCED = ("retry-after", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


class Emulator(ABC):
    """One emulated API. Subclasses implement `handle` and the source's own answers."""

    source: ClassVar[str]
    default_rate_limit: ClassVar[ServerRateLimit]

    def __init__(self, world: World, sandbox: Sandbox) -> None:
        self.world = world
        self.sandbox = sandbox

    @abstractmethod
    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer a request exactly as the real API would (auth, params, envelope, errors)."""

    @abstractmethod
    def account_of(self, request: SandboxRequest) -> str | None:
        """Which account the request is made for (the rate-limit bucket), or None if unauthenticated."""

    @abstractmethod
    def throttled(self, request: SandboxRequest) -> SandboxResponse:
        """The answer the real API gives when its rate limit is exceeded."""

    def server_error(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json({"error": "internal server error"}, status=500)

    def cost_seconds(self, request: SandboxRequest) -> float:
        """Simulated server time of this request beyond the base latency (e.g. counting a list)."""
        return 0.0


@dataclass
class FaultPlan:
    """Fault injection for one source. `rate` is the share of requests that get a fault.

    Kinds: server_error, throttle (the source's own answers), drop (connection closed without
    an answer), truncate (the first half of a 200 body), html (a proxy's 502 page), slow
    (`slow_seconds` more latency) and empty (a 200 with an empty body).
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = ("server_error", "throttle", "drop", "truncate", "html")
    slow_seconds: float = 3.0
    seed: int = 7
    # Persistent faults: every request whose path/method contains the key gets this answer:
    # an HTTP status (401, 404, 500...) or a source error name understood by the emulator.
    always: dict[str, int] = field(default_factory=dict)
    # Schema drift switches the emulators honour (added fields, omitted optional fields,
    # numbers as strings, nulls).
    drift: bool = False
    # A broken server cursor: a request to a path it answered before, with other parameters
    # (the next page), gets the previous answer again (a server that ignores the page asked).
    repeat_previous_page: bool = False
    # List answers announce this many records more (or, negative, fewer) than the list has
    # (the total/count fields of each API, see `_TOTAL_FIELDS`).
    wrong_total: int = 0


@dataclass
class ServerVariant:
    """How one emulated server reads what its documentation leaves open (issue 12): the sandbox
    plays every plausible reading, so tests prove the pipeline is right under each. The
    defaults are the readings the sandbox has always played; the notes on each reading and the
    vendor material behind it are in /work/notes/ambiguities.md (and the README's table).
    """

    # The most rows one list page answers, whatever was asked (a server cap below our page
    # size): Adesk `length`, ApiPay `per_page`, SalesMan's page size (the account's
    # `num_client` setting: Invoice::list() `$lines_per_page = $GLOBALS['num_client']`).
    page_cap: int | None = None
    # SalesMan `active` (doc: "(true / false - по умолчанию) только оплаченные или не
    # оплаченные"): "ignored" as the vendor's server code does (invoice.php `case 'list'`
    # never reads it); "filter" true=paid/false=unpaid, no value = no filter; "default_unpaid"
    # as the doc can be read: no value = false = unpaid only.
    salesman_active: str = "ignored"
    # SalesMan: may the API login mark payments (`acs_credit`)? Without it Invoice::list()
    # sets `do`/`ddo` true on UNPAID rows (`else { $do = true; }`): `do` is not "paid".
    salesman_acs_credit: bool = True
    # SalesMan visibility: the users whose invoices the API login sees without `iduser`
    # (get_people(): himself and his subordinates). None: the emulator's teams (the sandbox
    # login heads every user, so it sees every invoice).
    salesman_visible_users: tuple[int, ...] | None = None
    # Adesk GET /v1/transactions without `status` (no default stated): "completed" | "all".
    adesk_default_status: str = "completed"
    # ApiPay: True (our doc) a full refund is status `refunded`; False (vendor OpenAPI 2.1.0:
    # "Статуса refunded НЕ существует") it stays `paid` with `is_fully_refunded: true`,
    # `status[]=refunded` is refused (422) and `processing` is a status.
    apipay_refunded_status: bool = True


@dataclass
class SandboxSettings:
    size: WorldSize = field(default_factory=WorldSize)
    latency: float = 0.0  # seconds added to every request
    cost_scale: float = 1.0  # multiplier on emulator-reported server costs
    rate_limits: dict[str, ServerRateLimit] = field(default_factory=dict)
    faults: dict[str, FaultPlan] = field(default_factory=dict)
    variants: dict[str, ServerVariant] = field(default_factory=dict)


@dataclass
class SourceCounters:
    requests: Counter = field(default_factory=Counter)

    def bump(self, key: str) -> None:
        self.requests[key] += 1


class _DropConnection(Exception):
    """Raised inside the sandbox to make the transport/server drop the connection."""


class Sandbox:
    """The four emulated APIs over one synthetic World."""

    def __init__(self, settings: SandboxSettings | None = None, world: World | None = None) -> None:
        self.settings = settings or SandboxSettings()
        self.world = world or World(self.settings.size)
        self.emulators: dict[str, Emulator] = {}
        for source in SOURCES:
            module_name, cls_name = EMULATORS[source].split(":")
            emulator_cls = getattr(importlib.import_module(module_name), cls_name)
            self.emulators[source] = emulator_cls(self.world, self)
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()
        self._fault_rng = {s: random.Random(self.fault_plan(s).seed) for s in SOURCES}
        self.counters: dict[str, Counter] = {s: Counter() for s in SOURCES}
        # (source, path) -> (request signature, answer): for FaultPlan.repeat_previous_page.
        self._served_pages: dict[tuple[str, str], tuple[tuple[Any, ...], SandboxResponse]] = {}

    # -- configuration helpers -------------------------------------------------------------
    def fault_plan(self, source: str) -> FaultPlan:
        return self.settings.faults.get(source) or FaultPlan()

    def variant(self, source: str) -> ServerVariant:
        return self.settings.variants.get(source) or ServerVariant()

    def set_variant(self, source: str, variant: ServerVariant) -> None:
        """Switch how `source`'s server reads its ambiguous documentation (for tests)."""
        self.settings.variants[source] = variant

    def set_faults(self, source: str, plan: FaultPlan) -> None:
        self.settings.faults[source] = plan
        self._fault_rng[source] = random.Random(plan.seed)

    def rate_limit(self, source: str) -> ServerRateLimit:
        return self.settings.rate_limits.get(source) or self.emulators[source].default_rate_limit

    def base_url(self, source: str, origin: str | None = None) -> str:
        return sandbox_base_url(source, origin)

    # -- the wrapped handler -----------------------------------------------------------------
    def handle(self, source: str, request: SandboxRequest) -> SandboxResponse:
        emulator = self.emulators[source]
        counters = self.counters[source]
        counters["requests"] += 1
        plan = self.fault_plan(source)
        for needle, status in plan.always.items():
            if needle in request.path or needle == request.method:
                counters["persistent_faults"] += 1
                return self._persistent_fault(emulator, request, status)
        account = emulator.account_of(request)
        admission = self._admission(source, account, request) if account is not None else None
        if admission is not None and not admission.admitted:
            counters["throttled"] += 1
            return self._announce(source, admission, self._throttled(source, emulator, request))
        response = self._answer(source, emulator, request, plan, counters)
        return self._announce(source, admission, response) if admission is not None else response

    def _throttled(
        self, source: str, emulator: Emulator, request: SandboxRequest
    ) -> SandboxResponse:
        if self.rate_limit(source).answer == "nginx":
            return SandboxResponse.html(NGINX_429, status=429)
        return emulator.throttled(request)

    def _announce(
        self, source: str, admission: Admission, response: SandboxResponse
    ) -> SandboxResponse:
        """X-RateLimit-* (and Retry-After on a throttle) when the limit is set to announce."""
        if not self.rate_limit(source).announce:
            return response
        headers = {k: v for k, v in response.headers.items() if k.lower() not in _ANNOUNCED}
        headers["X-RateLimit-Limit"] = str(admission.limit)
        headers["X-RateLimit-Remaining"] = str(admission.remaining)
        if not admission.admitted:
            # Laravel's ThrottleRequests (ApiPay's stack): Retry-After and X-RateLimit-Reset
            # (an epoch time) only on the 429.
            headers["Retry-After"] = str(max(1, math.ceil(admission.reset_at - time.time())))
            headers["X-RateLimit-Reset"] = str(math.ceil(admission.reset_at))
        return SandboxResponse(response.status, response.body, headers)

    def _answer(
        self,
        source: str,
        emulator: Emulator,
        request: SandboxRequest,
        plan: FaultPlan,
        counters: Counter,
    ) -> SandboxResponse:
        fault = self._pick_fault(source, plan)
        if fault in ("throttle", "server_error", "html", "drop", "empty"):
            counters["injected_faults"] += 1
            counters[f"fault_{fault}"] += 1
        if fault == "throttle":
            counters["throttled"] += 1
            return emulator.throttled(request)
        if fault == "server_error":
            return emulator.server_error(request)
        if fault == "html":
            return SandboxResponse.html(
                "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad "
                "Gateway</h1></center><hr><center>nginx</center></body></html>",
                status=502,
            )
        if fault == "drop":
            raise _DropConnection()
        if fault == "empty":
            return SandboxResponse(200, b"", {"content-type": "application/json"})
        delay = self.settings.latency + emulator.cost_seconds(request) * self.settings.cost_scale
        if fault == "slow":
            counters["injected_faults"] += 1
            counters["fault_slow"] += 1
            delay += plan.slow_seconds
        if delay > 0:
            time.sleep(delay)
        response = emulator.handle(request)
        if response.status == 200 and plan.wrong_total:
            response = _misstate_totals(source, response, plan.wrong_total)
        if response.status == 200 and plan.repeat_previous_page:
            replayed = self._replay_previous_page(source, request, response)
            if replayed is not None:
                counters["injected_faults"] += 1
                counters["fault_repeat_previous_page"] += 1
                return replayed
        if fault == "truncate" and response.status == 200 and len(response.body) > 2:
            counters["injected_faults"] += 1
            counters["fault_truncate"] += 1
            return SandboxResponse(200, response.body[: len(response.body) // 2], response.headers)
        counters[f"status_{response.status}"] += 1
        return response

    def _replay_previous_page(
        self, source: str, request: SandboxRequest, response: SandboxResponse
    ) -> SandboxResponse | None:
        """The answer served before for this path, if this request asks for something else."""
        signature = (request.method, tuple(request.query), request.body)
        key = (source, request.path)
        with self._lock:
            previous = self._served_pages.get(key)
            if previous is None or previous[0] == signature:
                self._served_pages[key] = (signature, response)
                return None
            return previous[1]

    def _persistent_fault(
        self, emulator: Emulator, request: SandboxRequest, status: int
    ) -> SandboxResponse:
        # 429 means "the source's own throttle answer", whatever status the source uses for it.
        if status == 429:
            return emulator.throttled(request)
        if status >= 500:
            return emulator.server_error(request)
        fault_answer = getattr(emulator, "error_answer", None)
        if fault_answer is not None:
            return fault_answer(request, status)
        return SandboxResponse.json({"error": f"HTTP {status}"}, status=status)

    def _pick_fault(self, source: str, plan: FaultPlan) -> str | None:
        if plan.rate <= 0:
            return None
        with self._lock:
            rng = self._fault_rng[source]
            if rng.random() >= plan.rate:
                return None
            return rng.choice(plan.kinds)

    def _admission(self, source: str, account: str, request: SandboxRequest | None) -> Admission:
        """Server-side limit: admit the request or say it is over the limit."""
        limit = self.rate_limit(source)
        bucket = account
        if limit.per_method and request is not None:
            bucket = f"{account}\0{_ID_SEGMENT.sub('<id>', request.path)}"
        key = (source, bucket)
        if limit.style == "sliding":
            return self._admit_sliding(key, limit)
        return self._admit_leaky(key, limit)

    def _admit_leaky(self, key: tuple[str, str], limit: ServerRateLimit) -> Admission:
        with self._lock:
            now = time.monotonic()
            level, stamp = self._buckets.get(key, (0.0, now))
            level = max(0.0, level - (now - stamp) * limit.rate)
            admitted = level + 1 <= limit.burst
            if admitted:
                level += 1
            self._buckets[key] = (level, now)
        # Room for one more request when the level has drained to burst - 1.
        wait = max(0.0, (level + 1 - limit.burst) / limit.rate)
        remaining = max(0, math.floor(limit.burst - level))
        return Admission(admitted, limit.burst, remaining, time.time() + wait)

    def _admit_sliding(self, key: tuple[str, str], limit: ServerRateLimit) -> Admission:
        count = limit.window_count
        with self._lock:
            now = time.monotonic()
            log = self._windows.setdefault(key, deque())
            while log and log[0] <= now - limit.window:
                log.popleft()
            admitted = len(log) < count
            if admitted:
                log.append(now)
            remaining = count - len(log)
            # The next request is admitted once the oldest one counted leaves the window.
            wait = 0.0 if remaining > 0 else log[0] + limit.window - now
        return Admission(admitted, count, remaining, time.time() + wait)

    # -- ways in ------------------------------------------------------------------------------
    def transport(self, source: str) -> httpx.BaseTransport:
        return _InProcessTransport(self, source)

    def serve(self, host: str = "127.0.0.1", ports: dict[str, int] | None = None) -> SandboxServers:
        return SandboxServers.start(self, host, ports or {})


# Where each API announces the size of a list, as key paths into a 200 JSON answer ("*": every
# value of an object, e.g. each command of a Bitrix24 batch). Used by FaultPlan.wrong_total.
_TOTAL_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "bitrix24": (("total",), ("result", "result_total", "*")),
    "salesman": (("count",), ("params", "count")),
    "adesk": (("recordsFiltered",),),
    "apipay": (("meta", "total"), ("total",)),
}


def _misstate_totals(source: str, response: SandboxResponse, delta: int) -> SandboxResponse:
    try:
        payload = json.loads(response.body)
    except ValueError:
        return response

    def shift(node: Any, path: tuple[str, ...]) -> bool:
        if not isinstance(node, dict) or not path:
            return False
        head, rest = path[0], path[1:]
        keys = list(node) if head == "*" else [head] if head in node else []
        changed = False
        for key in keys:
            value = node[key]
            if rest:
                changed = shift(value, rest) or changed
            elif isinstance(value, int) and not isinstance(value, bool):
                node[key] = max(0, value + delta)
                changed = True
        return changed

    changed = False
    for path in _TOTAL_FIELDS.get(source, ()):
        changed = shift(payload, path) or changed
    if not changed:
        return response
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return SandboxResponse(response.status, body, response.headers)


def request_from_httpx(request: httpx.Request) -> SandboxRequest:
    url = request.url
    return SandboxRequest(
        method=request.method,
        path=url.path,
        query=parse_qsl(url.query.decode("ascii"), keep_blank_values=True),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=request.read(),
    )


class _InProcessTransport(httpx.BaseTransport):
    def __init__(self, sandbox: Sandbox, source: str) -> None:
        self.sandbox = sandbox
        self.source = source

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            answer = self.sandbox.handle(self.source, request_from_httpx(request))
        except _DropConnection:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None
        return httpx.Response(
            answer.status, headers=answer.headers, content=answer.body, request=request
        )


class _Handler(BaseHTTPRequestHandler):
    sandbox: Sandbox
    source: str
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm on, the body waits for the
    # client's delayed ACK (~40 ms per request on loopback). TCP_NODELAY sends it at once.
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = SandboxRequest(
            method=self.command,
            path=parts.path,
            query=parse_qsl(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            answer = self.sandbox.handle(self.source, request)
        except _DropConnection:
            self.close_connection = True
            self.connection.close()
            return
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines carry credentials (webhook key in the path, api_token in the query);
        # the sandbox server stays quiet rather than print them.
        return


@dataclass
class SandboxServers:
    """Real HTTP servers on loopback, one per API; `base_urls` is what a live config points at."""

    servers: dict[str, ThreadingHTTPServer]
    base_urls: dict[str, str]

    @classmethod
    def start(cls, sandbox: Sandbox, host: str, ports: dict[str, int]) -> SandboxServers:
        servers: dict[str, ThreadingHTTPServer] = {}
        urls: dict[str, str] = {}
        for source in SOURCES:
            handler = type(f"{source}Handler", (_Handler,), {"sandbox": sandbox, "source": source})
            server = ThreadingHTTPServer((host, ports.get(source, 0)), handler)
            server.daemon_threads = True
            # A short poll interval: shutdown() waits up to one interval per server.
            threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                daemon=True,
                name=f"sandbox-{source}",
            ).start()
            servers[source] = server
            urls[source] = sandbox.base_url(source, f"http://{host}:{server.server_address[1]}")
        return cls(servers, urls)

    def close(self) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()

    def __enter__(self) -> SandboxServers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
