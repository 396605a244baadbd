"""Crash: the run process is killed with SIGKILL in the middle of a sync.

`refresh_all` runs in a separate process (Definitions loaded from the environment, live mode
against the sandbox servers of this test, which answer slowly enough to be caught mid-flight).
It is killed twice: while Adesk entities are being fetched and landed one after the other,
then, in the next run, while Adesk contractor requisites (a request per contractor) are. After
each kill the warehouse must open and hold only whole entities (every raw table with rows
holds exactly the sandbox's records, its cursor was committed with it, no half-written
payload). The next run then ends equal to the truth, with no duplicates and no spurious
history.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest.mock import patch

import dagster as dg
import duckdb
import pytest
from reliability_kit import (
    CANARY_SECRETS,
    all_tables,
    assert_raw_matches_truth,
    checksums,
    environment,
    find_secrets,
    history_rows,
    live_env,
    make_sandbox,
    pipeline_definitions,
    step_failures,
    subprocess_env,
    truth_ids,
)

from finance_sandbox.core import Sandbox, SandboxServers

pytestmark = pytest.mark.timeout(240)

RUNNER = """
import sys
import tempfile
import dagster as dg
from finance_pipeline.definitions import build_definitions

job = build_definitions().resolve_job_def("refresh_all")
with dg.DagsterInstance.get() as instance:
    result = job.execute_in_process(instance=instance, raise_on_error=False)
print("RUN SUCCESS" if result.success else "RUN FAILED", flush=True)
sys.exit(0 if result.success else 1)
"""


@dataclass
class Rig:
    sandbox: Sandbox
    servers: SandboxServers
    home: Path
    warehouse: Path
    logs: Path
    env: dict[str, str]

    def start(self, name: str) -> subprocess.Popen[bytes]:
        out = open(self.logs / f"{name}.out", "wb")  # noqa: SIM115 - closed with the process
        return subprocess.Popen(
            [sys.executable, "-c", RUNNER],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed as a whole below
        )

    def requests(self, source: str) -> int:
        return self.sandbox.counters[source]["requests"]


@pytest.fixture(scope="module")
def rig(canaries, module_dir: Path) -> Iterator[Rig]:
    # 10 ms more per request: a SalesMan details sync (a request per invoice) takes seconds.
    sandbox = make_sandbox(latency=0.01)
    home = module_dir / "dagster_home"
    home.mkdir()
    dg.DagsterInstance.from_config(str(home)).dispose()  # storage created once, up front
    logs = module_dir / "logs"
    logs.mkdir()
    (module_dir / "tmp").mkdir()
    warehouse = module_dir / "warehouse.duckdb"
    with sandbox.serve() as servers:
        env = subprocess_env(
            {
                **live_env(servers, warehouse),
                "DAGSTER_HOME": str(home),
                "FINANCE_RATE_LIMIT_DIR": str(module_dir / "buckets"),
                "TMPDIR": str(module_dir / "tmp"),
            }
        )
        yield Rig(sandbox, servers, home, warehouse, logs, env)


def kill_when(rig: Rig, proc: subprocess.Popen[bytes], ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 120
    while not ready():
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def assert_whole_entities(rig: Rig) -> set[str]:
    """The file opens; every raw table with rows holds one whole, committed entity."""
    truth = truth_ids(rig.sandbox.world)
    expected = {t for ts in all_tables().values() for t in ts}
    landed = set()
    # Read-write, as the next run opens it: DuckDB replays or discards its WAL here.
    with duckdb.connect(str(rig.warehouse)) as conn:
        state = dict(
            conn.execute("SELECT entity, live_rows FROM raw._sync_state").fetchall()
            if conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = '_sync_state'"
            ).fetchone()[0]  # type: ignore[index]
            else []
        )
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
            ).fetchall()
        }
        for table in sorted(tables & expected):
            rows, distinct, corrupt = conn.execute(
                f"""SELECT count(*), count(DISTINCT id), count(*) FILTER (
                        WHERE content_hash <> md5(CAST(payload AS VARCHAR)))
                    FROM raw.{table}"""
            ).fetchone()  # type: ignore[misc]
            assert rows == distinct and corrupt == 0, table
            if rows == 0:
                assert table not in state, f"{table}: a cursor without its rows"
                continue
            ids = {r[0] for r in conn.execute(f"SELECT id FROM raw.{table}").fetchall()}
            assert ids == truth[table], f"raw.{table} holds a partial entity"
            assert state.get(table) == rows, f"{table}: rows without their cursor"
            landed.add(table)
    assert not any(history_rows(rig.warehouse).values())
    return landed


def test_sigkill_mid_sync_leaves_whole_entities_and_the_next_run_completes(rig: Rig) -> None:
    # 1: killed while Adesk lands entity after entity (one request each).
    start = rig.requests("adesk")
    run = rig.start("run1")
    kill_when(rig, run, lambda: rig.requests("adesk") - start >= 6)
    first = assert_whole_entities(rig)
    assert first, "nothing landed before the kill: the test proves nothing"
    assert any(t.startswith("adesk_") for t in first)
    content_after_first = checksums(rig.warehouse, content_only=True)

    # 2: the next run is killed while it reads Adesk contractor requisites (52 requests).
    start = rig.requests("adesk")
    run = rig.start("run2")
    kill_when(rig, run, lambda: rig.requests("adesk") - start >= 25)
    second = assert_whole_entities(rig)
    assert first <= second
    # What the first run committed was re-read (nothing changed upstream): same content.
    content = checksums(rig.warehouse, content_only=True)
    for table in first:
        assert content[f"raw.{table}"] == content_after_first[f"raw.{table}"], table

    # The killed runs could not remove their staging folders...
    tmp = Path(rig.env["TMPDIR"])
    orphans = list(tmp.glob("finance_stage_*"))
    assert orphans, "the kills left no staging folder: the sweep below proves nothing"

    # 3: an uninterrupted run (of the raw layer) ends equal to the truth: every entity, once.
    with environment({k: rig.env[k] for k in live_env(rig.servers, rig.warehouse)}), \
            patch.object(tempfile, "tempdir", str(tmp)):
        job = pipeline_definitions().resolve_job_def("refresh_all")
        raw = [k for k in job.asset_layer.executable_asset_keys if k.path[0] == "raw"]
        result = job.execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), asset_selection=raw, raise_on_error=False
        )
    assert result.success, step_failures(result)
    assert_raw_matches_truth(rig.warehouse, rig.sandbox.world)
    assert assert_whole_entities(rig) == {t for ts in all_tables().values() for t in ts}
    # ...and the next run swept them (its own were removed as each entity landed).
    assert list(tmp.glob("finance_stage_*")) == []


def test_killed_runs_leak_no_secret(rig: Rig) -> None:
    paths = [rig.logs, rig.home, rig.warehouse.parent]
    assert find_secrets(CANARY_SECRETS, paths=paths) == []
