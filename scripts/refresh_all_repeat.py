"""Run `refresh_all` several times in a row with the multiprocess executor and report each run.

    .venv/bin/python scripts/refresh_all_repeat.py [--runs 5] [--keep DIR]

Each run is `dagster job execute -m finance_pipeline.definitions -j refresh_all`, the command
`make demo` uses, against the sandbox, a fresh warehouse and a fresh DAGSTER_HOME with
deploy/dagster.local.yaml (so the `duckdb_writer` pool applies). The first run is a full sync into
an empty warehouse; the following runs are incremental. For each run it prints the status, the
wall time, the failed steps, and the requests, retries and throttled answers summed over the
extraction assets' metadata. It exits non-zero if any run did not succeed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _summarize(home: Path, run_number: int) -> tuple[bool, str]:
    import dagster as dg
    from dagster._core.events import DagsterEventType

    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_run_records(dg.RunsFilter(job_name="refresh_all"), limit=1)
        if not records:
            return False, f"run {run_number}: no run recorded"
        run = records[0].dagster_run
        totals = {"requests": 0.0, "retries": 0.0, "throttled": 0.0}
        failed_steps = []
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            if event.event_type == DagsterEventType.STEP_FAILURE:
                failed_steps.append(event.step_key)
            if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                metadata = event.event_specific_data.materialization.metadata
                for name in totals:
                    value = metadata.get(f"http_{name}")
                    if value is not None:
                        totals[name] += float(value.value)
        ok = run.status == dg.DagsterRunStatus.SUCCESS
        line = (
            f"run {run_number}: {run.status.value:<8} "
            f"requests={totals['requests']:.0f} retries={totals['retries']:.0f} "
            f"throttled={totals['throttled']:.0f} failed_steps={failed_steps or '-'}"
        )
        return ok, line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="work directory to use and keep")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="refresh_all_repeat_"))
    home = work / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "deploy" / "dagster.local.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "FINANCE_PIPELINE_MODE": "sandbox",
        "FINANCE_WAREHOUSE": str(work / "warehouse.duckdb"),
        "FINANCE_RATE_LIMIT_DIR": str(work / "buckets"),
        "DAGSTER_HOME": str(home),
    }
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "job", "execute", "-m", "finance_pipeline.definitions"]
    command += ["-j", "refresh_all"]
    all_ok = True
    for number in range(1, args.runs + 1):
        started = time.monotonic()
        with (work / f"run_{number}.log").open("wb") as log:
            subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        ok, line = _summarize(home, number)
        all_ok &= ok
        print(f"{line} seconds={time.monotonic() - started:.0f}", flush=True)
    print(f"logs and instance in {work}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
