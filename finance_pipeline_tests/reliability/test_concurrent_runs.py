"""Concurrency: two `refresh_all` runs started at the same moment on the same warehouse file.

Both are real `dagster job execute` processes (the job's own multiprocess executor: a process per
step, so up to ten processes write the one DuckDB file), sharing one DAGSTER_HOME configured as
deploy/dagster.local.yaml. Each must end successfully (writers queue on the file lock) or, if
one fails, say clearly why; afterwards the warehouse holds exactly the sandbox's truth, once,
with no spurious history, and the models equal those built from a clean single run.

Slow (1.5 to 2.5 minutes on two cores: two full runs, a process per step, models included).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from reliability_kit import (
    CANARY_SECRETS,
    assert_raw_matches_truth,
    build_models,
    checksums,
    environment,
    find_secrets,
    history_rows,
    live_env,
    live_resources,
    make_sandbox,
    raw_fingerprint,
    subprocess_env,
    sync_all,
)

from finance_pipeline.warehouse.resource import WarehouseResource

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DAGSTER = Path(sys.executable).with_name("dagster")


def test_two_refresh_all_runs_at_once(canaries, tmp_path: Path) -> None:
    sandbox = make_sandbox()
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.local.yaml", home / "dagster.yaml")
    dg.DagsterInstance.from_config(str(home)).dispose()
    warehouse = tmp_path / "warehouse.duckdb"
    reference = tmp_path / "reference.duckdb"
    with sandbox.serve() as servers:
        env = live_env(servers, warehouse)
        with environment({**env, "FINANCE_RATE_LIMIT_DIR": str(tmp_path / "ref_buckets")}):
            sync_all(live_resources(env), WarehouseResource(path=str(reference)))
        run_env = subprocess_env(
            {**env, "DAGSTER_HOME": str(home), "FINANCE_RATE_LIMIT_DIR": str(tmp_path / "b")}
        )
        command = [str(DAGSTER), "job", "execute", "-m", "finance_pipeline.definitions",
                   "-j", "refresh_all"]
        logs = [tmp_path / "run_a.log", tmp_path / "run_b.log"]
        runs = [
            subprocess.Popen(command, env=run_env, stdout=open(log, "wb"),  # noqa: SIM115
                             stderr=subprocess.STDOUT, cwd=tmp_path)
            for log in logs
        ]
        codes = [run.wait(timeout=400) for run in runs]
    outputs = [log.read_text(errors="replace") for log in logs]
    for code, output in zip(codes, outputs, strict=True):
        if code != 0:
            # Allowed only as a clear refusal, never as a half-done warehouse (checked below).
            assert "warehouse" in output.lower() and "lock" in output.lower(), output[-4000:]
    assert 0 in codes, "neither run succeeded"
    assert all("RUN_SUCCESS" in o for o, c in zip(outputs, codes, strict=True) if c == 0)

    assert_raw_matches_truth(warehouse, sandbox.world)
    assert raw_fingerprint(warehouse) == raw_fingerprint(reference)
    assert not any(history_rows(warehouse).values()), "a run re-landed a different version"
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        for table, in conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema = 'raw' AND table_name NOT LIKE '%__history'"
        ).fetchall():
            rows, distinct = conn.execute(
                f"SELECT count(*), count(DISTINCT {'entity' if '._' in table else 'id'}) "
                f"FROM {table}"
            ).fetchone()  # type: ignore[misc]
            assert rows == distinct, table
    build_models(reference)
    ours = checksums(warehouse, content_only=True)
    theirs = checksums(reference, content_only=True)
    models = [t for t in theirs if t.split(".")[0] in ("staging", "marts")]
    assert {t: ours.get(t) for t in models} == {t: theirs[t] for t in models}

    paths = [home, *logs, warehouse]
    assert find_secrets(CANARY_SECRETS, texts=dict(zip(["a", "b"], outputs, strict=True)),
                        paths=paths) == []
