"""Landing is idempotent, reflects edits and deletions, and is all-or-nothing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import duckdb
import pytest

from finance_pipeline.http.answer import VerbatimRecords, parse_answer, verbatim_records
from finance_pipeline.sources.salesman.entities import invoice_key
from finance_pipeline.warehouse.landing import PageStager, content_hash, land, payload_text
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


# --- the DuckDB-side path: ids, hashes and payloads read by DuckDB from the staged text -----


def _land_with(conn, pages, id_paths, *, table="t_items", complete=True, cursor=None):
    with PageStager(id_paths) as stager:
        for page in pages:
            stager.add(page)
        return land(
            conn,
            table=table,
            stager=stager,
            run_id="run",
            entity=table,
            new_cursor=cursor,
            complete_snapshot=complete,
        )


def test_payloads_are_stored_as_received_and_hashed_as_before(tmp_path: Path) -> None:
    """Numbers sent as strings stay strings, text with tabs, newlines, quotes and Cyrillic
    survives byte for byte, and content_hash is the md5 of the same compact JSON the earlier
    stager hashed (so rows landed before this path keep their hashes)."""
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    rows = [
        {"id": 1, "amount": "1500.50", "count": "3", "note": "tab\there\nline \"q\" \\ Жук ☃"},
        {"id": "A-2", "amount": 1500.5, "big": 123456789012345678901234567890, "none": None},
        {"id": 3, "nested": {"b": [1, {"c": "d"}], "a": True}, "empty": "", "u": "\u2028"},
    ]
    _land_with(conn, [rows], ("$.id",))
    stored = dict(conn.execute("SELECT id, payload::VARCHAR FROM raw.t_items").fetchall())
    hashes = dict(conn.execute("SELECT id, content_hash FROM raw.t_items").fetchall())
    for row in rows:
        expected = json.dumps(row, ensure_ascii=False, separators=(",", ":"))
        assert stored[str(row["id"])] == expected
        assert hashes[str(row["id"])] == content_hash(expected) == content_hash(payload_text(row))
        assert json.loads(stored[str(row["id"])]) == row


def test_ids_follow_the_same_rule_as_the_python_id_functions(tmp_path: Path) -> None:
    """("$.id", "$.crid") is SalesMan's invoice_key: a present id wins, else crid; numbers
    and strings give the text str() gives."""
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    rows = [
        {"id": 10, "crid": 99, "v": "a"},
        {"crid": 11, "v": "b"},
        {"id": "12", "v": "c"},
        {"crid": "x-13", "v": "d"},
        {"id": 12345678901234567, "v": "e"},
    ]
    _land_with(conn, [rows], ("$.id", "$.crid"))
    landed = {r[0] for r in conn.execute("SELECT id FROM raw.t_items").fetchall()}
    assert landed == {invoice_key(row) for row in rows}
    assert landed == {"10", "11", "12", "x-13", "12345678901234567"}


def test_a_first_load_lands_the_same_rows_with_or_without_duplicate_lines(tmp_path: Path) -> None:
    """Lines that are all new records are inserted straight from the staged file; lines with a
    repeated id go through the keys table (last version wins). Both give the same rows."""
    rows = [
        {"id": 10, "crid": 99, "v": "a"},
        {"crid": "x-11", "v": "Жук\tb"},
        {"id": "12", "v": None, "n": {"m": [1, 2.5]}},
    ]
    stored = "SELECT id, payload::VARCHAR, content_hash, first_seen_at = changed_at FROM raw.t_items ORDER BY id"
    straight = duckdb.connect(str(tmp_path / "straight.duckdb"))
    first = _land_with(straight, [rows], ("$.id", "$.crid"))
    keyed = duckdb.connect(str(tmp_path / "keyed.duckdb"))
    stale = {**rows[1], "v": "stale"}
    second = _land_with(keyed, [[stale], rows], ("$.id", "$.crid"))
    assert (first.inserted, second.inserted, second.fetched) == (3, 3, 3)
    assert straight.execute(stored).fetchall() == keyed.execute(stored).fetchall()
    assert [r[0] for r in straight.execute(stored).fetchall()] == ["10", "12", "x-11"]
    assert {r[2] for r in straight.execute(stored).fetchall()} == {
        content_hash(payload_text(row)) for row in rows
    }


@pytest.mark.parametrize(
    "bad",
    [{"v": "no id at all"}, {"id": None, "crid": 5}, {"id": ""}, {"id": {"n": 1}}, {"id": [1]}],
)
def test_a_record_without_a_usable_id_fails_the_landing_and_writes_nothing(tmp_path: Path, bad) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    _land_with(conn, [[{"id": 1, "v": "a"}]], ("$.id", "$.crid"), cursor="c1")
    before = conn.execute("SELECT * FROM raw.t_items ORDER BY id").fetchall()
    with pytest.raises(ValueError, match="record without an id") as info:
        _land_with(conn, [[{"id": 2, "v": "b"}], [bad]], ("$.id", "$.crid"), cursor="c2")
    assert json.dumps(bad, ensure_ascii=False, separators=(",", ":"))[:30] in str(info.value)
    assert conn.execute("SELECT * FROM raw.t_items ORDER BY id").fetchall() == before
    assert read_state(conn, "t_items").cursor == "c1"


def test_id_paths_are_checked_before_anything_is_fetched() -> None:
    for bad in [(), ("id",), ("$.id'; DROP TABLE x; --",), ("$[0]",)]:
        with pytest.raises(ValueError):
            PageStager(bad)


def test_the_last_version_wins_within_a_page_too(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    result = _land_with(
        conn, [[{"id": 1, "v": "first"}, {"id": 2, "v": "x"}, {"id": 1, "v": "second"}]], ("$.id",)
    )
    assert result.fetched == 2 and _live(conn) == {"1": "second", "2": "x"}


def test_a_reappearing_record_is_kept_in_history_as_reappeared(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    _land(conn, [[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]])
    _land(conn, [[{"id": 1, "v": "a"}]], complete=True)
    back = _land(conn, [[{"id": 1, "v": "a"}, {"id": 2, "v": "b2"}]])
    assert back.undeleted == 1 and _live(conn) == {"1": "a", "2": "b2"}
    history = conn.execute(
        "SELECT id, payload->>'$.v', replaced_because FROM raw.t_items__history"
    ).fetchall()
    assert history == [("2", "b", "reappeared")]


def test_staging_holds_no_page_in_python_memory(tmp_path: Path, monkeypatch) -> None:
    """Pages go to the staging file as they arrive: staging 40 MB of records keeps Python's
    allocations at about one page, and the rows all land."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    filler = "ж" * 1000

    def page(n: int) -> list[dict]:
        return [{"id": n * 100 + i, "text": filler, "n": i} for i in range(100)]

    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    with PageStager() as stager:
        tracemalloc.start()
        try:
            for n in range(200):  # 20,000 records of ~2 KB each as UTF-8
                stager.add(page(n))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert stager.path.stat().st_size > 40_000_000
        result = land(
            conn, table="t_items", stager=stager, run_id="r", entity="t_items",
            new_cursor=None, complete_snapshot=True,
        )
    assert peak < 5_000_000, f"staging kept {peak / 1e6:.1f} MB in Python"
    assert result.inserted == 20_000


