"""Progress of a long read, written once: a line at the start, then at least every few seconds,
with an estimate of the time left when the read knows how much there is.

A read calls `step()` after each page (or each record of a one-request-per-record read); the
reporter decides whether to say something, so the loops do not count pages to decide when to
talk. Time-based, not every N pages: 20 pages take 2 s on one API and 40 s on another, and a
person watching a run wants a sign of life at a steady pace, not in bursts.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Say = Callable[[str], None]

# A step is a request or less, so a line is due at least every ~5 s as long as a step takes
# under a second; slower steps are announced by the client's own retry warnings.
REPORT_EVERY_SECONDS = 4.0


class ProgressReporter:
    """Says `what: <text>` at the first step, then `what: <text>, about <eta> left` whenever
    `interval` seconds have passed since the last line."""

    def __init__(
        self,
        say: Say,
        what: str,
        *,
        interval: float = REPORT_EVERY_SECONDS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.say = say
        self.what = what
        self.interval = interval
        self.clock = clock or time.monotonic
        self.started = self.clock()
        self.last_said: float | None = None

    def step(self, text: str, done: int, total: int | None = None) -> bool:
        """One more unit of work done (`done` of `total`, if known); returns whether it spoke."""
        now = self.clock()
        if self.last_said is not None and now - self.last_said < self.interval:
            return False
        # No estimate on the first line: one step (often the slowest, opening the connection)
        # is no pace to go by.
        eta = estimate_left(now - self.started, done, total) if self.last_said else None
        self.say(f"{self.what}: {text}" + (f", about {eta} left" if eta else ""))
        self.last_said = now
        return True


def estimate_left(elapsed: float, done: int, total: int | None) -> str | None:
    """The time left at the pace so far, in words; None while there is nothing to go by."""
    if total is None or done <= 0 or elapsed <= 0 or done >= total:
        return None
    return spoken_duration(elapsed / done * (total - done))


def spoken_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 10 else f"{round(seconds / 60)} min"
