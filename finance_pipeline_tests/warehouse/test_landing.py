"""Landing is idempotent, reflects edits and deletions, and is all-or-nothing."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pytest

from finance_pipeline.warehouse.landing import PageStager, land
from finance_pipeline.warehouse.state import read_state


def _land(conn, rows, *, complete=True, run="run-1", cursor=None, scope=None, scope_path=None, deleted=()):
    with PageStager(("$.id",)) as stager:
        for page in rows:
            stager.add(page)
        if scope:
            stager.add_scope(scope)
        return land(
            conn,
            table="t_items",
            stager=stager,
            run_id=run,
            entity="t_items",
            new_cursor=cursor,
            complete_snapshot=complete,
            scope_json_path=scope_path,
            deleted_ids=deleted,
        )


def _live(conn) -> dict[str, str]:
    return dict(
        conn.execute(
            "SELECT id, payload->>'$.v' FROM raw.t_items WHERE deleted_at IS NULL ORDER BY id"
        ).fetchall()
    )


def test_rerun_is_idempotent_and_edits_replace_rows(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    first = _land(conn, [[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}], [{"id": 3, "v": "c"}]])
    assert (first.inserted, first.updated, first.live_rows) == (3, 0, 3)
    again = _land(conn, [[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}]])
    assert (again.inserted, again.updated, again.unchanged, again.deleted) == (0, 0, 3, 0)
    edited = _land(conn, [[{"id": 1, "v": "A"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}]])
    assert (edited.inserted, edited.updated) == (0, 1)
    assert _live(conn) == {"1": "A", "2": "b", "3": "c"}
    assert conn.execute("SELECT count(*) FROM raw.t_items").fetchone()[0] == 3
    history = conn.execute("SELECT id, payload->>'$.v' FROM raw.t_items__history").fetchall()
    assert history == [("1", "a")]


def test_duplicate_ids_across_pages_keep_the_last_version(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    result = _land(conn, [[{"id": 1, "v": "old"}], [{"id": 1, "v": "new"}]])
    assert result.fetched == 1 and _live(conn) == {"1": "new"}


def test_full_refresh_marks_vanished_rows_deleted_and_they_can_come_back(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    _land(conn, [[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]])
    partial = _land(conn, [[{"id": 1, "v": "a"}]], complete=False)
    assert partial.deleted == 0 and set(_live(conn)) == {"1", "2"}
    full = _land(conn, [[{"id": 1, "v": "a"}]], complete=True)
    assert full.deleted == 1 and set(_live(conn)) == {"1"}
    back = _land(conn, [[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]])
    assert back.undeleted == 1 and set(_live(conn)) == {"1", "2"}


def test_scoped_and_reported_deletions(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    rows = [{"id": i, "v": str(i), "owner": str(i // 10)} for i in (1, 2, 11, 12, 21)]
    _land(conn, [rows])
    # Owner 1 was re-read completely and only row 11 is left: 12 is gone, owner 0 untouched.
    scoped = _land(
        conn, [[{"id": 11, "v": "11", "owner": "1"}]], complete=False, scope=["1"], scope_path="$.owner"
    )
    assert scoped.deleted == 1 and set(_live(conn)) == {"1", "2", "11", "21"}
    reported = _land(conn, [], complete=False, deleted=["21"])
    assert reported.deleted == 1 and set(_live(conn)) == {"1", "2", "11"}


def test_cursor_commits_with_the_rows(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    _land(conn, [[{"id": 1, "v": "a"}]], cursor="2026-01-01T00:00:00+00:00")
    state = read_state(conn, "t_items")
    assert state.cursor == "2026-01-01T00:00:00+00:00" and state.live_rows == 1
    assert state.last_full_refresh_at is not None


def _checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_failure_inside_landing_leaves_everything_as_before(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "w.duckdb"
    conn = duckdb.connect(str(db))
    _land(conn, [[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]], cursor="c1")
    conn.execute("CHECKPOINT")
    before = conn.execute("SELECT * FROM raw.t_items ORDER BY id").fetchall()
    state_before = read_state(conn, "t_items")

    import finance_pipeline.warehouse.landing as landing

    real_count = landing._count
    calls = {"n": 0}

    def exploding_count(c, sql):
        calls["n"] += 1
        if "deleted_at IS NULL AND TRUE" in sql:
            raise RuntimeError("simulated crash after the merge statements")
        return real_count(c, sql)

    monkeypatch.setattr(landing, "_count", exploding_count)
    with pytest.raises(RuntimeError):
        _land(conn, [[{"id": 1, "v": "CHANGED"}, {"id": 3, "v": "new"}]], cursor="c2")
    assert conn.execute("SELECT * FROM raw.t_items ORDER BY id").fetchall() == before
    assert read_state(conn, "t_items").cursor == state_before.cursor
    assert conn.execute("SELECT count(*) FROM raw.t_items__history").fetchone()[0] == 0


def test_staging_folders_of_dead_processes_are_swept(tmp_path, monkeypatch):
    """A run killed with SIGKILL leaves its staging folder; the next stager removes
    it, and leaves the folders of processes that are still running."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tmp_path / f"finance_stage_{dead.pid}_x1"
    (orphan / "sub").mkdir(parents=True)
    (orphan / "rows.parquet").write_bytes(b"0" * 1000)
    alive = tmp_path / f"finance_stage_{os.getppid()}_x2"
    alive.mkdir()
    unrelated = tmp_path / "finance_stage_notapid"
    unrelated.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with PageStager() as stager:
        stager.add([{"id": 1}])
        assert stager.path.parent.name.startswith(f"finance_stage_{os.getpid()}_")
        assert stager.path.parent.exists()
    assert not orphan.exists()
    assert alive.exists() and unrelated.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, unrelated.name])
