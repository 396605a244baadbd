"""Rate limiting every request of one source: a documented cap plus what the server teaches.

Two layers, both shared by every thread *and every process* that talks to one account (Dagster's
multiprocess executor runs each asset in its own process), through small files guarded by
`flock` in one directory:

* `LeakyBucket` - the cap. Bitrix24 documents its limit as a leaky bucket (each request adds 1,
  the level drains by `rate` per second, over `burst` is refused with QUERY_LIMIT_EXCEEDED); the
  client mirrors it so it can use the whole burst and then settle at exactly `rate` without ever
  being refused. For the other sources the same bucket holds the configured ceiling.
* `AdaptiveLimiter` - per account, or per method where the API limits each method on its own
  (Adesk: "the method gets blocked"). It honours what the server says (`Retry-After` in seconds
  or as an HTTP date, `X-RateLimit-Remaining/Reset`, Bitrix24's per-method `operating` time) by
  pausing the scope it concerns, and learns what the server does not say: it probes upward
  while no throttle comes (x1.5 per 2 s at full demand, like TCP's slow start), and once one
  came it bisects between the highest rate that passed and the lowest that was throttled,
  settling within 8% below the server's limit and staying there (the next run too); a throttle
  at a rate that passed before steps down to 0.9 of it and bisects again. Requests are spaced
  evenly at the learned rate (a burst of one): any T seconds then hold at most rate * T + 1 requests, which
  fits a server counting a sliding or a fixed window of any length as well as a leaky bucket,
  whatever burst it allows. A bigger burst could overrun a window we do not know.

What was learned (rate, the rates where the server pushed back) is persisted beside the buckets,
one small JSON file per account and scope, so the next run starts at the learned rate. It lives
here and not in the warehouse: the HTTP layer is used by code that has no warehouse (the sandbox
tests, benchmarks, a dry run), the files are already shared by every process of a run, and a
run that fails before it lands anything still keeps what it learned.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import re
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field


class RateLimit(BaseModel):
    """Requests per second a source may sustain, and how many it may send at once."""

    rate: float = Field(gt=0, description="Sustained requests per second (the bucket's drain).")
    burst: int = Field(ge=1, description="Requests that may go out back to back (bucket size).")
    start: float | None = Field(
        default=None,
        gt=0,
        description="Rate of the first run, before anything is learned (default: the source's).",
    )


_STATE = struct.Struct("<dd")  # (level, timestamp of level)
_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def _thread_lock(path: Path) -> threading.Lock:
    # flock is per open file description; a thread lock keeps threads of one process from
    # interleaving their read-modify-write on the shared file.
    with _thread_locks_guard:
        return _thread_locks.setdefault(str(path), threading.Lock())


@contextmanager
def _locked(path: Path) -> Iterator[Any]:
    # Read-write without O_APPEND, so that a state is rewritten in place (`_overwrite`).
    with _thread_lock(path), os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o666), "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _overwrite(handle: Any, data: bytes, old_size: int) -> None:
    """Replace a locked file's content by `data`, padded with spaces to its old size.

    Never truncated: ext4 (auto_da_alloc) writes a file truncated to zero and rewritten back to
    disk before the write returns, which cost 2 ms per request on an idle machine and most of
    a second under other processes' I/O, under the lock every worker waits on. The readers
    ignore the padding (JSON allows trailing whitespace; the bucket reads a fixed struct)."""
    handle.seek(0)
    handle.write(data.ljust(old_size))
    handle.flush()


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


@dataclass
class LeakyBucket:
    """Blocks in `acquire()` until one more request fits under the limit."""

    name: str
    limit: RateLimit
    path: Path

    @classmethod
    def for_account(
        cls, source: str, account: str, limit: RateLimit, directory: Path
    ) -> LeakyBucket:
        """One bucket per (source, account): the account is hashed, never written in clear."""
        directory.mkdir(parents=True, exist_ok=True)
        base = directory
        return cls(name=source, limit=limit, path=base / f"{source}-{_digest(source, account)}.bucket")

    def acquire(self) -> float:
        """Reserve one request; return the seconds waited."""
        waited = 0.0
        while True:
            delay = self._try_reserve()
            if delay <= 0:
                return waited
            time.sleep(delay)
            waited += delay

    def _try_reserve(self) -> float:
        with _locked(self.path) as handle:
            handle.seek(0)
            raw = handle.read(_STATE.size)
            now = time.time()
            level, stamp = _STATE.unpack(raw) if len(raw) == _STATE.size else (0.0, now)
            level = max(0.0, level - (now - stamp) * self.limit.rate)
            if level + 1 > self.limit.burst:
                return (level + 1 - self.limit.burst) / self.limit.rate
            _overwrite(handle, _STATE.pack(level + 1, now), len(raw))
            return 0.0

    def penalize(self, seconds: float) -> None:
        """After a throttle answer, fill the bucket so nobody sends for `seconds`."""
        with _locked(self.path) as handle:
            level = self.limit.burst + seconds * self.limit.rate
            size = len(handle.read())
            _overwrite(handle, _STATE.pack(level, time.time()), size)


# --- what a server says about its limit ----------------------------------------------------------


@dataclass
class MethodLoad:
    """Bitrix24's `time` block of one method's answer (REST docs, "operating" limit).

    `operating`: server time charged to the method; the docs say the times of a method's requests
    are summed and over 480 s within 10 minutes the method is blocked for the portal, and
    `operating_reset_at` is when part of that budget is freed. Whether `operating` is this
    request's share or the running 10-minute sum is not said; `duration` (this request's wall
    time) tells them apart: one request cannot cost more server time than it took.
    """

    method: str
    operating: float
    duration: float | None
    reset_at: float | None


@dataclass
class LimitSignals:
    """What one answer said about the limit. All optional: most APIs say nothing."""

    retry_after: float | None = None  # seconds to wait, from Retry-After (both forms)
    limit: int | None = None  # X-RateLimit-Limit
    remaining: int | None = None  # X-RateLimit-Remaining
    reset_at: float | None = None  # X-RateLimit-Reset as an epoch time
    methods: list[MethodLoad] = field(default_factory=list)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds (RFC 9110: delta-seconds or an HTTP date); None if absent/garbage."""
    import email.utils

    if not value or not value.strip():
        return None
    value = value.strip()
    now = time.time() if now is None else now
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - now) if parsed else None