_KILLED_LANDING = """
import os, signal, sys
import duckdb
import finance_pipeline.warehouse.landing as landing
from finance_pipeline.warehouse.landing import PageStager, land

conn = duckdb.connect(sys.argv[1])

def killed(c, sql):  # SIGKILL after the merge statements ran, before COMMIT
    os.kill(os.getpid(), signal.SIGKILL)

landing._count = killed
stager = PageStager()
stager.add([{"id": 1, "v": "CHANGED"}, {"id": 3, "v": "new"}])
land(conn, table="t_items", stager=stager, run_id="killed", entity="t_items",
     new_cursor="c2", complete_snapshot=True)
"""


def test_a_killed_landing_leaves_nothing_half_written(tmp_path: Path, monkeypatch) -> None:
    """SIGKILL inside the landing transaction (merge done, not committed): the file opens
    with the rows, history and cursor of before; the next stager sweeps the staging folder."""
    db = tmp_path / "w.duckdb"
    conn = duckdb.connect(str(db))
    _land(conn, [[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]], cursor="c1")
    before = conn.execute("SELECT * FROM raw.t_items ORDER BY id").fetchall()
    conn.close()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    killed = subprocess.run([sys.executable, "-c", _KILLED_LANDING, str(db)], env=env, check=False)
    assert killed.returncode == -9
    assert list(tmp_path.glob("finance_stage_*")), "the killed run left no staging folder"
    conn = duckdb.connect(str(db))
    assert conn.execute("SELECT * FROM raw.t_items ORDER BY id").fetchall() == before
    assert conn.execute("SELECT count(*) FROM raw.t_items__history").fetchone()[0] == 0
    assert read_state(conn, "t_items").cursor == "c1"
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    again = _land(conn, [[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]], cursor="c2")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    assert list(tmp_path.glob("finance_stage_*")) == []


