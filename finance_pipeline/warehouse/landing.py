"""Landing raw API records in DuckDB: pages staged as text as they arrive, then one atomic merge.

Each page is appended to a staging file as it arrives, and the file is one JSON array of every
record of the run, in arrival order. A page the server answered as a list of records, handed on
untouched (`http/answer.py` `VerbatimRecords`), is appended as the server wrote it: its
array's text, one string, no per-record work in Python. A page a fetch built or changed (a
parent id added, records merged) is encoded by the `json` module's C encoder (compact, keys in
arrival order: `payload_text`). DuckDB reads the file (`read_json_objects`, format array, each
record's text verbatim, its position by `WITH ORDINALITY`), takes each record's id from its JSON
(`id_paths`, see `id_sql`), hashes it (`md5(payload)`, the same value the Python `content_hash`
gives) and merges it, in C++. Memory stays at about one page in Python; DuckDB is capped by the
connection's `memory_limit` and spills to its `temp_directory` (see connection.py).

A record's payload is its text as staged, so money keeps every digit the server sent
(12345678901234567.89 is not rounded to a float) and its md5 is that of the server's text. The
same record can therefore arrive as different text (staged by an older version that encoded
every record in Python; a server that changes its spacing or escapes): a hash that differs
while the JSON values are the same (DuckDB's `json()` of both texts is equal) is not a change.
Such a row takes the new text quietly: no history row, counted as unchanged. (The one change
this cannot see is a number that differs only beyond a double's 17 significant digits; its new
text is still stored, without a history row.)

The merge keeps the LAST version of a record that appears twice in one run (it moved between
pages while we paged), by its position in the file.

The warehouse is touched only once, in a single transaction that merges the staged rows, marks
what vanished upstream, appends replaced versions to a history table and moves the cursor.
Either all of it commits or none of it does. Into an empty table (a first load) the file is
inserted in one pass; a run that staged one id twice falls back to the merge.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from finance_pipeline.http.answer import VerbatimRecords
from finance_pipeline.warehouse.state import STATE_DDL

_SCOPE_SCHEMA = pa.schema([("scope_id", pa.string())])
# The payload text of every staged record; `content_hash` below and DuckDB's md5() of the
# stored payload must keep agreeing, or every record would look changed once.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# A record larger than this fails the landing with DuckDB's "maximum_object_size" error.
MAX_RECORD_BYTES = 16 * 1024 * 1024  # DuckDB's own default for its JSON readers
# `$.field` or `$.a.b`: inlined into SQL, so only plain names are accepted.
_ID_PATH = re.compile(r"^\$(\.[A-Za-z_][A-Za-z0-9_]*)+$")


def content_hash(payload: str) -> str:
    """md5 hex of the serialised payload: the same value as DuckDB's md5(payload)."""
    return hashlib.md5(payload.encode("utf-8"), usedforsecurity=False).hexdigest()


def payload_text(row: dict[str, Any]) -> str:
    """A record as it is staged and stored: compact JSON, keys in the order they arrived."""
    return _ENCODER.encode(row)


