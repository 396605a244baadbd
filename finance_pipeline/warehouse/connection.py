"""Opening the DuckDB file so that parallel writers queue instead of failing.

DuckDB lets one process hold a database file for writing. Every asset keeps its connection only
for the short landing transaction and, if another process holds the file, waits and retries
(with jitter) instead of failing the run on "Could not set lock".

Memory: DuckDB would otherwise take up to 80 % of the machine's RAM. Every connection caps it
at FINANCE_DUCKDB_MEMORY_LIMIT (default 512MB; DuckDB's own units: 512MB, 2GB, 1.5GiB) and
spills what does not fit to FINANCE_DUCKDB_TEMP_DIRECTORY (default: DuckDB's `<database>.tmp`
next to the file), so a million-row landing or model build stays within a known budget.
`memory_limit=`/`temp_directory=` arguments override the variables (read and validated in
config.py, like every variable); "none" keeps DuckDB's default.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from finance_pipeline.config import check_memory_limit, duckdb_memory_limit, duckdb_temp_directory

log = logging.getLogger("finance_pipeline.warehouse")

LOCK_WAIT_SECONDS = 600.0


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text or "conflicting" in text or "being used by another process" in text


def memory_limit_setting(value: str | None = None) -> str | None:
    """The memory limit to set (None: leave DuckDB's default), validated."""
    return duckdb_memory_limit() if value is None else check_memory_limit(value)


def _configure(
    conn: duckdb.DuckDBPyConnection, memory_limit: str | None, temp_directory: str | None
) -> None:
    limit = memory_limit_setting(memory_limit)
    if limit is not None:
        conn.execute(f"SET memory_limit = '{limit}'")
    directory = temp_directory or duckdb_temp_directory()
    if directory:
        current = conn.execute("SELECT current_setting('temp_directory')").fetchone()
        # DuckDB refuses to switch once the current directory has been used: only set it when
        # it differs (another connection of this process may have set it already).
        if not current or current[0] != directory:
            quoted = directory.replace("'", "''")
            conn.execute(f"SET temp_directory = '{quoted}'")


@contextlib.contextmanager
def connect(
    path: str | Path,
    *,
    read_only: bool = False,
    wait_seconds: float = LOCK_WAIT_SECONDS,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
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
        if not target.startswith("md:"):
            _configure(conn, memory_limit, temp_directory)
        yield conn
    finally:
        conn.close()
