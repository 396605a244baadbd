"""Learning undisclosed rate limits: two consecutive full runs per source against limits we were not told.

The sandbox serves the four APIs over real HTTP on 127.0.0.1, in a process of its own
(`sandbox_server.py --undisclosed-limit`), with limits the client is not given (issue 15):

  - SalesMan: a sliding window of `--limit` requests per second, answered with nginx's HTML 429
    page and no Retry-After;
  - Adesk: the same window, per method (the doc: "the method gets blocked"), Adesk's JSON 429;
  - ApiPay: the same window, announced in X-RateLimit-Limit/Remaining (and Retry-After,
    X-RateLimit-Reset on a 429), as its Laravel front end does;
  - Bitrix24: its documented leaky bucket (50, drained at 2/s), which the client knows.

Per source, two full runs of every entity (`SourceExtraction`, the code the assets run: in
dependency order, each landing overlapped with the next entity's fetch) with the sources'
default limiter settings, each on a fresh warehouse, sharing one learned-state directory (the
second run starts at what the first learned). Printed per run: requests (the reads' and the
reconciliations', which share the limiter) and throttled answers (the client's request stats
of every entity's read; the sandbox's own counters of both runs, reconciliations and retries
included, are printed as a cross-check), the wall time of the run, the floor (requests / true
limit; Bitrix24: requests beyond its burst of 50 at 2 per second), wall / floor, the
pipeline's own work for context (the same run against an unlimited sandbox, minus the time its
requests took: parsing, staging, landing; part of it overlaps the limiter's waits), and the
rate the limiter learned.

    .venv/bin/python benchmarks/rate_limits.py
    FINANCE_SANDBOX_SCALE=0.5 .venv/bin/python benchmarks/rate_limits.py --limit 5
    .venv/bin/python benchmarks/rate_limits.py --sources apipay --per-entity

`--per-entity` also prints each entity's requests, time from its first request to the end of
its landing (landings overlap the next entity's fetch, so these add up to more than the run),
time in requests and time its requests waited for the limiter (summed over concurrent
requests): where a run's time beyond the floor goes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import sandbox_process, say, table

from finance_pipeline.sources import adesk, apipay, bitrix24, salesman
from finance_pipeline.sources.extraction import ExtractConfig, SourceExtraction
from finance_pipeline.sources.resource_base import SourceResource
from finance_pipeline.warehouse.resource import WarehouseResource
from finance_sandbox.core import SANDBOX_CREDENTIALS

SOURCES = ("salesman", "adesk", "apipay", "bitrix24")
BITRIX24_BURST = 50
BITRIX24_RATE = 2.0
ENTITIES = {
    "salesman": salesman.ENTITIES,
    "adesk": adesk.ENTITIES,
    "apipay": apipay.ENTITIES,
    "bitrix24": bitrix24.ENTITIES,
}


def make_resource(
    source: str, base_urls: dict[str, str], unlimited: bool = False
) -> SourceResource:
    """The source's resource with its default limiter settings, pointed at the sandbox."""
    # No rate fields: the resource takes its source's declared cap and first-run rate.
    common: dict[str, Any] = {}
    if unlimited:
        common = {"rate_limit": 10_000.0, "rate_burst": 10_000, "rate_start": 10_000.0}
    creds = SANDBOX_CREDENTIALS[source]
    if source == "salesman":
        return salesman.SalesmanResource(
            crm_base_url=base_urls[source], login=creds["login"], api_key=creds["api_key"], **common
        )
    if source == "adesk":
        return adesk.AdeskResource(
            api_token=creds["api_token"], api_base_url=base_urls[source], **common
        )
    if source == "apipay":
        return apipay.ApipayResource(
            api_key=creds["api_key"], api_base_url=base_urls[source], **common
        )
    return bitrix24.Bitrix24Resource(webhook_url=base_urls[source], **common)


@dataclass
class RunFigures:
    source: str
    run: int
    requests: int  # the reads' and the reconciliations'
    verification_requests: int
    throttled: int
    wall: float
    floor: float
    learned: str
    own_work: float = 0.0  # the same run against an unlimited sandbox, minus its HTTP time

    @property
    def ratio(self) -> float | None:
        return self.wall / self.floor if self.floor > 0 else None


def floor_seconds(source: str, requests: int, limit: float) -> float:
    if source == "bitrix24":
        return max(0, requests - BITRIX24_BURST) / BITRIX24_RATE
    return requests / limit


def learned_rates(resource: SourceResource) -> str:
    """The rates the limiter will start the next run at, per scope that learned one."""
    limiter = resource.limiter()
    if not limiter.policy.adaptive:
        return f"{limiter.cap.rate:g} (documented)"
    rates = set()
    for path in limiter.directory.glob(f"{resource.source}-*.learned.json"):
        state = json.loads(path.read_text())
        if state.get("ceiling") or state.get("proven") or state.get("announced_rate"):
            rates.add(round(min(state["rate"], limiter.cap.rate), 2))
    return ", ".join(str(r) for r in sorted(rates)) or "-"


