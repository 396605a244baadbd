"""A leaky-bucket rate limiter shared by every request of one source.

Bitrix24 documents its limit as a leaky bucket: each request adds 1 to a counter, the counter
drains by `rate` per second, and a request that would push it over `burst` is refused with
QUERY_LIMIT_EXCEEDED. The client mirrors that bucket, so it can use the whole burst at once and
then settle at exactly `rate` requests per second without ever being refused.

The bucket state lives in a small file guarded by `flock`, so every thread *and every process*
(Dagster's multiprocess executor runs each asset in its own process) that talks to the same
account draws from one bucket.
"""

from __future__ import annotations

import fcntl
import hashlib
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field


class RateLimit(BaseModel):
    """Requests per second a source may sustain, and how many it may send at once."""

    rate: float = Field(gt=0, description="Sustained requests per second (the bucket's drain).")
    burst: int = Field(ge=1, description="Requests that may go out back to back (bucket size).")


_STATE = struct.Struct("<dd")  # (level, timestamp of level)
_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


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
        """One bucket per (source, account): the account is hashed, never written in clear.

        `directory` is shared by every process that must share the bucket (config.py's
        FINANCE_RATE_LIMIT_DIR).
        """
        digest = hashlib.sha256(f"{source}\0{account}".encode()).hexdigest()[:16]
        directory.mkdir(parents=True, exist_ok=True)
        return cls(name=source, limit=limit, path=directory / f"{source}-{digest}.bucket")

    def _thread_lock(self) -> threading.Lock:
        # flock is per open file description; a thread lock keeps threads of one process from
        # interleaving their read-modify-write on the shared file.
        key = str(self.path)
        with _thread_locks_guard:
            return _thread_locks.setdefault(key, threading.Lock())

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
        with self._thread_lock(), open(self.path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.seek(0)
                raw = handle.read(_STATE.size)
                now = time.time()
                level, stamp = _STATE.unpack(raw) if len(raw) == _STATE.size else (0.0, now)
                level = max(0.0, level - (now - stamp) * self.limit.rate)
                if level + 1 > self.limit.burst:
                    return (level + 1 - self.limit.burst) / self.limit.rate
                handle.seek(0)
                handle.truncate()
                handle.write(_STATE.pack(level + 1, now))
                handle.flush()
                return 0.0
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def penalize(self, seconds: float) -> None:
        """After a throttle answer, fill the bucket so nobody sends for `seconds`."""
        with self._thread_lock(), open(self.path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                now = time.time()
                level = self.limit.burst + seconds * self.limit.rate
                handle.seek(0)
                handle.truncate()
                handle.write(_STATE.pack(level, now))
                handle.flush()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