def id_sql(id_paths: Sequence[str], payload: str = "payload") -> str:
    """SQL for a record's id: the JSON value at the first of `id_paths` that is present.

    The same as `row.get("id")` for ("$.id",), and as `row.get("id", row.get("crid"))` for
    ("$.id", "$.crid"): a key that is present wins even when its value is null (which then
    fails the landing as a record without an id). The value is returned as JSON text (a string
    keeps its quotes) so that its type can be checked; `land()` takes its text (`->>'$'`, the
    same as Python's str() of it) as the id.
    """
    if not id_paths:
        raise ValueError("id_paths is empty: name at least one JSON path, e.g. '$.id'")
    for path in id_paths:
        if not _ID_PATH.match(path):
            raise ValueError(f"id path {path!r} is not of the form $.field or $.field.sub")
    if len(id_paths) == 1:
        return f"json_extract({payload}, '{id_paths[0]}')"
    listed = ", ".join(f"'{p}'" for p in id_paths)
    # json_extract with a list parses the payload once; a missing key is SQL NULL, a key with a
    # null value the JSON text 'null', so the first non-NULL entry is the first present key.
    return f"list_filter(json_extract({payload}, [{listed}]), lambda v: v IS NOT NULL)[1]"


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
    clean up after itself, and its staging files may be large. Folders are named
    finance_stage_<pid>_*; those of live processes are left alone."""
    removed = []
    for path in parent.glob(f"{STAGE_PREFIX}*_*"):
        pid = path.name[len(STAGE_PREFIX):].split("_", 1)[0]
        if path.is_dir() and pid.isdigit() and not _process_exists(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


class PageStager:
    """Appends pages to a temporary staging file as they arrive; `close()` removes it.

    id_paths: where a record's id is (see `id_sql`), read by DuckDB when the rows are landed.
    The file is one JSON array: "[" first, the pages' records comma-separated, "]" at finish().
    """

    def __init__(self, id_paths: Sequence[str] = ("$.id",)) -> None:
        self.id_paths = tuple(id_paths)
        self.id_sql = id_sql(self.id_paths)  # validates the paths before anything is fetched
        parent = Path(tempfile.gettempdir())
        sweep_orphaned_stages(parent)
        self._dir = Path(tempfile.mkdtemp(prefix=f"{STAGE_PREFIX}{os.getpid()}_", dir=parent))
        self.path = self._dir / "records.json"
        self.scope_path = self._dir / "scope.parquet"
        self._file: BinaryIO | None = None
        self._scope_writer: pq.ParquetWriter | None = None
        self.rows = 0
        self.verbatim_rows = 0  # of `rows`, those staged as the server's own text
        self.scope_ids = 0

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Stage one page: its records' JSON text, comma-separated, appended at once."""
        if not rows:
            return
        file = self._open()
        if self.rows:
            file.write(b",")
        if isinstance(rows, VerbatimRecords):
            # "[...]" exactly as the server wrote it (a slice of the body's bytes): its inside
            # is the records, comma-separated, whitespace and all.
            file.write(rows.utf8[1:-1])
            self.verbatim_rows += len(rows)
        else:
            # map() keeps the per-record work in C: the JSON encoder and str.join.
            file.write(",".join(map(payload_text, rows)).encode("utf-8", "surrogatepass"))
        self.rows += len(rows)

    def _open(self) -> BinaryIO:
        if self._file is None:
            if self.path.exists():
                # A page after finish(): reopen and take the closing "]" off again.
                self._file = open(self.path, "r+b")  # noqa: SIM115 - closed by finish()/close()
                self._file.seek(-1, os.SEEK_END)
                self._file.truncate()
            else:
                self._file = open(self.path, "wb")  # noqa: SIM115 - closed by finish()/close()
                self._file.write(b"[")
        return self._file

    def staged_sql(self) -> str:
        """The staged records as a relation (seq, payload), read by DuckDB from the file:
        `seq` is the record's position in the run (0-based), `payload` its text verbatim,
        typed JSON already (the reader parsed it: casting it again would parse it twice)."""
        if not self.rows:
            return "(SELECT NULL::BIGINT AS seq, NULL::JSON AS payload WHERE false)"
        quoted = str(self.path).replace("'", "''")
        return (
            f"(SELECT ordinality - 1 AS seq, json AS payload FROM read_json_objects("
            f"'{quoted}', format = 'array', maximum_object_size = {MAX_RECORD_BYTES}) "
            "WITH ORDINALITY)"
        )

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
        if self._file is not None:
            self._file.write(b"]")
            self._file.close()
            self._file = None
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
    staged_source = stager.staged_sql()
    deleted = [str(i) for i in deleted_ids]
    t = f"raw.{table}"
    # The keys table needs no particular row order, and keeping it costs memory (set below).
    restore_order = _setting(conn, "preserve_insertion_order")
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute("SET VARIABLE landing_now = now()")
        merged = _insert_into_empty_table(conn, t, stager, staged_source, run_id)
        if merged is None:
            # Not a first load, or one id staged twice: the merge, from a clean transaction.
            conn.execute("ROLLBACK")
            conn.execute("BEGIN TRANSACTION")
            conn.execute("SET VARIABLE landing_now = now()")
            merged = _merge_staged(
                conn, t, stager, staged_source, run_id,
                complete_snapshot=complete_snapshot, scope_json_path=scope_json_path,
                deleted=deleted,
            )
        inserted, updated, same, undeleted, deleted_count = merged
        fetched = inserted + updated + undeleted + same
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
            conn.execute("DROP TABLE IF EXISTS _changed")
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


_BAD_ID = "json_type(id_json) IN ('OBJECT', 'ARRAY', 'BOOLEAN')"


