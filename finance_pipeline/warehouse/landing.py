"""Landing raw API records in DuckDB: streamed staging, then one atomic merge.

Pages are written to a Parquet file as they arrive (memory stays at about one page), each record
with its id and the md5 of its payload, and the warehouse is touched only once, in a single
transaction that merges the staged rows, marks what vanished upstream, appends replaced versions
to a history table and moves the cursor. Either all of it commits or none of it does.

The merge stays small in memory however many rows there are: it compares only (id, hash) keys
with the raw table, and payloads are streamed from the Parquet file straight into the rows that
are inserted or changed; nothing holds every payload at once. DuckDB itself is capped by the
connection's `memory_limit` and spills to its `temp_directory` (see connection.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from finance_pipeline.warehouse.state import STATE_DDL

_STAGE_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("id", pa.string()),
        ("content_hash", pa.string()),
        ("payload", pa.string()),
    ]
)
_SCOPE_SCHEMA = pa.schema([("scope_id", pa.string())])


def content_hash(payload: str) -> str:
    """md5 hex of the serialised payload: the same value as DuckDB's md5(payload)."""
    return hashlib.md5(payload.encode("utf-8"), usedforsecurity=False).hexdigest()


def raw_table_ddl(table: str) -> str:
    return f"""
CREATE SCHEMA IF NOT EXISTS raw;
CREATE TABLE IF NOT EXISTS raw.{table} (
    id VARCHAR PRIMARY KEY,
    payload JSON NOT NULL,
    content_hash VARCHAR NOT NULL,
    extracted_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS raw.{table}__history (
    id VARCHAR NOT NULL,
    payload JSON NOT NULL,
    content_hash VARCHAR NOT NULL,
    extracted_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL,
    replaced_at TIMESTAMPTZ NOT NULL,
    replaced_because VARCHAR NOT NULL
);
"""