# Above this an X-RateLimit-Reset is an epoch time (GitHub, Laravel), below it seconds from now
# (IETF draft, many gateways): no delta is a billion seconds and no epoch is that small.
_EPOCH_THRESHOLD = 1_000_000_000


def _int_header(headers: Any, name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(float(value)) if value is not None and value.strip() else None
    except ValueError:
        return None


def signals_from_headers(headers: Any, now: float | None = None) -> LimitSignals:
    """Retry-After and X-RateLimit-Limit/Remaining/Reset of an answer (names case-insensitive)."""
    now = time.time() if now is None else now
    reset = headers.get("x-ratelimit-reset")
    reset_at: float | None = None
    if reset is not None:
        try:
            number = float(reset)
            reset_at = number if number >= _EPOCH_THRESHOLD else now + max(0.0, number)
        except ValueError:
            delta = parse_retry_after(reset, now)
            reset_at = now + delta if delta is not None else None
    return LimitSignals(
        retry_after=parse_retry_after(headers.get("retry-after"), now),
        limit=_int_header(headers, "x-ratelimit-limit"),
        remaining=_int_header(headers, "x-ratelimit-remaining"),
        reset_at=reset_at,
    )


_ID_SEGMENT = re.compile(r"(?<=/)\d+(?=/|$)")


def method_scope(path: str) -> str:
    """The method a request calls: its path with numeric ids folded (v1/contractor/<id>/...)."""
    return _ID_SEGMENT.sub("<id>", "/" + path.strip("/")).lstrip("/")


# --- the adaptive limiter ------------------------------------------------------------------------


class LimiterPolicy(BaseModel):
    """How a source's limiter learns. Defaults suit an API that publishes no number."""

    adaptive: bool = Field(
        default=True, description="Learn the server's limit below the cap (False: the cap is it)."
    )
    per_method: bool = Field(default=False, description="The API limits each method on its own.")
    start_rate: float | None = Field(
        default=None, gt=0, description="Rate of the first run, before anything is learned."
    )
    min_rate: float = Field(default=0.05, gt=0, description="Never slower than this.")
    floor_share: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description=(
            "Throttles never push the rate below this share of the start rate: throttles that "
            "do not follow our rate (another client on the account) must not stall a run; the "
            "server's own pauses (Retry-After) still apply in full."
        ),
    )
    decrease: float = Field(
        default=0.8, gt=0, lt=1, description="Rate kept after a throttle, nothing proven below."
    )
    edge_decrease: float = Field(
        default=0.9, gt=0, lt=1, description="Rate kept after a throttle at a proven rate."
    )
    slow_start: float = Field(
        default=1.5,
        gt=1,
        description="Rate step of a probe before the server ever pushed back (a first run).",
    )
    resolution: float = Field(
        default=0.08,
        gt=0,
        description=(
            "After a push-back, probes bisect between the highest rate proven unthrottled and "
            "the lowest throttled one, until they are this close (a share of the rate)."
        ),
    )
    probe_seconds: float = Field(
        default=2.0, gt=0, description="Unthrottled seconds at full rate before each probe step."
    )
    forget_after: float = Field(
        default=86_400.0, gt=0, description="Seconds after which a learned ceiling is re-probed."
    )
    spacing_margin: float = Field(
        default=0.002, ge=0, description="Seconds added to each interval for network jitter."
    )
    announced_margin: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description=(
            "Share kept below the rate an announced window allows (X-RateLimit-Limit/Remaining), "
            "on top of the arrival jitter the answers' own times bound (see "
            "`_take_announced_limit`), for a jitter larger than any answer showed. 0 by "
            "default: with the answer times allowed for, no answer was throttled in 6 runs on "
            "2 cores beside 3 busy processes (benchmarks/rate_limits.py), where the fixed 8% "
            "used before was needed; a refusal still lowers the rate."
        ),
    )
    operating_budget: float | None = Field(
        default=None,
        gt=0,
        description="Server seconds a method may use in 10 minutes (Bitrix24: 480), if any.",
    )
    operating_share: float = Field(
        default=0.8, gt=0, le=1, description="Pause a method once it used this share of it."
    )


