"""Opening the DuckDB file so that parallel writers queue instead of failing.

DuckDB lets one process hold a database file for writing. Every asset keeps its connection only
for the short landing transaction and, if another process holds the file, waits and retries
(with jitter) instead of failing the run on "Could not set lock".
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

log = logging.getLogger("finance_pipeline.warehouse")

LOCK_WAIT_SECONDS = 600.0


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text or "conflicting" in text or "being used by another process" in text


@contextlib.contextmanager
def connect(
    path: str | Path, *, read_only: bool = False, wait_seconds: float = LOCK_WAIT_SECONDS
) -> Iterator[duckdb.DuckDBPyConnection]:
    target = str(path)
    if not target.startswith("md:") and target != ":memory:":
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        try:
            conn = duckdb.connect(target, read_only=read_only)
            break
        except duckdb.Error as exc:
            if not _is_lock_error(exc) or time.monotonic() > deadline:
                raise
            log.info("warehouse %s is busy (another writer); waiting %.2fs", target, delay)
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 2.0)
    try:
        yield conn
    finally:
        conn.close()
