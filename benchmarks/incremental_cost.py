"""Cost of an incremental run, before and after reconciliation (issue 12, "Cost").

One sandbox world (in this process; --transactions Adesk movements, --invoices invoices), a
full sync of every source into a DuckDB file, copied twice: "before" runs every entity without
its reconciliation plan (EntitySpec.reconcile = None: what an incremental run did before issue
12 item 4), "after" runs the pipeline as it is. On each copy: an incremental run with nothing
changed, then the world moves one day (World.advance(1) with history_churn: old movements
deleted, re-amounted and re-categorised, a late entry dated months back, an old invoice deleted
with its rows) and another incremental run. Printed per source and scenario: requests of the
entities' own reads, verification requests (comparisons + repairs; the rolling re-read apart),
wall time, and how many raw live records still differ from the sandbox's truth afterwards.

    .venv/bin/python benchmarks/incremental_cost.py                     # 100k movements
    .venv/bin/python benchmarks/incremental_cost.py --transactions 1000000 --invoices 100000
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import say, table

from finance_pipeline.config import load_settings
from finance_pipeline.sources.extraction import ExtractConfig, in_dependency_order, run_extraction
from finance_pipeline.sources.registry import BY_NAME, SOURCE_NAMES
from finance_pipeline.warehouse.resource import WarehouseResource
from finance_sandbox.__main__ import live_environment
from finance_sandbox.core import SOURCES, Sandbox, SandboxSettings, ServerRateLimit
from finance_sandbox.world import WorldSize

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "finance_pipeline_tests" / "reliability"))


def resources_for(env: dict[str, str]) -> dict[str, Any]:
    for source in SOURCE_NAMES:
        env[f"{source.upper()}_RATE_LIMIT"] = "1000"
        env[f"{source.upper()}_RATE_BURST"] = "1000"
    os.environ.update(env)
    settings = load_settings(env)
    return {s: BY_NAME[s].resource(settings).process_config_and_initialize() for s in SOURCE_NAMES}


def sync(resources: dict[str, Any], path: Path, *, full: bool, reconcile: bool,
         run: str) -> dict[str, dict[str, float]]:
    """Every entity of every source; per source: requests, verification, seconds."""
    warehouse = WarehouseResource(path=str(path))
    out: dict[str, dict[str, float]] = {}
    for source in SOURCE_NAMES:
        totals = {"requests": 0.0, "verification": 0.0, "rolling": 0.0, "seconds": 0.0}
        for spec in in_dependency_order(list(BY_NAME[source].entities)):
            if not reconcile:
                spec = dataclasses.replace(spec, reconcile=None)
            started = time.perf_counter()
            meta = run_extraction(
                spec, resource=resources[source], warehouse=warehouse,
                config=ExtractConfig(full_refresh=full), run_id=f"{run}-{spec.table}",
                log=lambda _m: None,
            )
            totals["seconds"] += time.perf_counter() - started
            totals["requests"] += meta["http_requests"]
            rolling = meta.get("verification_rolling_requests", 0)
            totals["verification"] += meta.get("verification_requests", 0) - rolling
            totals["rolling"] += rolling
        out[source] = totals
    return out


def differing(path: Path, sandbox: Sandbox) -> dict[str, int]:
    """Raw live records that differ from the truth (missing + extra), per source."""
    from reliability_kit import live_ids, truth_ids

    truth, present = truth_ids(sandbox.world), live_ids(path)
    out: dict[str, int] = {}
    for name, ids in truth.items():
        source = name.split("_", 1)[0]
        mine = present.get(name, set())
        out[source] = out.get(source, 0) + len(ids ^ mine)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=10_000)
    args = parser.parse_args(argv)
    os.environ["FINANCE_RATE_LIMIT_DIR"] = tempfile.mkdtemp(prefix="cost_buckets_")

    started = time.perf_counter()
    settings = SandboxSettings(size=WorldSize.scaled(args.invoices, args.transactions))
    settings.rate_limits = {s: ServerRateLimit(rate=1000.0, burst=1000) for s in SOURCES}
    sandbox = Sandbox(settings)
    world = sandbox.world
    world.history_churn = True
    say(f"world: {len(world.adesk_transactions)} movements, {len(world.bitrix_invoices)} "
        f"Bitrix24 invoices in {time.perf_counter() - started:.0f} s")
    workdir = Path(tempfile.mkdtemp(prefix="incremental_cost_"))
    try:
        with sandbox.serve() as servers:
            resources = resources_for(live_environment(servers.base_urls))
            base = workdir / "full.duckdb"
            started = time.perf_counter()
            sync(resources, base, full=True, reconcile=False, run="full")
            say(f"full sync: {time.perf_counter() - started:.0f} s")
            copies = {name: workdir / f"{name}.duckdb" for name in ("before", "after")}
            for path in copies.values():
                shutil.copy(base, path)
            results: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
            left: dict[tuple[str, str], dict[str, int]] = {}
            for scenario in ("nothing changed", "one day of changes"):
                if scenario == "one day of changes":
                    change = world.advance(1)
                    say(f"world.advance(1): created {change.total('created')}, updated "
                        f"{change.total('updated')}, deleted {change.total('deleted')}")
                for name, path in copies.items():
                    results[(scenario, name)] = sync(
                        resources, path, full=False, reconcile=name == "after",
                        run=f"{scenario}-{name}",
                    )
                    left[(scenario, name)] = differing(path, sandbox)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    rows = []
    for (scenario, name), per_source in results.items():
        for source, t in per_source.items():
            rows.append([
                scenario, name, source, int(t["requests"]), int(t["verification"]),
                int(t["rolling"]), round(t["seconds"], 1), left[(scenario, name)].get(source, 0),
            ])
    say(table(
        ["scenario", "run", "source", "entity requests", "verification requests",
         "rolling re-read requests", "wall s", "raw records wrong after"],
        rows,
        title=f"Incremental run cost ({args.transactions} movements, {args.invoices} invoices)",
    ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