_OPERATING_WINDOW = 600.0  # Bitrix24: the operating budget is counted over 10 minutes
_OPERATING = "operating:"  # scope prefix of a method's server-time pause (never rate-shaped)
_LOG_SIZE = 64  # send times kept per scope (enough for the window and the observed rate)
_DURATIONS = 16  # answer times kept per scope, whose longest bounds the arrival jitter


@dataclass
class _ScopeState:
    """What one scope (account or method) persists between requests and between runs."""

    rate: float
    ceiling: float | None = None  # lowest rate the server throttled, and when
    ceiling_at: float = 0.0
    proven: float | None = None  # highest rate sustained a probe period without a throttle
    plateau: float | None = None  # rate at which the server said "0 remaining", and when
    plateau_at: float = 0.0
    paused_until: float = 0.0
    credit: float = 0.0  # unthrottled, rate-bound requests since the last probe step ...
    credit_since: float = 0.0  # ... counted from this time
    decreased_at: float = 0.0
    sent: list[float] = field(default_factory=list)
    # X-RateLimit-Limit minus -Remaining of the previous answer (requests the server counted in
    # its window); the limit announced, the longest its window can be (seconds, the least of
    # what our send times proved), and the rate they allow as last worked out.
    announced_used: int | None = None
    announced_limit: int | None = None
    announced_window: float | None = None
    announced_rate: float | None = None
    # The least window bound that holds if the window slides, and whether it was seen to.
    sliding_window: float | None = None
    window_slides: bool = False
    # Seconds from admitting a request to taking in its answer, of the last few requests: a
    # request reached the server somewhere in between.
    durations: list[float] = field(default_factory=list)
    operating: list[list[float]] = field(default_factory=list)  # [time, seconds] (per request)

    @classmethod
    def load(cls, raw: bytes, default_rate: float) -> _ScopeState:
        try:
            data = json.loads(raw.decode()) if raw else {}
            known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            state = cls(**{"rate": default_rate, **known})
            if not (isinstance(state.rate, int | float) and state.rate > 0):
                state.rate = default_rate
            return state
        except (ValueError, TypeError, UnicodeDecodeError):
            return cls(rate=default_rate)  # a torn or foreign file: start over, never fail

    def dump(self) -> bytes:
        return json.dumps(self.__dict__, separators=(",", ":")).encode()

    def snapshot(self) -> dict[str, Any]:
        """The fields as they are now, to tell whether anything changed without encoding them
        (lists are replaced or appended to, never edited inside, so a shallow copy holds)."""
        return {k: list(v) if isinstance(v, list) else v for k, v in self.__dict__.items()}