def _insert_into_empty_table(
    conn: duckdb.DuckDBPyConnection, t: str, stager: PageStager, staged_source: str, run_id: str,
) -> tuple[int, int, int, int, int] | None:
    """A first load: every staged record is new, so the file is inserted in one pass (id, md5
    and the insert in one read, as DuckDB's own `INSERT ... FROM read_ndjson_objects`).

    Returns the merge's counts (all inserted), or None when the table holds rows (the merge
    decides) or the insert failed (an id staged twice breaks the primary key; a record without
    a usable id stops it): the caller rolls back and merges, which keeps the last version of a
    repeated record and names a record without an id.
    """
    if conn.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() is not None:
        return None
    try:
        row = conn.execute(
            f"""
            INSERT INTO {t}
            SELECT CASE WHEN id_json IS NULL OR {_BAD_ID} OR coalesce(id_json->>'$', '') = ''
                        THEN error('record without an id') ELSE id_json->>'$' END,
                   payload, md5(payload::VARCHAR), getvariable('landing_now'), ?,
                   getvariable('landing_now'), getvariable('landing_now'), NULL
            FROM (SELECT {stager.id_sql} AS id_json, payload FROM {staged_source})
            """,
            [run_id],
        ).fetchone()
    except duckdb.Error:
        return None
    inserted = int(row[0]) if row else 0
    _check_staged_count(stager, inserted)
    return inserted, 0, 0, 0, 0


def _check_staged_count(stager: PageStager, read: int) -> None:
    """DuckDB must read as many records from the file as the pages held: a fetch that changed
    a `VerbatimRecords` list after it was parsed would otherwise land the server's text for
    records it meant to change."""
    if read != stager.rows:
        raise ValueError(
            f"the staging file holds {read} records but {stager.rows} were staged "
            f"({stager.verbatim_rows} as the server's text): a page's records were changed "
            "after they were parsed; yield a copy (a plain list) for such pages"
        )


def _merge_staged(
    conn: duckdb.DuckDBPyConnection,
    t: str,
    stager: PageStager,
    staged_source: str,
    run_id: str,
    *,
    complete_snapshot: bool,
    scope_json_path: str | None,
    deleted: list[str],
) -> tuple[int, int, int, int, int]:
    """Merge the staged records into a table that holds rows; returns (inserted, updated,
    unchanged, undeleted, marked deleted)."""
    conn.execute("SET preserve_insertion_order = false")
    # One row per staged id (the last version wins: a record can move between pages while
    # we page) with what the merge will do to it, decided on (id, hash) alone:
    # i = insert, u = update, r = reappeared (deleted before), = = unchanged.
    # DuckDB reads the file once here: the id out of the JSON, md5 of the text as staged.
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _staged AS
        WITH keyed AS (
            SELECT seq, {stager.id_sql} AS id_json, md5(payload::VARCHAR) AS content_hash
            FROM {staged_source}
        ), latest AS (
            SELECT id_json->>'$' AS id, max(seq) AS seq, arg_max(content_hash, seq) AS content_hash,
                   min(seq) FILTER (WHERE {_BAD_ID}) AS bad_seq, count(*) AS records
            FROM keyed
            GROUP BY 1
        )
        SELECT s.id, s.seq, s.content_hash, s.bad_seq, s.records,
               CASE WHEN r.id IS NULL THEN 'i'
                    WHEN r.deleted_at IS NOT NULL THEN 'r'
                    WHEN r.content_hash <> s.content_hash THEN 'u'
                    ELSE '=' END AS action
        FROM latest s LEFT JOIN {t} r ON r.id = s.id
        """
    )
    # Writes into raw.<table> keep the order: without it DuckDB writes a big insert's rows
    # twice inside the transaction (a file ~1.5x larger, a checkpoint of seconds at close).
    conn.execute("SET preserve_insertion_order = true")
    _refuse_records_without_an_id(conn, stager, staged_source)
    _check_staged_count(stager, _count(conn, "SELECT coalesce(sum(records), 0) FROM _staged"))
    counts = _actions(conn)
    if counts.get("u", 0) or counts.get("r", 0):
        # Changed rows are few: their payloads go to a temp table first, so the UPDATE
        # joins two tables whose sizes DuckDB knows.
        with _joins_as_written(conn):
            conn.execute(
                "CREATE OR REPLACE TEMP TABLE _changed AS "
                + _payloads_sql(staged_source, "'u', 'r'")
            )
        if counts.get("u", 0):
            # Same values in other text (see the module doc): f = reformatted, not a change.
            conn.execute(
                f"""
                UPDATE _staged SET action = 'f'
                WHERE action = 'u' AND id IN (
                    SELECT c.id FROM _changed c JOIN {t} r ON r.id = c.id
                    WHERE json(c.payload) = json(r.payload)
                )
                """
            )
            counts = _actions(conn)
    inserted, updated = counts.get("i", 0), counts.get("u", 0)
    undeleted, reformatted = counts.get("r", 0), counts.get("f", 0)
    same = counts.get("=", 0) + reformatted
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
                payload = c.payload, content_hash = c.content_hash,
                extracted_at = getvariable('landing_now'), run_id = ?,
                changed_at = getvariable('landing_now'), deleted_at = NULL
            FROM _changed c
            WHERE r.id = c.id AND c.id IN (SELECT id FROM _staged WHERE action IN ('u', 'r'))
            """,
            [run_id],
        )
    if reformatted:
        conn.execute(
            f"""
            UPDATE {t} AS r SET
                payload = c.payload, content_hash = c.content_hash,
                extracted_at = getvariable('landing_now'), run_id = ?
            FROM _changed c
            WHERE r.id = c.id AND c.id IN (SELECT id FROM _staged WHERE action = 'f')
            """,
            [run_id],
        )
    if counts.get("=", 0):
        conn.execute(
            f"""
            UPDATE {t} SET extracted_at = getvariable('landing_now'), run_id = ?
            WHERE id IN (SELECT id FROM _staged WHERE action = '=')
            """,
            [run_id],
        )
    if inserted:
        # Every staged record is new (a new id for each): the file is inserted as it stands,
        # its id and md5 computed again (cheaper than a join). The join on seq below keeps
        # only the records to insert, but inside the transaction it can make DuckDB write the
        # rows twice (measured: a 224 MiB file instead of 144 MiB for 300k movements, seconds
        # of checkpoint at close; benchmarks/README.md).
        every_line_new = inserted == stager.rows
        with _joins_as_written(conn):
            conn.execute(
                f"""
                INSERT INTO {t}
                SELECT c.id, c.payload, c.content_hash, getvariable('landing_now'), ?,
                       getvariable('landing_now'), getvariable('landing_now'), NULL
                FROM ({_all_lines_sql(stager, staged_source) if every_line_new
                       else _payloads_sql(staged_source, "'i'")}) c
                """,
                [run_id],
            )
    return inserted, updated, same, undeleted, _mark_deleted(
        conn, t, stager, complete_snapshot=complete_snapshot,
        scope_json_path=scope_json_path, deleted=deleted,
    )