def run_source(
    source: str, run: int, base_urls: dict[str, str], limit: float, workdir: Path,
    unlimited: bool = False, per_entity: bool = False,
) -> RunFigures:
    resource = make_resource(source, base_urls, unlimited)
    warehouse = WarehouseResource(path=str(workdir / f"{source}-run{run}.duckdb"))
    requests = throttled = verification_requests = 0
    http_seconds = 0.0
    started = time.monotonic()
    extraction = SourceExtraction(
        source, list(ENTITIES[source]), resource=resource, warehouse=warehouse,
        config=ExtractConfig(), run_id=f"bench-{run}", log=lambda message: None, log_error=say,
    )
    for spec, metadata in extraction.run():
        # The reconciliation's requests (sources/reconcile.py) go through the same limiter:
        # they count towards the floor like the read's.
        verification_requests += int(metadata.get("verification_requests", 0))
        requests += int(metadata["http_requests"]) + int(metadata.get("verification_requests", 0))
        throttled += int(metadata["http_throttled"])
        http_seconds += float(metadata["http_seconds"])
        if per_entity:
            say(f"    {spec.entity}: {metadata['http_requests']} requests "
                f"(+{metadata.get('verification_requests', 0)} reconciling), "
                f"{float(metadata['seconds']):.2f} s fetched and landed, in requests "
                f"{float(metadata['http_seconds']):.2f} s, waited for the limiter "
                f"{float(metadata['http_waited_for_rate_limit']):.2f} s")
    if extraction.failed:
        raise SystemExit(f"{source} run {run} failed: {extraction.failed}")
    wall = time.monotonic() - started
    return RunFigures(
        source=source,
        run=run,
        requests=requests,
        verification_requests=verification_requests,
        throttled=throttled,
        wall=wall,
        floor=floor_seconds(source, requests, limit),
        learned=learned_rates(resource),
        own_work=max(0.0, wall - http_seconds),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=float, default=5.0, help="the undisclosed limit, req/s")
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument("--apipay-invoices", type=int, help="size of ApiPay's world alone")
    parser.add_argument("--bitrix-invoices", type=int, help="size of Bitrix24's world alone")
    parser.add_argument("--per-entity", action="store_true", help="print each entity's figures")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="bench-rate-limits-"))
    # The unlimited reference run learns in a directory of its own: what its server announced
    # (a limit of 100,000) is not what the limited runs learned.
    os.environ["FINANCE_RATE_LIMIT_DIR"] = str(workdir / "reference")
    size_args: list[str] = []
    if args.apipay_invoices:
        size_args += ["--apipay-invoices", str(args.apipay_invoices)]
    if args.bitrix_invoices:
        size_args += ["--bitrix-invoices", str(args.bitrix_invoices)]
    server_args = [*size_args, "--undisclosed-limit", str(args.limit)]
    sources = args.sources.split(",")
    # The pipeline's own work per source (parsing, staging, landing): the same run against a
    # sandbox without limits, minus the time its requests took (0 where requests overlap: the
    # concurrent reads' request seconds add up to more than the wall time).
    own_work: dict[str, float] = {}
    unlimited_args = [*size_args, "--server-rate", "100000", "--server-burst", "100000"]
    with sandbox_process(unlimited_args) as reference:
        for source in sources:
            figures = run_source(source, 0, reference.base_urls, args.limit, workdir, True)
            own_work[source] = figures.own_work
    rows: list[RunFigures] = []
    # One learned-state directory for both runs: run 2 starts where run 1 left off.
    os.environ["FINANCE_RATE_LIMIT_DIR"] = str(workdir / "learned")
    with sandbox_process(server_args) as server:
        say(f"sandbox (scale {os.environ.get('FINANCE_SANDBOX_SCALE', '1')}, world "
            f"{server.world}) up in {server.startup_seconds:.1f} s; undisclosed limit "
            f"{args.limit:g}/s, sliding 1 s window; Bitrix24 at its documented bucket "
            f"({BITRIX24_BURST}, {BITRIX24_RATE:g}/s)")
        for source in sources:
            for run in (1, 2):
                figures = run_source(
                    source, run, server.base_urls, args.limit, workdir, per_entity=args.per_entity
                )
                figures.own_work = own_work[source]
                rows.append(figures)
                say(f"  {source} run {run}: {figures.requests} requests "
                    f"({figures.verification_requests} of them reconciling), "
                    f"{figures.throttled} throttled, {figures.wall:.1f} s")
    say()
    say(table(
        ["source", "run", "requests", "throttled", "wall s", "floor s", "wall/floor",
         "own work s", "learned req/s"],
        [[f.source, f.run, f.requests, f.throttled, f.wall, f.floor, f.ratio, f.own_work,
          f.learned] for f in rows],
        title="Two consecutive full runs per source (fresh warehouse, same learned state)",
    ))
    say("sandbox's own counts over both runs (requests, throttled): " + ", ".join(
        f"{source} {server.counters.get(source, {}).get('requests', 0)}/"
        f"{server.counters.get(source, {}).get('throttled', 0)}"
        for source in sources
    ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