@dataclass
class Reservation:
    """One admitted request: the scopes it counted against and whether the limiter held it."""

    scopes: list[str]
    waited: float
    rate_bound: bool
    at: float = 0.0  # when the request was admitted (its place in the scopes' send log)


class AdaptiveLimiter:
    """Cap bucket + per-scope learned, evenly spaced rate + server-announced pauses.

    `acquire(scopes)` blocks until a request to these scopes may go; `observe(reservation, ...)`
    feeds back what the answer said. Scopes are method names (or "" for the whole account).
    """

    def __init__(
        self,
        source: str,
        account: str,
        cap: RateLimit,
        policy: LimiterPolicy | None,
        directory: Path,
        max_pause: float = 30.0,
    ) -> None:
        self.source = source
        self.cap = cap
        self.policy = policy or LimiterPolicy()
        # The longest a server's word (Retry-After, a reset time) holds requests back; the retry
        # policy's longest delay, so a misbehaving header cannot stall a run for hours.
        self.max_pause = max_pause
        # Shared by every process of the account (config.py's FINANCE_RATE_LIMIT_DIR).
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._account_digest = _digest(source, account)
        self.bucket = LeakyBucket.for_account(source, account, cap, self.directory)

    # -- scopes -----------------------------------------------------------------------------
    def scope_of(self, path: str) -> str:
        return method_scope(path) if self.policy.per_method else ""

    def _path(self, scope: str) -> Path:
        suffix = f"-{_digest(scope)}" if scope else ""
        return self.directory / f"{self.source}-{self._account_digest}{suffix}.learned.json"

    def _start_rate(self) -> float:
        if not self.policy.adaptive:
            return self.cap.rate
        return min(self.cap.rate, self.cap.start or self.policy.start_rate or self.cap.rate)

    @contextmanager
    def _state(self, scope: str) -> Iterator[_ScopeState]:
        with _locked(self._path(scope)) as handle:
            raw = handle.read()
            state = _ScopeState.load(raw, self._start_rate())
            learned = state.rate
            # A lowered setting applies at once, but what was learned stays on file for a run
            # with a higher cap.
            effective = self.cap.rate if not self.policy.adaptive else min(learned, self.cap.rate)
            state.rate = effective
            before = state.snapshot()
            yield state
            if state.rate == effective:
                state.rate = learned
            else:
                state.rate = min(max(state.rate, self.policy.min_rate), self.cap.rate)
            if state.snapshot() != before:
                _overwrite(handle, state.dump(), len(raw))

    def learned_rate(self, scope: str = "") -> float:
        """The rate requests to `scope` go at now (the learned one, within the cap)."""
        with self._state(scope) as state:
            return state.rate

    # -- admitting ----------------------------------------------------------------------------
    def acquire(self, scopes: list[str] | None = None) -> Reservation:
        """Wait until one more request to `scopes` fits; reserve it. Returns the wait."""
        scopes = scopes or [""]
        waited = self.bucket.acquire()
        rate_bound = waited > 0
        while True:
            delay, held_by_rate = self._try_reserve(scopes)
            if delay <= 0:
                return Reservation(scopes, waited, rate_bound, at=-delay)
            rate_bound = rate_bound or held_by_rate
            time.sleep(delay)
            waited += delay

    def _try_reserve(self, scopes: list[str]) -> tuple[float, bool]:
        """(-time reserved at, False) when reserved in every scope, else (seconds to wait,
        whether the rate caused it).

        All the scopes' files stay locked from the check to the reservation (taken in one
        order, so two requests never wait on each other's locks): two threads or processes
        must not both see a free slot and both take it. A request held back by one scope
        reserves nothing in the others."""
        with ExitStack() as stack:
            states = [(scope, stack.enter_context(self._state(scope))) for scope in sorted(set(scopes))]
            now = time.time()
            for scope, state in states:
                if state.paused_until > now:
                    return state.paused_until - now, False
                if self.policy.adaptive and not scope.startswith(_OPERATING):
                    wait = self._window_wait(state, now)
                    if wait > 0:
                        return wait, True
            for _, state in states:
                state.sent = [*state.sent[-(_LOG_SIZE - 1):], now]
        return -now, False

    def _interval(self, rate: float) -> float:
        """Seconds between two requests at `rate` (evenly spaced: no burst beyond one)."""
        return 1.0 / rate + self.policy.spacing_margin

    def _window_wait(self, state: _ScopeState, now: float) -> float:
        if not state.sent:
            return 0.0
        return state.sent[-1] + self._interval(state.rate) - now

    # -- learning -----------------------------------------------------------------------------
    def observe(
        self,
        reservation: Reservation,
        signals: LimitSignals,
        *,
        throttled: bool,
        answered_at: float | None = None,
    ) -> float | None:
        """Take in one answer (received at `answered_at`, epoch seconds; default now, i.e.
        counting the time it took to parse). Returns the pause the server asked for, if any."""
        now = time.time()
        answered = min(answered_at or now, now)
        pause: float | None = None
        for scope in reservation.scopes:
            with self._state(scope) as state:
                self._forget_old(state, now)
                # Answer times bound an announced window's jitter; nothing else reads them.
                timed = signals.limit is not None and reservation.at > 0
                if timed and not scope.startswith(_OPERATING):
                    answer_time = max(0.0, answered - reservation.at)
                    state.durations = [*state.durations[-(_DURATIONS - 1):], answer_time]
                if throttled:
                    # A refused request's count says nothing, and a window that took more than
                    # its bound allowed is not that short: learned again from the next answers.
                    state.announced_used = state.announced_window = state.sliding_window = None
                    scope_pause = self._on_throttle(state, signals, now)
                else:
                    filling = not scope.startswith(_OPERATING) and self._take_announced_limit(
                        state, signals, reservation.at, answered, now
                    )
                    scope_pause = self._on_answer(
                        state, signals, reservation.rate_bound and not filling, now
                    )
                if scope_pause is not None:
                    pause = max(pause or 0.0, scope_pause)
        for load in signals.methods:
            method_pause = self._on_operating(load, now)
            if method_pause is not None:
                pause = max(pause or 0.0, method_pause)
        return pause

    def _forget_old(self, state: _ScopeState, now: float) -> None:
        # A limit learned long ago may have been raised since: allow probing past it again.
        if state.ceiling is not None and now - state.ceiling_at > self.policy.forget_after:
            state.ceiling = None
        if state.plateau is not None and now - state.plateau_at > self.policy.forget_after:
            state.plateau = None

    def _on_throttle(self, state: _ScopeState, signals: LimitSignals, now: float) -> float:
        if self.policy.adaptive and now - state.decreased_at > max(1.0, self._interval(state.rate)):
            # One decrease per second: requests already in flight at the old rate are throttled
            # by the same overshoot and must not cut the rate again.
            offending = state.rate
            state.ceiling = min(state.ceiling or offending, offending)
            state.ceiling_at = now
            floor = max(self.policy.min_rate, self._start_rate() * self.policy.floor_share)
            if state.proven is not None and state.proven < offending:
                state.rate = state.proven  # back to the highest rate known to pass
            elif state.proven is not None:
                # Throttled at a rate that had passed: at the edge of the limit (network jitter
                # moves requests into one window) or the limit moved. Step down a little and
                # bisect again.
                state.proven = None
                state.rate = max(min(floor, state.rate), offending * self.policy.edge_decrease)
            else:
                state.rate = max(min(floor, state.rate), offending * self.policy.decrease)
            state.credit = 0.0
            state.decreased_at = now
        pause = signals.retry_after
        if pause is None and signals.reset_at is not None:
            pause = max(0.0, signals.reset_at - now)
        if pause is None:
            # Nothing said (nginx's HTML 429, Adesk's body): one request interval at the lowered
            # rate; the window shaping does the rest.
            pause = 1.0 / state.rate
        pause = min(pause, self.max_pause)
        state.paused_until = max(state.paused_until, now + pause)
        return pause

    def _take_announced_limit(
        self,
        state: _ScopeState,
        signals: LimitSignals,
        sent_at: float,
        answered: float,
        now: float,
    ) -> bool:
        """Work out the rate an announced window allows (X-RateLimit-Limit L, -Remaining R)
        from our own send times, and go at it at once rather than probing up to it.

        The window's length is bounded from the counts (`_bound_announced_window`). Sent evenly
        at interval T, L + 1 requests arrive at least L * T - D apart, D the longest answer time
        of the last few (a request reaches the server between being admitted and its answer):
        at L / (window + D) no window ever holds more than L, however the arrivals fall. The
        allowance is an absolute time: a few percent of a 1-second window, nothing of a
        minute's. `announced_margin` keeps a little more below it, for a jitter no answer showed.
        The rate follows D both ways: a slower network lowers it before the server refuses.

        Returns whether the window is still filling (its count grew, or this is the first):
        no probe upward then. A sliding window fills once and its count levels off; a fixed one
        (Laravel's) grows until it starts again, and a probe into it only finds its end by
        being refused (Retry-After: the rest of its minute)."""
        if not self.policy.adaptive or signals.limit is None or signals.remaining is None:
            return False
        used = max(1, signals.limit - signals.remaining)
        previous, state.announced_used = state.announced_used, used
        filling = previous is None or used > previous
        if state.announced_limit != signals.limit:  # a new limit: what bounded the old window goes
            state.announced_limit = signals.limit
            state.announced_window = state.sliding_window = None
        if previous is not None:
            self._bound_announced_window(state, used, previous, sent_at, answered)
        if state.announced_window is None:
            return filling
        jitter = max(state.durations, default=0.0)
        allowed = signals.limit / (state.announced_window + jitter)
        allowed *= 1 - self.policy.announced_margin
        # After a throttle the server's count was off by more than that at least once.
        if state.ceiling is not None:
            allowed = min(allowed, state.ceiling * self.policy.edge_decrease)
        state.announced_rate = allowed
        if state.rate != min(self.cap.rate, allowed):
            state.rate = min(self.cap.rate, allowed)
            state.credit = 0.0
        # What the window allows is known: probing past it would only find the same limit by
        # being refused.
        state.plateau = state.rate
        state.plateau_at = now
        return filling

    @staticmethod
    def _bound_announced_window(
        state: _ScopeState, used: int, previous: int, sent_at: float, answered: float
    ) -> None:
        """Narrow the longest the announced window can be, from one answer's count U (and the
        previous answer's, P).

        The server counts U requests in a window of a length it does not say. If only we use
        the account, those are our last U sends and the one before them has left the window:
        the window is at most this request's arrival minus that one's, and a request arrives
        between being admitted and its answer, so at most (this answer) - (that send). Another
        client on the account only adds to U, which makes the bound longer. A count that grew
        is a window still filling, or a fixed window part-way through: no bound. A count that
        stayed, or fell by one, is a sliding window at its level, or a fixed window (Laravel's,
        which starts at the first request after the last one expired) that just started again.
        For that one the request whose window expired is the one P sends back, so P sends back
        bounds both readings; U sends back only the sliding one, which a count that stayed at 2
        or more proves (a fixed window's count only grows, or starts again at 1). The bounds
        are kept as the least of each kind, also for the next run: they only narrow when our
        sends are spaced wider than the window holds, as at a first run's start.
        """
        if not 0 <= previous - used <= 1:
            return
        if previous == used >= 2:
            state.window_slides = True
        earlier = [stamp for stamp in state.sent if stamp < sent_at]
        if len(earlier) >= used:
            sliding = answered - earlier[-used]
            state.sliding_window = min(state.sliding_window or sliding, sliding)
        if len(earlier) >= previous:
            either = answered - earlier[-previous]
            state.announced_window = min(state.announced_window or either, either)
        if state.window_slides and state.sliding_window is not None:
            state.announced_window = min(state.announced_window or math.inf, state.sliding_window)

    def _on_answer(
        self, state: _ScopeState, signals: LimitSignals, rate_bound: bool, now: float
    ) -> float | None:
        pause = None
        if signals.remaining is not None and signals.remaining <= 0:
            # The server says the next request would be refused: wait for its reset, and take
            # the rate we run at (or the one its announced window allows, above) as the most it
            # allows (no probing past it). Run evenly at exactly the limit every answer says 0
            # remaining, so 0 alone says nothing about being over it.
            if signals.reset_at is not None and signals.reset_at > now:
                pause = min(signals.reset_at - now, self.max_pause)
                state.paused_until = max(state.paused_until, now + pause)
            if self.policy.adaptive:
                if state.announced_rate is not None:
                    state.plateau = max(state.rate, state.announced_rate)
                else:
                    state.plateau = min(state.plateau or state.rate, state.rate)
                state.plateau_at = now
            return pause
        if not self.policy.adaptive or not rate_bound:
            return None  # not held by our limit: going faster would not have helped
        if state.credit == 0:
            state.credit_since = now
        state.credit += 1
        if state.credit >= max(2.0, state.rate * self.policy.probe_seconds):
            # What the server saw is what passed: the rate actually sent (a request slower than
            # the interval sends below the nominal rate), not the nominal one.
            elapsed = now - state.credit_since
            sent_rate = (state.credit - 1) / elapsed if elapsed > 0 else state.rate
            state.credit = 0.0
            if sent_rate < state.rate * 0.9:
                return None  # not really running at the rate: no evidence for more
            state.proven = max(state.proven or 0.0, min(state.rate, sent_rate))
            if state.ceiling is None:
                # Like TCP's slow start: big steps until the first push-back.
                target = state.rate * self.policy.slow_start
            elif state.ceiling > state.rate * (1 + self.policy.resolution):
                # Bisect between what passed and what was throttled.
                target = (state.rate + state.ceiling) / 2
            else:
                target = state.rate  # as close to the limit as we dare
            if state.plateau is not None:
                target = min(target, state.plateau)
            state.rate = max(state.rate, min(self.cap.rate, target))  # a probe never slows down
        return None

    def _on_operating(self, load: MethodLoad, now: float) -> float | None:
        """Bitrix24: pause a method (not the portal) before it uses up its server-time budget."""
        if self.policy.operating_budget is None:
            return None
        with self._state(_OPERATING + load.method) as state:
            state.operating = [e for e in state.operating if e[0] > now - _OPERATING_WINDOW]
            state.operating.append([now, load.operating])
            per_request = load.duration is None or load.operating <= load.duration + 0.05
            used = sum(e[1] for e in state.operating) if per_request else load.operating
            if used < self.policy.operating_budget * self.policy.operating_share:
                return None
            # operating_reset_at frees part of the budget; without it, wait for the oldest
            # request we know of to leave the 10-minute window.
            reset_at = load.reset_at or (state.operating[0][0] + _OPERATING_WINDOW)
            if reset_at <= now:
                return None
            pause = min(reset_at - now, self.max_pause)
            state.paused_until = max(state.paused_until, now + pause)
            return pause

    def scopes_for(self, path: str, methods: list[str] | None = None) -> list[str]:
        """The scopes a request counts against: its rate scope and, for each API method it calls
        (a Bitrix24 batch calls several), that method's server-time pause."""
        rate_scope = self.scope_of(path)
        if self.policy.operating_budget is None:
            return [rate_scope]
        called = methods if methods is not None else [method_scope(path)]
        return [rate_scope, *(_OPERATING + m for m in called if m)]