def test_the_session_settings_the_landing_changes_are_restored(tmp_path: Path) -> None:
    """The merge turns off insertion order and pins join sides for its own statements only:
    the connection the caller gets back behaves as before, also after a failed landing."""
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    conn.execute("SET disabled_optimizers = 'statistics_propagation'")
    settings = "SELECT current_setting('disabled_optimizers'), current_setting('preserve_insertion_order')"
    before = conn.execute(settings).fetchone()
    _land(conn, [[{"id": 1, "v": "a"}]])
    _land(conn, [[{"id": 1, "v": "b"}, {"id": 2, "v": "c"}]])  # insert and update paths
    assert conn.execute(settings).fetchone() == before
    with pytest.raises(ValueError):
        _land(conn, [[{"id": 3}, {"v": "no id"}]])
    assert conn.execute(settings).fetchone() == before


# --- pages staged as the server wrote them (http/answer.py VerbatimRecords) ------------------


def _verbatim_page(body: str, key: str = "data") -> list:
    """The records of an answer as a fetch hands them on: parsed by the client, text kept."""
    page = verbatim_records(parse_answer(body.encode()), key)
    assert isinstance(page, VerbatimRecords)
    return page


def test_a_verbatim_page_keeps_every_digit_of_money(tmp_path: Path) -> None:
    """Number literals land exactly as sent (a float would make 12345678901234567.89 into
    12345678901234568 and 0.10 into 0.1), and the hash is the md5 of the server's text."""
    record = '{"id": 7, "amount": 12345678901234567.89, "fee": 0.10, "n": "Жук \\u0416"}'
    page = _verbatim_page('{"data": [ ' + record + ' ], "total": 1}')
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    result = _land_with(conn, [page], ("$.id",))
    assert result.inserted == 1
    payload, digest, amount, fee = conn.execute(
        "SELECT payload::VARCHAR, content_hash, m.amount, m.fee FROM (SELECT *, from_json("
        "payload, '{\"amount\": \"DECIMAL(38, 2)\", \"fee\": \"DECIMAL(10, 2)\"}') AS m "
        "FROM raw.t_items)"
    ).fetchone()
    assert payload == record and digest == content_hash(record)
    assert "12345678901234567.89" in payload and '"fee": 0.10' in payload
    assert (str(amount), str(fee)) == ("12345678901234567.89", "0.10")


def test_rows_landed_by_the_python_encoder_are_unchanged_when_landed_verbatim(tmp_path: Path) -> None:
    """A warehouse landed before pages were staged verbatim (each record re-encoded by the
    `json` module) and re-landed from the same answers: other text, same values, so no row
    is changed and no history is written; a real edit in the same run still is one."""
    body = (
        '{"data": [\n  {"id": 1, "amount": 1500.50, "name": "\\u0416\\u0443\\u043a", "tags": [ ]},\n'
        '  {"id": 2, "amount": "99.90", "big": 12345678901234567.89, "ok": true},\n'
        '  {"id": 3, "v": "a"}\n], "total": 3}'
    )
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    parsed = [dict(row) for row in parse_answer(body.encode())["data"]]
    old = _land_with(conn, [parsed], ("$.id",))  # a plain list: the encoder's text, as before
    assert old.inserted == 3
    edited = body.replace('"v": "a"', '"v": "A"')
    again = _land_with(conn, [_verbatim_page(edited)], ("$.id",))
    assert (again.inserted, again.updated, again.unchanged, again.deleted) == (0, 1, 2, 0)
    history = conn.execute("SELECT id, replaced_because FROM raw.t_items__history").fetchall()
    assert history == [("3", "changed")]
    # The rows now hold the server's text; a third run of the same answer changes nothing.
    stored = conn.execute("SELECT payload::VARCHAR FROM raw.t_items WHERE id = '2'").fetchone()[0]
    assert "12345678901234567.89" in stored
    third = _land_with(conn, [_verbatim_page(edited)], ("$.id",))
    assert (third.updated, third.unchanged) == (0, 3)
    assert conn.execute("SELECT count(*) FROM raw.t_items__history").fetchone()[0] == 1


def test_verbatim_and_encoded_pages_mix_and_the_last_version_wins(tmp_path: Path) -> None:
    """A run may stage both kinds of page; order across them is the arrival order, also on a
    first load where one id arrives twice (the one-pass insert gives way to the merge)."""
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    pages = [
        _verbatim_page('{"data": [{"id": 1, "v": "old"}, {"id": 2, "v": "x"}]}'),
        [{"id": 3, "v": "built"}],
        _verbatim_page('{"data": [{"id": 1, "v": "new"}]}'),
    ]
    result = _land_with(conn, pages, ("$.id",))
    assert (result.inserted, result.fetched) == (3, 3)
    assert _live(conn) == {"1": "new", "2": "x", "3": "built"}


