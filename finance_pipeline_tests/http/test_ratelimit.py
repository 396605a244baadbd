"""The client-side leaky bucket holds its rate across threads and across processes."""

from __future__ import annotations

import multiprocessing
import threading
import time

from finance_pipeline.config import rate_limit_directory
from finance_pipeline.http.ratelimit import LeakyBucket, RateLimit


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