STAGE_PREFIX = "finance_stage_"


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def sweep_orphaned_stages(parent: Path) -> list[Path]:
    """Remove staging folders whose process is gone: a run killed with SIGKILL (or OOM) cannot
    clean up after itself, and its Parquet files may be large. Folders are named
    finance_stage_<pid>_*; those of live processes are left alone."""
    removed = []
    for path in parent.glob(f"{STAGE_PREFIX}*_*"):
        pid = path.name[len(STAGE_PREFIX):].split("_", 1)[0]
        if path.is_dir() and pid.isdigit() and not _process_exists(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


class PageStager:
    """Collects pages into a temporary Parquet file; `close()` removes it."""

    def __init__(self, id_of: Callable[[dict[str, Any]], Any]) -> None:
        self.id_of = id_of
        parent = Path(tempfile.gettempdir())
        sweep_orphaned_stages(parent)
        self._dir = Path(tempfile.mkdtemp(prefix=f"{STAGE_PREFIX}{os.getpid()}_", dir=parent))
        self.path = self._dir / "rows.parquet"
        self.scope_path = self._dir / "scope.parquet"
        self._writer: pq.ParquetWriter | None = None
        self._scope_writer: pq.ParquetWriter | None = None
        self.rows = 0
        self.scope_ids = 0

    def add(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        ids, hashes, payloads = [], [], []
        for row in rows:
            key = self.id_of(row)
            if key is None or key == "":
                raise ValueError(f"record without an id: {json.dumps(row)[:200]}")
            ids.append(str(key))
            # Re-serialised exactly as parsed: same keys, same order, same values.
            payload = json.dumps(row, ensure_ascii=False, separators=(",", ":"))
            hashes.append(content_hash(payload))
            payloads.append(payload)
        seq = pa.array(range(self.rows, self.rows + len(rows)), pa.int64())
        table = pa.Table.from_arrays(
            [seq, pa.array(ids), pa.array(hashes), pa.array(payloads)], schema=_STAGE_SCHEMA
        )
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, _STAGE_SCHEMA, compression="zstd")
        self._writer.write_table(table)
        self.rows += len(rows)

    def add_scope(self, parent_ids: Iterable[Any]) -> None:
        """Declare parents whose children this run fetched completely (for scoped deletes)."""
        values = [str(v) for v in parent_ids]
        if not values:
            return
        if self._scope_writer is None:
            self._scope_writer = pq.ParquetWriter(self.scope_path, _SCOPE_SCHEMA)
        self._scope_writer.write_table(pa.Table.from_arrays([pa.array(values)], schema=_SCOPE_SCHEMA))
        self.scope_ids += len(values)

    def finish(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._scope_writer is not None:
            self._scope_writer.close()
            self._scope_writer = None

    def close(self) -> None:
        self.finish()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> PageStager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class LandingResult:
    fetched: int
    inserted: int
    updated: int
    unchanged: int
    deleted: int
    undeleted: int
    live_rows: int

    def as_metadata(self) -> dict[str, int]:
        return {
            "rows_fetched": self.fetched,
            "rows_inserted": self.inserted,
            "rows_updated": self.updated,
            "rows_unchanged": self.unchanged,
            "rows_deleted": self.deleted,
            "rows_undeleted": self.undeleted,
            "rows_live": self.live_rows,
        }


def _count(conn: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def land(
    conn: duckdb.DuckDBPyConnection,
    *,
    table: str,
    stager: PageStager,
    run_id: str,
    entity: str,
    new_cursor: str | None,
    complete_snapshot: bool,
    scope_json_path: str | None = None,
    deleted_ids: Iterable[str] = (),
) -> LandingResult:
    """Merge the staged rows into raw.<table> in one transaction.

    complete_snapshot: the run fetched every live record, so a live row that was not fetched
        was deleted upstream and gets `deleted_at`.
    scope_json_path: with staged scope ids, the run fetched every child of those parents
        (e.g. every product row of the re-read invoices): children of those parents that were
        not fetched are marked deleted, others are left alone.
    deleted_ids: records the API itself reported as deleted.
    """
    stager.finish()
    conn.execute(STATE_DDL)
    conn.execute(raw_table_ddl(table))
    staged_source = (
        f"read_parquet('{stager.path}')"
        if stager.rows
        else "(SELECT NULL::BIGINT AS seq, NULL::VARCHAR AS id, NULL::VARCHAR AS content_hash, "
        "NULL::VARCHAR AS payload WHERE false)"
    )
    deleted = [str(i) for i in deleted_ids]
    t = f"raw.{table}"
    # Big merges need no particular row order, and keeping it costs memory.
    restore_order = _setting(conn, "preserve_insertion_order")
    conn.execute("SET preserve_insertion_order = false")
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute("SET VARIABLE landing_now = now()")
        # One row per staged id (the last version wins: a record can move between pages while
        # we page) with what the merge will do to it, decided on (id, hash) alone:
        # i = insert, u = update, r = reappeared (deleted before), = = unchanged.
        conn.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _staged AS
            WITH latest AS (
                SELECT id, max(seq) AS seq, arg_max(content_hash, seq) AS content_hash
                FROM {staged_source}
                GROUP BY id
            )
            SELECT s.id, s.seq, s.content_hash,
                   CASE WHEN r.id IS NULL THEN 'i'
                        WHEN r.deleted_at IS NOT NULL THEN 'r'
                        WHEN r.content_hash <> s.content_hash THEN 'u'
                        ELSE '=' END AS action
            FROM latest s LEFT JOIN {t} r ON r.id = s.id
            """
        )
        counts = dict(
            conn.execute("SELECT action, count(*) FROM _staged GROUP BY action").fetchall()
        )
        inserted, updated = counts.get("i", 0), counts.get("u", 0)
        undeleted, same = counts.get("r", 0), counts.get("=", 0)
        fetched = inserted + updated + undeleted + same
        # Payloads of the rows to write, streamed from the staged file (never all in memory).
        def payloads_of(actions: str) -> str:
            return f"""
                SELECT s.id, s.content_hash, p.payload
                FROM {staged_source} p
                JOIN (SELECT id, seq, content_hash FROM _staged WHERE action IN ({actions})) s
                  ON p.seq = s.seq
            """

        if updated or undeleted:
            # Keep the version being replaced, so edits upstream stay auditable.
            conn.execute(
                f"""
                INSERT INTO {t}__history
                SELECT r.id, r.payload, r.content_hash, r.extracted_at, r.run_id,
                       getvariable('landing_now'),
                       CASE WHEN r.deleted_at IS NOT NULL THEN 'reappeared' ELSE 'changed' END
                FROM {t} r
                WHERE r.id IN (SELECT id FROM _staged WHERE action IN ('u', 'r'))
                """
            )
            conn.execute(
                f"""
                UPDATE {t} AS r SET
                    payload = c.payload::JSON, content_hash = c.content_hash,
                    extracted_at = getvariable('landing_now'), run_id = ?,
                    changed_at = getvariable('landing_now'), deleted_at = NULL
                FROM ({payloads_of("'u', 'r'")}) c
                WHERE r.id = c.id
                """,
                [run_id],
            )
        if same:
            conn.execute(
                f"""
                UPDATE {t} SET extracted_at = getvariable('landing_now'), run_id = ?
                WHERE id IN (SELECT id FROM _staged WHERE action = '=')
                """,
                [run_id],
            )
        if inserted:
            conn.execute(
                f"""
                INSERT INTO {t}
                SELECT c.id, c.payload::JSON, c.content_hash, getvariable('landing_now'), ?,
                       getvariable('landing_now'), getvariable('landing_now'), NULL
                FROM ({payloads_of("'i'")}) c
                """,
                [run_id],
            )
        vanished_filter = None
        if complete_snapshot:
            vanished_filter = "TRUE"
        elif scope_json_path and stager.scope_ids:
            conn.execute(
                "CREATE OR REPLACE TEMP TABLE _scope AS SELECT DISTINCT scope_id "
                f"FROM read_parquet('{stager.scope_path}')"
            )
            vanished_filter = (
                f"json_extract_string(payload, '{scope_json_path}') IN (SELECT scope_id FROM _scope)"
            )
        deleted_count = 0
        if vanished_filter is not None:
            deleted_count += _count(
                conn,
                f"""SELECT count(*) FROM {t} r WHERE r.deleted_at IS NULL AND {vanished_filter}
                    AND r.id NOT IN (SELECT id FROM _staged)""",
            )
            if deleted_count:
                conn.execute(
                    f"""UPDATE {t} SET deleted_at = getvariable('landing_now'),
                            changed_at = getvariable('landing_now')
                        WHERE deleted_at IS NULL AND {vanished_filter}
                          AND id NOT IN (SELECT id FROM _staged)"""
                )
        if deleted:
            conn.execute("CREATE OR REPLACE TEMP TABLE _reported_deleted (id VARCHAR)")
            conn.executemany("INSERT INTO _reported_deleted VALUES (?)", [[i] for i in deleted])
            reported = "id IN (SELECT id FROM _reported_deleted)"
            deleted_count += _count(
                conn, f"SELECT count(*) FROM {t} WHERE deleted_at IS NULL AND {reported}"
            )
            conn.execute(
                f"""UPDATE {t} SET deleted_at = getvariable('landing_now'),
                        changed_at = getvariable('landing_now')
                    WHERE deleted_at IS NULL AND {reported}"""
            )
        live = _count(conn, f"SELECT count(*) FROM {t} WHERE deleted_at IS NULL")
        conn.execute(
            """
            INSERT INTO raw._sync_state AS s
                (entity, cursor, last_sync_at, last_full_refresh_at, last_run_id, live_rows)
            VALUES (?, ?, getvariable('landing_now'),
                    CASE WHEN ? THEN getvariable('landing_now') END, ?, ?)
            ON CONFLICT (entity) DO UPDATE SET
                cursor = COALESCE(excluded.cursor, s.cursor),
                last_sync_at = excluded.last_sync_at,
                last_full_refresh_at = COALESCE(excluded.last_full_refresh_at, s.last_full_refresh_at),
                last_run_id = excluded.last_run_id,
                live_rows = excluded.live_rows
            """,
            [entity, new_cursor, complete_snapshot, run_id, live],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        # Tidy the session (the keys table, the setting) without masking a landing error.
        with contextlib.suppress(duckdb.Error):
            conn.execute("DROP TABLE IF EXISTS _staged")
        with contextlib.suppress(duckdb.Error):
            conn.execute(f"SET preserve_insertion_order = {bool(restore_order)}")
    return LandingResult(
        fetched=fetched,
        inserted=inserted,
        updated=updated,
        unchanged=same,
        deleted=deleted_count,
        undeleted=undeleted,
        live_rows=live,
    )


def _setting(conn: duckdb.DuckDBPyConnection, name: str) -> Any:
    row = conn.execute("SELECT current_setting(?)", [name]).fetchone()
    return row[0] if row else None
