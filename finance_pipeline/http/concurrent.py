"""Independent requests of one source, sent concurrently: written once, used by every source.

Some reads are one request per parent record (Adesk's requisites per contractor, SalesMan's
`invoice/info` per invoice). Sent one after another, each request waits for the answer to the
previous one, so a source whose learned rate is 10/s but whose answers take 300 ms runs at
3/s. A few workers overlap those waits; the rate limiter, shared by the workers exactly as it is
shared by every process of the account (`http/ratelimit.py`, thread and file locks), is what
paces them. Workers hide latency, they never add to the rate: `workers` threads can have at most
`workers` requests in flight, and each one still waits for its slot in the limiter.

What the caller sees is the sequential read it replaces:
* results come in the order of the items (landed batches and progress are deterministic),
  whatever order the answers arrive in;
* the first error stops the read: items not started yet are never sent, requests in flight are
  allowed to finish (a thread cannot be killed mid-request, and none must outlive the read and
  use a client its caller is about to close), and the error propagates unchanged, so the entity
  fails before anything is landed;
* progress is told through `ProgressReporter` as each result is handed over;
* at most `2 * workers` results wait to be consumed (memory stays bounded on 24,000 invoices).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from finance_pipeline.http.progress import ProgressReporter

Item = TypeVar("Item")
Result = TypeVar("Result")

# Requests of one read in flight at once unless the source's resource says otherwise
# (`concurrent_requests`): enough to hide the latency of an API answering in ~200 ms at the 10-20
# requests a second our sources learn, small enough that a throttle wave stays small.
DEFAULT_WORKERS = 4


class _NotStarted(Exception):
    """An item whose turn came after the read had already failed: it was never sent."""


def map_concurrently(
    fn: Callable[[Item], Result],
    items: Sequence[Item],
    *,
    workers: int = DEFAULT_WORKERS,
    progress: ProgressReporter | None = None,
    unit: str = "items done",
) -> Iterator[tuple[Item, Result]]:
    """Yield `(item, fn(item))` for every item, in the items' order, with up to `workers`
    calls of `fn` running at once. `fn` must be safe to run in several threads (an `ApiClient`
    request is). Raises the first exception any call raised, after the calls in flight ended."""
    total = len(items)
    if workers <= 1 or total <= 1:
        for done, item in enumerate(items, start=1):
            result = fn(item)
            _step(progress, unit, done, total)
            yield item, result
        return
    yield from _pooled(fn, items, workers, progress, unit)


def _pooled(
    fn: Callable[[Item], Result],
    items: Sequence[Item],
    workers: int,
    progress: ProgressReporter | None,
    unit: str,
) -> Iterator[tuple[Item, Result]]:
    total = len(items)
    failed = threading.Event()
    changed = threading.Condition()
    errors: list[BaseException] = []  # the first one is raised

    def run(item: Item) -> Result:
        if failed.is_set():
            raise _NotStarted
        try:
            return fn(item)
        except BaseException as error:
            with changed:
                errors.append(error)
                failed.set()
            raise

    def wake(_: Future[Result]) -> None:
        with changed:
            changed.notify_all()

    pending: deque[tuple[Item, Future[Result]]] = deque()
    submitted = 0
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="concurrent-request")
    try:
        done = 0
        while True:
            # Keep the workers busy, a bounded distance ahead of what was handed over.
            while submitted < total and len(pending) < 2 * workers and not failed.is_set():
                future = pool.submit(run, items[submitted])
                future.add_done_callback(wake)
                pending.append((items[submitted], future))
                submitted += 1
            if not pending:
                return
            item, head = pending[0]
            with changed:
                # Wake on the next result in order, or on any failure (not only the head's).
                changed.wait_for(lambda head=head: head.done() or failed.is_set())
            if failed.is_set():
                break
            pending.popleft()
            done += 1
            result = head.result()
            _step(progress, unit, done, total)
            yield item, result
    finally:
        failed.set()  # also when the caller stopped early: nothing more is sent
        for _, future in pending:
            future.cancel()
        pool.shutdown(wait=True)
    raise errors[0]


def _step(progress: ProgressReporter | None, unit: str, done: int, total: int) -> None:
    if progress is not None:
        progress.step(f"{done} of {total} {unit}", done, total)
