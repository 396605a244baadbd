"""Per-entity sync state (cursor, last full refresh), stored in the warehouse itself.

Keeping it in the same DuckDB file means the cursor is committed in the same transaction as the
rows it describes: a crash can never leave a cursor that is ahead of the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

STATE_DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE TABLE IF NOT EXISTS raw._sync_state (
    entity VARCHAR PRIMARY KEY,
    cursor VARCHAR,
    last_sync_at TIMESTAMPTZ,
    last_full_refresh_at TIMESTAMPTZ,
    last_run_id VARCHAR,
    live_rows BIGINT
);
-- The last reconciliation of each entity with its source's own figures (sources/reconcile.py);
-- `unrepaired` non-empty fails the `reconciled_with_source` check (checks/reconciliation.py).
CREATE TABLE IF NOT EXISTS raw._reconciliation (
    entity VARCHAR PRIMARY KEY,
    checked_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL,
    compared VARCHAR NOT NULL,
    differed VARCHAR NOT NULL,
    reread VARCHAR NOT NULL,
    unrepaired VARCHAR NOT NULL,
    requests BIGINT NOT NULL
);
"""


@dataclass
class SyncState:
    entity: str
    cursor: str | None = None
    last_sync_at: datetime | None = None
    last_full_refresh_at: datetime | None = None
    last_run_id: str | None = None
    live_rows: int | None = None


def read_state(conn: duckdb.DuckDBPyConnection, entity: str) -> SyncState:
    conn.execute(STATE_DDL)
    row = conn.execute(
        "SELECT cursor, last_sync_at, last_full_refresh_at, last_run_id, live_rows "
        "FROM raw._sync_state WHERE entity = ?",
        [entity],
    ).fetchone()
    if row is None:
        return SyncState(entity)
    return SyncState(entity, *row)
