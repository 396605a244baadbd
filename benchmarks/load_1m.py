"""Load: a full sync of every source at a million Adesk movements, then every model.

The sandbox (1,000,000 Adesk transactions and 100,000 invoices by default) runs in a
subprocess (benchmarks/sandbox_server.py), so its memory is not counted. This process is the
pipeline: it builds each source's live-mode resource from the environment the sandbox prints
(exactly like a user's configuration, EnvVar secrets resolved as in a Dagster run), runs
`run_extraction` for every entity with a full refresh into a fresh DuckDB file, then builds
every SQL model (and runs every SQL check) on that file.

This measures our pipeline, not the APIs' throttles: the sandbox's server-side rate limits are
raised to --server-rate/--server-burst (default 1000/s, burst 1000) and the client's through
the documented <SOURCE>_RATE_LIMIT / <SOURCE>_RATE_BURST variables (same defaults). Latency
per request is 0 unless --latency is given.

Prints rows, requests and wall time per entity and source, the models' time, and the peak RSS
of this (the pipeline) process per phase: during the fetch of an entity (pages streamed to the
stager), during its landing (the DuckDB merge) and during each model. The target is a peak
under 1 GB; a fetch phase whose RSS grows with the rows would mean the source accumulates.

    .venv/bin/python benchmarks/load_1m.py                      # 1M transactions, 100k invoices
    .venv/bin/python benchmarks/load_1m.py --transactions 200000 --invoices 20000
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    RssSampler,
    maxrss_mb,
    peak_rss_mb,
    reset_peak_rss,
    rss_mb,
    sandbox_process,
    say,
    table,
)

from finance_pipeline.config import load_settings
from finance_pipeline.sources import extraction
from finance_pipeline.sources.extraction import ExtractConfig, in_dependency_order, run_extraction
from finance_pipeline.sources.registry import BY_NAME, SOURCE_NAMES
from finance_pipeline.warehouse.resource import WarehouseResource

TARGET_MB = 1024
# VmHWM is reset between phases (and getrusage's ru_maxrss with it), so the process's peak is
# the largest of every phase's reading; a sampling thread cross-checks it.
READINGS: list[float] = []


def phase_peak() -> float:
    value = peak_rss_mb()
    READINGS.append(value)
    return value


class PhasePeaks:
    """Peak RSS of the fetch and of the landing of one entity (VmHWM, reset between phases)."""

    def __init__(self) -> None:
        self.fetch = 0.0
        self.land = 0.0
        self.land_seconds = 0.0

    def install(self) -> None:
        real_land = extraction.land

        def measured_land(*args: Any, **kwargs: Any) -> Any:
            self.fetch = max(self.fetch, phase_peak())
            reset_peak_rss()
            started = time.perf_counter()
            try:
                return real_land(*args, **kwargs)
            finally:
                self.land_seconds += time.perf_counter() - started
                self.land = max(self.land, phase_peak())
                reset_peak_rss()

        extraction.land = measured_land  # run_extraction looks `land` up in its module


def live_resources(env: dict[str, str], rate: float, burst: int) -> dict[str, Any]:
    for source in SOURCE_NAMES:
        env[f"{source.upper()}_RATE_LIMIT"] = str(rate)
        env[f"{source.upper()}_RATE_BURST"] = str(burst)
    os.environ.update(env)  # the resources' secrets are EnvVars, resolved from here
    settings = load_settings(env)
    resources = {}
    for source in SOURCE_NAMES:
        resource = BY_NAME[source].resource(settings)
        resources[source] = resource.process_config_and_initialize()
    return resources


def sync_all(resources: dict[str, Any], warehouse: WarehouseResource, sources: list[str]):
    peaks = PhasePeaks()
    peaks.install()
    entity_rows: list[list[Any]] = []
    source_rows: list[list[Any]] = []
    for source in sources:
        source_started = time.perf_counter()
        totals = {"rows": 0, "requests": 0, "throttled": 0, "fetch": 0.0, "land": 0.0}
        for spec in in_dependency_order(list(BY_NAME[source].entities)):
            reset_peak_rss()
            before = rss_mb()
            peaks.fetch = peaks.land = peaks.land_seconds = 0.0
            started = time.perf_counter()
            meta = run_extraction(
                spec,
                resource=resources[source],
                warehouse=warehouse,
                config=ExtractConfig(full_refresh=True),
                run_id=f"load-{source}-{spec.entity}",
                log=lambda message: None,
            )
            seconds = time.perf_counter() - started
            fetch_seconds = seconds - peaks.land_seconds
            row = [
                spec.table,
                meta["rows_fetched"],
                meta["http_requests"],
                meta["http_throttled"],
                fetch_seconds,
                peaks.land_seconds,
                before,
                peaks.fetch,
                peaks.land,
            ]
            entity_rows.append(row)
            say(
                f"  {spec.table}: {meta['rows_fetched']:,} rows, {meta['http_requests']:,} "
                f"requests, fetch {fetch_seconds:.1f}s (peak {peaks.fetch:.0f} MB), landing "
                f"{peaks.land_seconds:.1f}s (peak {peaks.land:.0f} MB)"
            )
            totals["rows"] += meta["rows_fetched"]
            totals["requests"] += meta["http_requests"]
            totals["throttled"] += meta["http_throttled"]
            totals["fetch"] += fetch_seconds
            totals["land"] += peaks.land_seconds
        source_rows.append(
            [
                source,
                totals["rows"],
                totals["requests"],
                totals["throttled"],
                totals["fetch"],
                totals["land"],
                time.perf_counter() - source_started,
                max(r[7] for r in entity_rows[-len(BY_NAME[source].entities) :]),
                max(r[8] for r in entity_rows[-len(BY_NAME[source].entities) :]),
            ]
        )
    return entity_rows, source_rows


def build_models(warehouse: WarehouseResource, run_checks: bool) -> tuple[list[list[Any]], float]:
    from finance_pipeline.models import discover_models, in_build_order
    from finance_pipeline.models.assets import build_model

    rows: list[list[Any]] = []
    started = time.perf_counter()
    with warehouse.connection() as conn:
        for model in in_build_order(discover_models()):
            reset_peak_rss()
            t0 = time.perf_counter()
            build_model(conn, model)
            count = conn.execute(f"SELECT count(*) FROM {model.table}").fetchone()[0]
            rows.append([model.table, count, time.perf_counter() - t0, phase_peak()])
        if run_checks:
            from finance_pipeline.checks import all_checks, run_check

            reset_peak_rss()
            t0 = time.perf_counter()
            checks = all_checks()
            failed = [c.name for c in checks if not run_check(conn, c).passed]
            rows.append(
                [f"{len(checks)} SQL checks ({len(failed)} failing)", None,
                 time.perf_counter() - t0, phase_peak()]
            )
            if failed:
                say(f"  failing checks: {', '.join(failed)}")
    return rows, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--server-rate", type=float, default=1000.0)
    parser.add_argument("--server-burst", type=int, default=1000)
    parser.add_argument("--client-rate", type=float, default=1000.0)
    parser.add_argument("--client-burst", type=int, default=1000)
    parser.add_argument("--sources", default="bitrix24,salesman,adesk,apipay")
    parser.add_argument("--warehouse", help="DuckDB file to create and keep (default: temp)")
    parser.add_argument(
        "--models-only", action="store_true",
        help="no sync: build the models on the existing --warehouse (a previous run's file)",
    )
    parser.add_argument("--no-models", action="store_true", help="skip the models")
    parser.add_argument("--no-checks", action="store_true", help="skip the SQL checks")
    args = parser.parse_args(argv)

    os.environ["FINANCE_RATE_LIMIT_DIR"] = tempfile.mkdtemp(prefix="load_buckets_")
    workdir = Path(tempfile.mkdtemp(prefix="load_1m_"))
    warehouse_path = Path(args.warehouse) if args.warehouse else workdir / "load.duckdb"
    if args.models_only != warehouse_path.exists():
        raise SystemExit(
            f"{warehouse_path}: --models-only needs an existing file, a sync a fresh one"
        )
    warehouse = WarehouseResource(path=str(warehouse_path))
    sources = [s for s in args.sources.split(",") if s]
    limit = os.environ.get("FINANCE_DUCKDB_MEMORY_LIMIT") or "(default 512MB)"
    say(f"pipeline process: pid {os.getpid()}, RSS at start {rss_mb():.0f} MB; "
        f"FINANCE_DUCKDB_MEMORY_LIMIT={limit}")
    summary: list[list[Any]] = []
    with RssSampler() as sampler:
        if not args.models_only:
            say(
                f"load: {args.transactions:,} Adesk transactions, {args.invoices:,} invoices; "
                f"latency {args.latency}s; sandbox server limits {args.server_rate:g}/s burst "
                f"{args.server_burst}; client limits {args.client_rate:g}/s burst "
                f"{args.client_burst} (<SOURCE>_RATE_LIMIT / <SOURCE>_RATE_BURST)"
            )
            summary += sync_phase(args, sources, warehouse)
        models_seconds = 0.0
        if not args.no_models:
            say("building the models ...")
            model_rows, models_seconds = build_models(warehouse, not args.no_checks)
            say("")
            slow = sorted(model_rows, key=lambda r: -r[2])
            say(
                table(
                    ["model", "rows", "seconds", "peak RSS MB"],
                    [*slow[:8], ["all models" + ("" if args.no_checks else " + checks"),
                                 None, models_seconds, max(r[3] for r in model_rows)]],
                    title=f"Models ({len(model_rows)} steps; the 8 slowest, then the total)",
                )
            )
            summary.append(["models wall s", models_seconds])
    peak = max([*READINGS, maxrss_mb(), sampler.peak])
    db_mb = warehouse_path.stat().st_size / 2**20 if warehouse_path.exists() else 0.0
    say("")
    say(
        table(
            ["measure", "value"],
            [
                *summary,
                ["peak RSS of the pipeline process MB", peak],
                ["  (largest phase VmHWM / sampled every 50 ms)",
                 f"{max(READINGS, default=0):.0f} / {sampler.peak:.0f}"],
                ["target MB", TARGET_MB],
                ["under target", peak < TARGET_MB],
                ["DuckDB file MB", db_mb],
            ],
            title="Summary",
        )
    )
    if not args.warehouse:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if peak < TARGET_MB else 1


def sync_phase(args: argparse.Namespace, sources: list[str], warehouse: WarehouseResource
               ) -> list[list[Any]]:
    server_args = [
        "--transactions", str(args.transactions), "--invoices", str(args.invoices),
        "--latency", str(args.latency),
        "--server-rate", str(args.server_rate), "--server-burst", str(args.server_burst),
    ]
    with sandbox_process(server_args) as box:
        say(
            f"sandbox subprocess up in {box.startup_seconds:.0f}s (pid {box.process.pid}): "
            + ", ".join(f"{k} {v:,}" for k, v in box.world.items() if k != "world_seconds")
        )
        resources = live_resources(dict(box.env), args.client_rate, args.client_burst)
        say(f"RSS with resources built: {rss_mb():.0f} MB; syncing {', '.join(sources)} ...")
        started = time.perf_counter()
        entity_rows, source_rows = sync_all(resources, warehouse, sources)
        sync_seconds = time.perf_counter() - started
    say("")
    say(
        table(
            ["raw table", "rows", "requests", "throttled", "fetch s", "landing s",
             "RSS before MB", "fetch peak MB", "landing peak MB"],
            entity_rows,
            title="Per entity (full refresh into a fresh DuckDB file)",
        )
    )
    say("")
    say(
        table(
            ["source", "rows", "requests", "throttled", "fetch s", "landing s", "wall s",
             "fetch peak MB", "landing peak MB"],
            [
                *source_rows,
                ["all sources", sum(r[1] for r in source_rows), sum(r[2] for r in source_rows),
                 sum(r[3] for r in source_rows), sum(r[4] for r in source_rows),
                 sum(r[5] for r in source_rows), sync_seconds,
                 max((r[7] for r in source_rows), default=0),
                 max((r[8] for r in source_rows), default=0)],
            ],
            title="Per source (one after another in this process)",
        )
    )
    return [
        ["rows landed", sum(r[1] for r in source_rows)],
        ["sync wall s (all sources)", sync_seconds],
        ["server-side requests", sum(c.get("requests", 0) for c in box.counters.values())],
        ["server-side throttled answers",
         sum(c.get("throttled", 0) for c in box.counters.values())],
        ["sandbox subprocess peak RSS MB (not counted)", box.peak_rss_mb],
    ]


if __name__ == "__main__":
    sys.exit(main())
