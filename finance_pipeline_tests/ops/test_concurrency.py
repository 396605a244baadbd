"""DuckDB writes never collide: the models run in the `duckdb_writer` pool (limit 1, set in
deploy/dagster.local.yaml), enforced across step processes of the multiprocess executor."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableJob

from finance_pipeline.sources.registry import SOURCE_NAMES

DUCKDB_WRITER_POOL = "duckdb_writer"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"

TOY_JOB = textwrap.dedent(
    """
    import json, os, time
    from pathlib import Path
    import dagster as dg

    WORK = Path(os.environ["POOL_TEST_DIR"])

    def _step(name, pool, wait_for_sibling):
        @dg.asset(name=name, pool=pool)
        def _a():
            # Announce "I am running", then look for a sibling of the same kind running too.
            group = pool or "free"
            me = WORK / f"{group}.{name}.running"
            me.touch()
            saw_sibling = False
            deadline = time.time() + wait_for_sibling
            while time.time() < deadline and not saw_sibling:
                saw_sibling = any(p != me for p in WORK.glob(f"{group}.*.running"))
                time.sleep(0.05)
            me.unlink()
            with open(WORK / "seen.jsonl", "a") as f:
                f.write(json.dumps([name, pool, saw_sibling]) + "\\n")
        return _a

    # Pooled steps look for 3 s: with the pool, the other one cannot be running meanwhile.
    assets = [_step(f"model_{i}", "duckdb_writer", 3.0) for i in range(2)]
    # Free steps wait up to 60 s for each other: they meet if the executor runs steps in parallel.
    assets += [_step(f"extract_{i}", None, 60.0) for i in range(2)]
    toy = dg.define_asset_job(
        "toy", executor_def=dg.multiprocess_executor.configured({"max_concurrent": 8})
    )
    defs = dg.Definitions(assets=assets, jobs=[toy])
    toy_job = defs.resolve_job_def("toy")
    """
)


def test_pool_limits_model_steps_to_one_at_a_time(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.local.yaml", home / "dagster.yaml")
    job_file = tmp_path / "toy_job.py"
    job_file.write_text(TOY_JOB)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("POOL_TEST_DIR", str(work))

    with dg.DagsterInstance.from_config(str(home)) as instance:
        job = ReconstructableJob.for_file(str(job_file), "toy_job")
        result = dg.execute_job(job, instance=instance)
        assert result.success

    rows = [json.loads(line) for line in (work / "seen.jsonl").read_text().splitlines()]
    pooled = {name: saw for name, pool, saw in rows if pool == DUCKDB_WRITER_POOL}
    free = {name: saw for name, pool, saw in rows if pool is None}
    assert len(pooled) == len(free) == 2
    assert not any(pooled.values()), f"two duckdb_writer steps ran at the same time: {pooled}"
    # The control: without a pool, steps do run side by side (else the check above proves nothing).
    assert all(free.values()), f"the executor did not run free steps in parallel: {free}"


def test_models_are_in_the_writer_pool_and_extractions_are_not() -> None:
    from finance_pipeline.definitions import defs

    graph = defs.get_repository_def().asset_graph
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    pools = {
        k.to_user_string(): graph.get(k).assets_def.op.pool
        for k in graph.get_all_asset_keys()
        if groups[k.to_user_string()] in (*SOURCE_NAMES, "staging", "marts")
    }
    models = [k for k, g in groups.items() if g in ("staging", "marts")]
    extractions = [k for k, g in groups.items() if g in SOURCE_NAMES]
    assert models and extractions
    assert {k: pools[k] for k in models} == dict.fromkeys(models, DUCKDB_WRITER_POOL)
    assert {k: pools[k] for k in extractions} == dict.fromkeys(extractions)
