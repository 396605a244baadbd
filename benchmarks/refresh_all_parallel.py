"""refresh_all runs the four sources in parallel: its wall time is the slowest source's, not the sum.

Every run is `dagster job execute -m finance_pipeline.definitions -j <job>` in a subprocess, the
way `make demo` runs it (multiprocess executor: one process per source step, then one for the
SQL models), in sandbox mode with FINANCE_SANDBOX_LATENCY (default 0.1 s per request), each
with a temporary DAGSTER_HOME (deploy/dagster.local.yaml) and a fresh FINANCE_WAREHOUSE:

  1. refresh_all on an empty warehouse (every source, then every model);
  2. each `sync_<source>` job alone, each on its own empty warehouse;
  3. refresh_all again on the warehouse of run 1 with nothing changed upstream.

Printed: the wall time of each run (the CLI process, and the run itself from Dagster's run
record), when each step of refresh_all started and ended (they overlap), the sum and the
maximum of the sources' own runs against refresh_all, and for the re-run the requests each
entity made (materialization metadata `http_requests`) and what it changed.

    .venv/bin/python benchmarks/refresh_all_parallel.py
    .venv/bin/python benchmarks/refresh_all_parallel.py --latency 0.2
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import PYTHON, ROOT, say, table

from finance_pipeline.sources.registry import SOURCE_NAMES

DAGSTER = str(Path(PYTHON).parent / "dagster")


@dataclass
class RunResult:
    job: str
    ok: bool
    cli_seconds: float
    run_seconds: float
    steps: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (start, end)
    run_start: float = 0.0
    materializations: dict[str, dict[str, Any]] = field(default_factory=dict)
    output_tail: str = ""


def _metadata_value(value: Any) -> Any:
    return getattr(value, "value", value)


def read_run(dagster_home: Path) -> tuple[float, float, dict[str, tuple[float, float]],
                                          dict[str, dict[str, Any]], bool]:
    """The latest run of this DAGSTER_HOME: times, step spans, materialization metadata."""
    from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        record = instance.get_run_records(limit=1)[0]
        run_id = record.dagster_run.run_id
        events = instance.get_records_for_run(run_id, limit=100_000).records
        steps: dict[str, list[float]] = {}
        materializations: dict[str, dict[str, Any]] = {}
        for event_record in events:
            entry = event_record.event_log_entry
            event = entry.dagster_event
            if event is None:
                continue
            if event.event_type == DagsterEventType.STEP_START:
                steps.setdefault(event.step_key, [entry.timestamp, entry.timestamp])[0] = (
                    entry.timestamp
                )
            elif event.event_type in (DagsterEventType.STEP_SUCCESS,
                                      DagsterEventType.STEP_FAILURE):
                steps.setdefault(event.step_key, [entry.timestamp, entry.timestamp])[1] = (
                    entry.timestamp
                )
            elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                materialization = event.event_specific_data.materialization
                key = "/".join(materialization.asset_key.path)
                materializations[key] = {
                    k: _metadata_value(v) for k, v in materialization.metadata.items()
                }
        start = record.start_time or 0.0
        end = record.end_time or 0.0
        ok = record.dagster_run.status == DagsterRunStatus.SUCCESS
    spans = {k: (v[0], v[1]) for k, v in steps.items()}
    return start, end, spans, materializations, ok


def execute(job: str, dagster_home: Path, warehouse: Path, latency: float) -> RunResult:
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("BITRIX24_", "SALESMAN_", "ADESK_", "APIPAY_", "FINANCE_"))
    }
    env.update(
        DAGSTER_HOME=str(dagster_home),
        FINANCE_PIPELINE_MODE="sandbox",
        FINANCE_WAREHOUSE=str(warehouse),
        FINANCE_SANDBOX_LATENCY=str(latency),
        FINANCE_RATE_LIMIT_DIR=tempfile.mkdtemp(prefix="refresh_buckets_"),
    )
    started = time.perf_counter()
    done = subprocess.run(
        [DAGSTER, "job", "execute", "-m", "finance_pipeline.definitions", "-j", job],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    cli_seconds = time.perf_counter() - started
    run_start, run_end, steps, materializations, ok = read_run(dagster_home)
    tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
    return RunResult(
        job=job,
        ok=ok and done.returncode == 0,
        cli_seconds=cli_seconds,
        run_seconds=run_end - run_start,
        steps=steps,
        run_start=run_start,
        materializations=materializations,
        output_tail=tail,
    )


def new_home(base: Path, name: str) -> Path:
    home = base / name
    home.mkdir(parents=True)
    shutil.copy(ROOT / "deploy" / "dagster.local.yaml", home / "dagster.yaml")
    return home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.1, help="FINANCE_SANDBOX_LATENCY")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="refresh_all_bench_"))
    say(f"sandbox mode, FINANCE_SANDBOX_LATENCY={args.latency}, default world and rate limits; "
        f"work dir {base}")

    runs: dict[str, RunResult] = {}
    say("1. refresh_all on an empty warehouse ...")
    full_home = new_home(base, "refresh_all")
    full_wh = base / "refresh_all.duckdb"
    runs["refresh_all"] = execute("refresh_all", full_home, full_wh, args.latency)
    for source in SOURCE_NAMES:
        say(f"2. sync_{source} alone on an empty warehouse ...")
        runs[source] = execute(
            f"sync_{source}", new_home(base, source), base / f"{source}.duckdb", args.latency
        )
    say("3. refresh_all again, nothing changed upstream ...")
    rerun_home = new_home(base, "rerun")
    rerun = execute("refresh_all", rerun_home, full_wh, args.latency)
    failed = [r.job for r in [*runs.values(), rerun] if not r.ok]

    full = runs["refresh_all"]
    say("")
    step_rows = []
    for key, (start, end) in sorted(full.steps.items(), key=lambda kv: kv[1][0]):
        step_rows.append([key, start - full.run_start, end - full.run_start, end - start])
    say(table(["step of refresh_all", "started s", "ended s", "took s"], step_rows,
              title="refresh_all, step by step (seconds from the run's start)"))

    say("")
    source_rows = []
    for source in SOURCE_NAMES:
        r = runs[source]
        source_rows.append([f"sync_{source}", r.cli_seconds, r.run_seconds,
                            full.steps.get(f"{source}_extract", (0.0, 0.0))[1]
                            - full.steps.get(f"{source}_extract", (0.0, 0.0))[0]])
    sum_cli = sum(runs[s].cli_seconds for s in SOURCE_NAMES)
    sum_run = sum(runs[s].run_seconds for s in SOURCE_NAMES)
    max_run = max(runs[s].run_seconds for s in SOURCE_NAMES)
    models = full.steps.get("sql_models", (0.0, 0.0))
    source_rows += [
        ["sum of the four sync_<source> runs", sum_cli, sum_run, None],
        ["slowest sync_<source> run", max(runs[s].cli_seconds for s in SOURCE_NAMES), max_run, None],
        ["refresh_all (4 sources + models)", full.cli_seconds, full.run_seconds, None],
        ["  of which the models step", None, models[1] - models[0], None],
        ["refresh_all re-run, nothing changed", rerun.cli_seconds, rerun.run_seconds, None],
    ]
    say(table(["run", "CLI wall s", "run wall s", "same step in refresh_all s"], source_rows,
              title="Wall time: each source alone vs all at once (CLI wall includes loading "
              "Dagster and the definitions; run wall is Dagster's run record)"))
    def step_seconds(run: RunResult, key: str) -> float:
        start, end = run.steps.get(key, (0.0, 0.0))
        return end - start

    extract = [span for key, span in full.steps.items() if key.endswith("_extract")]
    phase = max(e for _, e in extract) - min(s for s, _ in extract) if extract else 0.0
    alone = {s: step_seconds(runs[s], f"{s}_extract") for s in SOURCE_NAMES}
    say("")
    say(table(
        ["sources' extraction steps", "seconds"],
        [
            ["sum of the four, each run alone", sum(alone.values())],
            [f"slowest alone ({max(alone, key=alone.__getitem__)})", max(alone.values())],
            ["all four inside refresh_all (first start to last end)", phase],
        ],
        title="Same comparison on the steps alone (no process start-up, no models)",
    ))
    say(f"refresh_all's sources phase = {phase / max(alone.values()):.2f} x the slowest source "
        f"and {phase / sum(alone.values()):.2f} x the sum; the whole refresh_all run "
        f"({full.run_seconds:.1f} s) = start-up {min(s for s, _ in extract) - full.run_start:.1f}"
        f" s + sources {phase:.1f} s + models {step_seconds(full, 'sql_models'):.1f} s + "
        "hand-over")

    say("")
    re_rows = []
    for key in sorted(rerun.materializations):
        meta = rerun.materializations[key]
        if "http_requests" not in meta:
            continue
        first = full.materializations.get(key, {})
        re_rows.append([
            key, meta.get("sync_mode", ""), first.get("http_requests"), meta["http_requests"],
            meta.get("rows_fetched"), meta.get("rows_inserted"), meta.get("rows_updated"),
            meta.get("rows_deleted"), meta.get("rows_live"),
        ])
    say(table(
        ["raw asset", "re-run mode", "requests 1st run", "requests re-run", "fetched",
         "inserted", "updated", "deleted", "live rows"],
        re_rows,
        title="Re-run with nothing changed (materialization metadata of each entity)",
    ))
    say(f"re-run: {sum(r[3] for r in re_rows)} requests in total vs "
        f"{sum(r[2] or 0 for r in re_rows)} for the first run; rows inserted/updated: "
        f"{sum(r[5] or 0 for r in re_rows)}/{sum(r[6] or 0 for r in re_rows)}")
    if failed:
        say(f"\nFAILED runs: {', '.join(failed)}")
        for r in [*runs.values(), rerun]:
            if not r.ok:
                say(f"--- {r.job} ---\n{r.output_tail}")
    shutil.rmtree(base, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
