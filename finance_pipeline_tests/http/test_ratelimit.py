"""The client-side limiter: the leaky bucket holds its rate across threads and processes; the
adaptive layer honours what servers say, learns what they do not, and remembers it."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from finance_pipeline.config import rate_limit_directory
from finance_pipeline.http.ratelimit import (
    AdaptiveLimiter,
    LeakyBucket,
    LimiterPolicy,
    LimitSignals,
    MethodLoad,
    RateLimit,
    Reservation,
    parse_retry_after,
    signals_from_headers,
)


def _max_in_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    best, lo = 0, 0
    for hi, t in enumerate(stamps):
        while t - stamps[lo] > window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_burst_then_sustained_rate_under_concurrent_threads() -> None:
    limit = RateLimit(rate=20.0, burst=5)
    bucket = LeakyBucket.for_account("test", "threads", limit, rate_limit_directory())
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            bucket.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    # 40 requests: the first 5 go at once, the other 35 drain at 20/s -> at least 1.75 s.
    assert elapsed >= (40 - 5) / 20 * 0.95
    # In any 0.5 s window at most burst + rate * window requests went out.
    assert _max_in_window(stamps, 0.5) <= 5 + 20 * 0.5 + 1


def _child(path: str, rate: float, burst: int, n: int, out) -> None:  # pragma: no cover - child
    import os

    os.environ["FINANCE_RATE_LIMIT_DIR"] = path
    bucket = LeakyBucket.for_account(
        "test", "processes", RateLimit(rate=rate, burst=burst), rate_limit_directory()
    )
    for _ in range(n):
        bucket.acquire()
        out.put(time.time())


def test_bucket_is_shared_between_processes(tmp_path) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_child, args=(str(tmp_path / "b"), 10.0, 3, 8, queue)) for _ in range(2)
    ]
    for p in procs:
        p.start()
    stamps = [queue.get(timeout=30) for _ in range(16)]
    for p in procs:
        p.join(timeout=30)
    span = max(stamps) - min(stamps)
    # Two processes with their own buckets would finish 16 requests in ~0.5 s; one shared
    # bucket needs (16 - 3) / 10 = 1.3 s.
    assert span >= 1.3 * 0.9


def test_penalize_blocks_everyone_for_the_given_time() -> None:
    bucket = LeakyBucket.for_account(
        "test", "penalty", RateLimit(rate=10.0, burst=2), rate_limit_directory()
    )
    bucket.penalize(0.5)
    started = time.monotonic()
    bucket.acquire()
    assert time.monotonic() - started >= 0.45


# --- the adaptive limiter -------------------------------------------------------------------------

def _limiter(tmp_path: Path, cap: float = 100.0, **policy: object) -> AdaptiveLimiter:
    return AdaptiveLimiter(
        "test", "account", RateLimit(rate=cap, burst=int(cap)), LimiterPolicy(**policy), tmp_path
    )


def test_retry_after_in_seconds_and_as_an_http_date() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("7", now) == 7.0
    later = datetime.fromtimestamp(now, UTC) + timedelta(seconds=30)
    assert parse_retry_after(format_datetime(later, usegmt=True), now) == pytest.approx(30.0)
    earlier = datetime.fromtimestamp(now, UTC) - timedelta(seconds=30)
    assert parse_retry_after(format_datetime(earlier, usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_x_ratelimit_headers_with_epoch_or_delta_reset() -> None:
    now = 1_700_000_000.0
    epoch = signals_from_headers(
        {"x-ratelimit-limit": "60", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000012"},
        now,
    )
    assert (epoch.limit, epoch.remaining, epoch.reset_at) == (60, 0, 1_700_000_012.0)
    delta = signals_from_headers({"x-ratelimit-remaining": "3", "x-ratelimit-reset": "5"}, now)
    assert (delta.remaining, delta.reset_at) == (3, now + 5)
    assert signals_from_headers({}, now) == LimitSignals()


def test_requests_are_spaced_to_fit_any_window(tmp_path: Path) -> None:
    limiter = _limiter(tmp_path, start_rate=10.0)
    stamps = []
    started = time.monotonic()
    for _ in range(25):
        # The limiter's own admission times: a stamp taken after `acquire` returns would also
        # carry the scheduler's delay on a loaded machine and bunch up behind a late one.
        stamps.append(limiter.acquire().at)
    # 10 per second evenly spaced: any 1 s holds at most 10 requests, so 25 take > 2.3 s
    # although the cap (100/s, burst 100) would have let them all go at once.
    assert _max_in_window(stamps, 0.99) <= 10
    assert time.monotonic() - started >= 2.3
    assert _max_in_window(stamps, 0.45) <= 5


def test_throttle_slows_down_and_probing_bisects_below_the_throttled_rate(tmp_path: Path) -> None:
    limiter = _limiter(tmp_path, start_rate=10.0, probe_seconds=1.0)
    reservation = limiter.acquire()
    limiter.observe(reservation, LimitSignals(), throttled=True)
    after_throttle = limiter.learned_rate()
    assert after_throttle == pytest.approx(8.0)  # decrease 0.8
    reservation.rate_bound = True

    def answer(times: int) -> None:
        for _ in range(times):
            limiter.observe(reservation, LimitSignals(), throttled=False)

    def throttle() -> None:
        with limiter._state("") as state:
            state.decreased_at = 0.0  # as if a second had passed since the last decrease
        limiter.observe(reservation, LimitSignals(), throttled=True)

    answer(8)  # a second's worth at 8/s passed: 8 is proven, bisect towards 10
    assert limiter.learned_rate() == pytest.approx(9.0)
    throttle()
    assert limiter.learned_rate() == pytest.approx(8.0)  # back to the highest rate that passed
    answer(200)
    # Bisecting between 8 (passed) and 9 (throttled) until within 8%: 8.5, then it stays.
    assert limiter.learned_rate() == pytest.approx(8.5)
    throttle()
    # Throttled at a rate that had passed: at the edge (or the limit moved), step down a little.
    assert limiter.learned_rate() == pytest.approx(8.5 * 0.9)


def test_probing_needs_requests_held_by_the_limit(tmp_path: Path) -> None:
    limiter = _limiter(tmp_path, start_rate=4.0)
    reservation = limiter.acquire()
    reservation.rate_bound = False  # the pipeline was slower than the limit: no evidence
    for _ in range(100):
        limiter.observe(reservation, LimitSignals(), throttled=False)
    assert limiter.learned_rate() == 4.0


def test_learned_rate_persists_and_the_setting_caps_it(tmp_path: Path) -> None:
    limiter = _limiter(tmp_path, start_rate=2.0, probe_seconds=0.05)
    reservation = limiter.acquire()
    reservation.rate_bound = True
    for _ in range(50):
        limiter.observe(reservation, LimitSignals(), throttled=False)
    learned = limiter.learned_rate()
    assert learned > 2.0
    assert _limiter(tmp_path, start_rate=2.0).learned_rate() == learned  # the next run
    assert _limiter(tmp_path, cap=2.5, start_rate=2.0).learned_rate() == 2.5  # capped
    assert limiter.learned_rate() == learned  # the lower cap of that run did not unlearn it
    for _ in range(300):
        limiter.observe(reservation, LimitSignals(), throttled=False)
    assert limiter.learned_rate() == 100.0  # never above the cap


def test_a_documented_limit_is_never_exceeded(tmp_path: Path) -> None:
    # Bitrix24's style: a fixed leaky bucket (scaled to 20/s, burst 5 for speed), never learned.
    limiter = AdaptiveLimiter(
        "b24", "portal", RateLimit(rate=20.0, burst=5), LimiterPolicy(adaptive=False), tmp_path
    )
    stamps = []
    for _ in range(30):
        reservation = limiter.acquire()
        stamps.append(time.monotonic())
        reservation.rate_bound = True
        limiter.observe(reservation, LimitSignals(remaining=10), throttled=False)
    assert limiter.learned_rate() == 20.0
    assert stamps[-1] - stamps[0] >= (30 - 5) / 20 * 0.95
    assert _max_in_window(stamps, 0.5) <= 5 + 20 * 0.5 + 1


def test_retry_after_pauses_the_scope(tmp_path: Path) -> None:
    limiter = _limiter(tmp_path, start_rate=50.0)
    pause = limiter.observe(limiter.acquire(), LimitSignals(retry_after=0.4), throttled=True)
    assert pause == pytest.approx(0.4)
    started = time.monotonic()
    limiter.acquire()
    assert time.monotonic() - started >= 0.35


def test_zero_remaining_waits_for_the_reset_and_stops_probing(tmp_path: Path) -> None:
    limiter = _limiter(tmp_path, start_rate=5.0)
    reservation = limiter.acquire()
    signals = LimitSignals(limit=5, remaining=0, reset_at=time.time() + 0.3)
    assert limiter.observe(reservation, signals, throttled=False) == pytest.approx(0.3, abs=0.05)
    started = time.monotonic()
    limiter.acquire()
    assert time.monotonic() - started >= 0.25
    reservation.rate_bound = True
    for _ in range(100):
        limiter.observe(reservation, LimitSignals(limit=5, remaining=2), throttled=False)
    assert limiter.learned_rate() == 5.0  # the server said this is its edge


def test_per_method_throttle_pauses_only_that_method(tmp_path: Path) -> None:
    limiter = _limiter(tmp_path, start_rate=50.0, per_method=True)
    requisites = limiter.scopes_for("v1/contractor/17/requisites")
    assert requisites == limiter.scopes_for("v1/contractor/99/requisites")
    limiter.observe(limiter.acquire(requisites), LimitSignals(retry_after=1.0), throttled=True)
    started = time.monotonic()
    limiter.acquire(limiter.scopes_for("v1/transactions"))
    assert time.monotonic() - started < 0.2
    assert limiter.learned_rate(requisites[0]) < 50.0
    assert limiter.learned_rate(limiter.scope_of("v1/transactions")) == 50.0


@pytest.mark.parametrize("accumulated", [False, True])
def test_bitrix24_operating_time_pauses_the_method_not_the_portal(
    tmp_path: Path, accumulated: bool
) -> None:
    # `operating` read either as each request's share or as the running 10-minute sum.
    limiter = AdaptiveLimiter(
        "b24",
        "portal",
        RateLimit(rate=100.0, burst=100),
        LimiterPolicy(adaptive=False, operating_budget=10.0, operating_share=0.8),
        tmp_path,
    )
    heavy = limiter.scopes_for("crm.item.list")
    reset_at = time.time() + 0.5
    pause = None
    for n in range(1, 10):
        operating = 1.0 * n if accumulated else 1.0
        load = MethodLoad("crm.item.list", operating, duration=1.1, reset_at=reset_at)
        pause = limiter.observe(limiter.acquire(heavy), LimitSignals(methods=[load]), throttled=False)
        if pause:
            break
    assert pause is not None and n == 8  # 8 of 10 s used: pause before the server blocks it
    started = time.monotonic()
    limiter.acquire(limiter.scopes_for("crm.company.list"))
    assert time.monotonic() - started < 0.2  # other methods keep going
    limiter.acquire(heavy)
    assert time.monotonic() - started >= 0.3


def test_throttles_unrelated_to_our_rate_do_not_stall_a_run(tmp_path: Path) -> None:
    limiter = _limiter(tmp_path, start_rate=20.0)
    reservation = Reservation(scopes=[""], waited=0.0, rate_bound=True)
    for _ in range(30):
        limiter.observe(reservation, LimitSignals(), throttled=True)
        with limiter._state("") as state:
            state.decreased_at = 0.0  # as if a second had passed since the last decrease
    assert limiter.learned_rate() == pytest.approx(20.0 * 0.1)


def _announcing_server(limit: int, window: float) -> Callable[[float], LimitSignals]:
    """A server counting a sliding window of `limit` requests per `window` seconds and saying
    X-RateLimit-Limit/Remaining on each answer (as the sandbox's `announce` does)."""
    arrivals: list[float] = []

    def answer(at: float) -> LimitSignals:
        arrivals.append(at)
        # Arrivals are not in send order once they jitter: one sent earlier may arrive later.
        used = sum(1 for stamp in arrivals if at - window < stamp <= at)
        assert used <= limit, f"{used} requests in one {window} s window"
        return LimitSignals(limit=limit, remaining=limit - used)

    return answer


def test_an_announced_window_sets_the_rate_from_our_send_times(tmp_path: Path) -> None:
    # 10 requests per 0.5 s (20/s), announced as Limit 10 with no window length; we start at
    # 2/s. Two answers whose count did not grow are enough to work the window out.
    limiter = _limiter(tmp_path, start_rate=2.0)
    server = _announcing_server(limit=10, window=0.5)
    for _ in range(3):
        reservation = limiter.acquire()
        limiter.observe(reservation, server(reservation.at), throttled=False)
    assert 20.0 * 0.9 <= limiter.learned_rate() < 20.0
    started = time.monotonic()
    for _ in range(40):  # at that rate the window never holds more than 10 (asserted inside)
        reservation = limiter.acquire()
        limiter.observe(reservation, server(reservation.at), throttled=False)
    assert time.monotonic() - started < 40 / 20.0 * 1.3


def test_an_announced_window_holds_whatever_the_arrival_jitter(tmp_path: Path) -> None:
    # Four threads; each request reaches the server somewhere within its 40 ms answer time.
    # Read from send times alone, with a fixed 8% below it, the window took 11 requests (early
    # and late arrivals mixed; asserted inside the server).
    import random
    import threading

    limiter = _limiter(tmp_path, start_rate=2.0)
    server = _announcing_server(limit=10, window=0.5)
    answer_time = 0.04
    offsets = random.Random(7)
    server_lock = threading.Lock()
    failures: list[BaseException] = []

    def client(requests: int) -> None:
        try:
            for _ in range(requests):
                reservation = limiter.acquire()
                with server_lock:
                    signals = server(reservation.at + offsets.choice([0.0, answer_time]))
                time.sleep(answer_time)
                limiter.observe(reservation, signals, throttled=False)
        except BaseException as exc:  # reported below, on the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=client, args=(20,)) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    # Still near the limit: 20/s less the jitter (2 x 40 ms on a 0.5 s window) and the margin.
    assert limiter.learned_rate() >= 20.0 * 0.8
    assert time.monotonic() - started < 1.0 + 80 / (20.0 * 0.8) * 1.2


def test_a_fixed_window_part_way_through_is_not_taken_for_a_short_one(tmp_path: Path) -> None:
    # Laravel counts fixed windows: 100 per minute, the count growing with every request and
    # starting over when the minute is up. Our sends since then span a second or two, which
    # must not be read as "100 per 0.2 s".
    limiter = _limiter(tmp_path, start_rate=10.0)
    for used in [*range(91, 101), *range(1, 16)]:
        reservation = limiter.acquire()
        limiter.observe(reservation, LimitSignals(limit=100, remaining=100 - used), throttled=False)
    assert limiter.learned_rate() == 10.0


def test_the_jitter_allowance_is_the_answer_time_not_the_parsing_after_it(
    tmp_path: Path,
) -> None:
    # A request reached the server before its answer came back; parsing a big page afterwards
    # (here 0.3 s) says nothing about when, and must not slow the announced rate down.
    limiter = _limiter(tmp_path, start_rate=4.0)
    for used in (1, 1):
        reservation = limiter.acquire()
        answered_at = reservation.at + 0.005
        time.sleep(0.3)
        limiter.observe(
            reservation,
            LimitSignals(limit=10, remaining=10 - used),
            throttled=False,
            answered_at=answered_at,
        )
    with limiter._state("") as state:
        assert max(state.durations) == pytest.approx(0.005, abs=0.001)
        # The window is at most the send gap (0.3 s: the parse outlasted the 0.25 s interval)
        # plus this answer's 5 ms.
        assert state.announced_window == pytest.approx(0.305, abs=0.02)
    assert limiter.learned_rate() == pytest.approx(10 / (0.305 + 0.005), rel=0.07)


def test_a_fixed_window_that_starts_again_is_not_taken_for_the_last_gap(tmp_path: Path) -> None:
    # Laravel's window starts at the first request after the last one expired: 10 per second,
    # sends at 0, 0.9 and 1.05 s count 1, 2, then 1 again (the window of 0 s expired). The gap
    # that proves the window's length is 0 -> 1.05 s, not 0.9 -> 1.05 s ("10 per 0.15 s").
    limiter = _limiter(tmp_path, start_rate=10.0)
    window_started: float | None = None
    count = 0
    started = time.time()
    for offset in (0.0, 0.9, 1.05):
        time.sleep(max(0.0, started + offset - time.time()))
        reservation = limiter.acquire()
        if window_started is None or reservation.at >= window_started + 1.0:
            window_started, count = reservation.at, 0
        count += 1
        limiter.observe(reservation, LimitSignals(limit=10, remaining=10 - count), throttled=False)
    assert 9.0 <= limiter.learned_rate() <= 10.0


def test_a_window_seen_to_slide_is_bounded_by_its_own_count(tmp_path: Path) -> None:
    # 5 per 0.5 s sliding, starting at 2/s. The first request arrives 10 ms late, so the second
    # still counts it (2: no bound) and the third counts 1: read as Laravel's window starting
    # again, that only bounds the window by 1 s. Once a count stays at 3 the window slides,
    # and the third request's own bound (0.5 s) holds: 10/s less the answers' times, where
    # the fixed reading alone stopped at 0.53 s (9.35/s), its counts then at the limit.
    limiter = _limiter(tmp_path, start_rate=2.0)
    server = _announcing_server(limit=5, window=0.5)
    for request in range(16):
        reservation = limiter.acquire()
        late = 0.01 if request == 0 else 0.0
        signals = server(reservation.at + late)
        time.sleep(late + 0.001)  # the answer comes after the arrival
        limiter.observe(
            reservation, signals, throttled=False, answered_at=reservation.at + late + 0.001
        )
    assert limiter.learned_rate() >= 9.6
    with limiter._state("") as state:
        assert state.window_slides
        assert state.announced_window == pytest.approx(0.503, abs=0.01)


def test_no_probe_into_a_fixed_window_while_its_count_grows(tmp_path: Path) -> None:
    # Laravel's window: 6 per second from the first request after the last window expired,
    # announced in X-RateLimit-*. At half of it the count grows and starts again at 1, never
    # levelling off as a sliding window's does: no bound, and probing up would run into its
    # end (refused, Retry-After the rest of the window). The start rate holds.
    limiter = _limiter(tmp_path, start_rate=3.0)
    window_started: float | None = None
    count = refused = 0
    started = time.monotonic()
    while time.monotonic() - started < 7.0:
        reservation = limiter.acquire()
        if window_started is None or reservation.at >= window_started + 1.0:
            window_started, count = reservation.at, 0
        if count >= 6:
            refused += 1
            signals = LimitSignals(retry_after=window_started + 1.0 - reservation.at)
            limiter.observe(reservation, signals, throttled=True)
            continue
        count += 1
        limiter.observe(reservation, LimitSignals(limit=6, remaining=6 - count), throttled=False)
    assert refused == 0
    assert limiter.learned_rate() == 3.0


class _TruncationSpy:
    """A state file whose truncations are recorded (the rest is the real file)."""

    def __init__(self, handle, truncations: list[str]) -> None:
        self._handle = handle
        self._truncations = truncations

    def truncate(self, *args):
        self._truncations.append(self._handle.name)
        return self._handle.truncate(*args)

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        self._handle.__enter__()
        return self

    def __exit__(self, *exc):
        return self._handle.__exit__(*exc)


def test_state_files_are_rewritten_in_place_never_truncated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ext4 writes a file truncated to zero and rewritten back to disk at once (auto_da_alloc):
    2 ms a request idle, most of a second under other processes' I/O, all under the lock every
    worker waits on (SalesMan's invoice/info crawled at ~1 request/s in benchmarks/load_1m).
    A shorter state is padded instead, and still reads back as written."""
    import os

    from finance_pipeline.http import ratelimit

    truncations: list[str] = []
    real_open, real_fdopen = open, os.fdopen
    monkeypatch.setattr(
        ratelimit, "open", lambda *a, **k: _TruncationSpy(real_open(*a, **k), truncations),
        raising=False,
    )
    monkeypatch.setattr(
        os, "fdopen", lambda *a, **k: _TruncationSpy(real_fdopen(*a, **k), truncations)
    )
    limiter = _limiter(tmp_path, start_rate=1000.0)
    for _ in range(80):  # fills the send log (the state grows) ...
        limiter.observe(limiter.acquire(), LimitSignals(), throttled=False)
    limiter.bucket.penalize(0.01)
    with limiter._state("") as state:  # ... then shrinks it
        state.sent = []
        state.rate = 7.0
    assert truncations == []
    assert limiter.learned_rate() == 7.0
    with limiter._state("") as state:
        assert state.sent == []
    assert limiter.bucket.acquire() > 0  # the penalty written over the old level holds