def _actions(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return dict(conn.execute("SELECT action, count(*) FROM _staged GROUP BY action").fetchall())


def _mark_deleted(
    conn: duckdb.DuckDBPyConnection,
    t: str,
    stager: PageStager,
    *,
    complete_snapshot: bool,
    scope_json_path: str | None,
    deleted: list[str],
) -> int:
    """Mark what vanished upstream (a complete snapshot; the children of completely read
    parents) and what the API reported deleted; returns how many rows were marked."""
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
    return deleted_count


def _all_lines_sql(stager: PageStager, staged_source: str) -> str:
    """(id, content_hash, payload) of every staged line, computed as `_staged` computes them."""
    return f"""
        SELECT ({stager.id_sql})->>'$' AS id, md5(payload::VARCHAR) AS content_hash, payload
        FROM {staged_source}
    """


def _payloads_sql(staged_source: str, actions: str) -> str:
    """(id, content_hash, payload) of the staged rows the merge writes with these actions,
    streamed from the staged file (never all in memory). Run it under `_joins_as_written`."""
    return f"""
        SELECT s.id, s.content_hash, p.payload
        FROM {staged_source} p
        JOIN (SELECT id, seq, content_hash FROM _staged WHERE action IN ({actions})) s
          ON p.seq = s.seq
    """


@contextlib.contextmanager
def _joins_as_written(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Keep the build side of a join the right one, as written.

    DuckDB cannot estimate how many rows a CSV file holds (it guesses a few dozen), so it would
    build the hash table of `staged file JOIN _staged` on the file: every payload in memory,
    spilled to disk past `memory_limit`, 1.35x slower on 300k rows. Written with the file on
    the left, the table of keys (known size, no payloads) is the one built.
    """
    before = _setting(conn, "disabled_optimizers") or ""
    conn.execute("SET disabled_optimizers = 'join_order,build_side_probe_side'")
    try:
        yield
    finally:
        quoted = str(before).replace("'", "''")
        conn.execute(f"SET disabled_optimizers = '{quoted}'")


def _refuse_records_without_an_id(
    conn: duckdb.DuckDBPyConnection, stager: PageStager, staged_source: str
) -> None:
    """A record whose id is missing, null, empty or not a scalar cannot be merged: fail the
    landing (nothing is written) and show the record."""
    row = conn.execute(
        "SELECT min(CASE WHEN id IS NULL OR id = '' THEN seq ELSE bad_seq END) FROM _staged"
    ).fetchone()
    if row is None or row[0] is None:
        return
    found = conn.execute(f"SELECT payload FROM {staged_source} WHERE seq = ?", [row[0]]).fetchone()
    payload = found[0] if found else "?"
    paths = " or ".join(stager.id_paths)
    raise ValueError(f"record without an id (no usable value at {paths}): {payload[:200]}")


def _setting(conn: duckdb.DuckDBPyConnection, name: str) -> Any:
    row = conn.execute("SELECT current_setting(?)", [name]).fetchone()
    return row[0] if row else None