def test_a_verbatim_page_changed_after_parsing_fails_the_landing(tmp_path: Path) -> None:
    """Records appended to a VerbatimRecords list are not in its text: the counts disagree
    and nothing is written (on a first load and on a merge alike)."""
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    for _ in range(2):
        page = _verbatim_page('{"data": [{"id": 1, "v": "a"}]}')
        page.append({"id": 2, "v": "added in Python"})
        with pytest.raises(ValueError, match="1 records but 2 were staged"):
            _land_with(conn, [page], ("$.id",), cursor="c2")
        assert conn.execute("SELECT count(*) FROM raw.t_items").fetchone()[0] in (0, 1)
        _land_with(conn, [[{"id": 9, "v": "z"}]], ("$.id",), cursor="c1")
    assert _live(conn) == {"9": "z"} and read_state(conn, "t_items").cursor == "c1"


@pytest.mark.parametrize("bad", ['{"v": 1}', '{"id": null}', '{"id": ""}', '{"id": {"n": 1}}'])
def test_a_first_load_refuses_a_record_without_an_id(tmp_path: Path, bad: str) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    page = _verbatim_page('{"data": [{"id": 1}, ' + bad + ']}')
    with pytest.raises(ValueError, match="record without an id"):
        _land_with(conn, [page], ("$.id",), cursor="c1")
    assert conn.execute("SELECT count(*) FROM raw.t_items").fetchone()[0] == 0
    assert read_state(conn, "t_items").cursor is None


def test_a_page_added_after_finish_is_still_landed(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    with PageStager(("$.id",)) as stager:
        stager.add(_verbatim_page('{"data": [{"id": 1, "v": "a"}]}'))
        stager.finish()
        stager.add([{"id": 2, "v": "b"}])
        land(conn, table="t_items", stager=stager, run_id="r", entity="t_items",
             new_cursor=None, complete_snapshot=True)
    assert _live(conn) == {"1": "a", "2": "b"}


_KILLED_FIRST_LOAD = """
import os, signal, sys
import duckdb
import finance_pipeline.warehouse.landing as landing
from finance_pipeline.warehouse.landing import PageStager, land

conn = duckdb.connect(sys.argv[1])

def killed(stager, read):  # SIGKILL after the one-pass insert ran, before COMMIT
    os.kill(os.getpid(), signal.SIGKILL)

landing._check_staged_count = killed
stager = PageStager()
stager.add([{"id": 1, "v": "a"}, {"id": 2, "v": "b"}])
land(conn, table="t_items", stager=stager, run_id="killed", entity="t_items",
     new_cursor="c1", complete_snapshot=True)
"""


def test_a_killed_first_load_leaves_nothing_written(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    killed = subprocess.run([sys.executable, "-c", _KILLED_FIRST_LOAD, str(db)], env=env, check=False)
    assert killed.returncode == -9
    conn = duckdb.connect(str(db))
    assert conn.execute("SELECT count(*) FROM raw.t_items").fetchone()[0] == 0
    assert read_state(conn, "t_items").cursor is None


def test_the_last_version_wins_across_a_large_staging_file(tmp_path: Path, monkeypatch) -> None:
    """Arrival order comes from the records' positions in the file (WITH ORDINALITY): it
    holds over many read buffers and several DuckDB threads, for verbatim pages as for
    encoded ones. Every record of the first 100 pages arrives again, changed, later on."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    filler = "ж" * 500

    def body(n: int, version: str) -> str:
        records = ",".join(
            f'{{"id": {n * 100 + i}, "v": "{version}", "text": "{filler}"}}' for i in range(100)
        )
        return '{"data": [' + records + "]}"

    pages: list[list] = [_verbatim_page(body(n, "first")) for n in range(200)]
    pages += [_verbatim_page(body(n, "again")) for n in range(0, 100, 2)]
    pages += [[{"id": n * 100 + i, "v": "again"} for i in range(100)] for n in range(1, 100, 2)]
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    conn.execute("SET threads = 4")
    result = _land_with(conn, pages, ("$.id",))
    assert (result.inserted, result.fetched) == (20_000, 20_000)
    versions = dict(conn.execute(
        "SELECT payload->>'$.v', count(*) FROM raw.t_items GROUP BY 1").fetchall())
    assert versions == {"again": 10_000, "first": 10_000}
    assert conn.execute(
        "SELECT count(*) FROM raw.t_items WHERE (payload->>'$.v' = 'again') <> (id::INT < 10000)"
    ).fetchone()[0] == 0
