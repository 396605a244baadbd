"""Learning undisclosed rate limits: two consecutive full runs per source against limits we were not told.

The sandbox serves the four APIs over real HTTP on 127.0.0.1 with limits the client is not
given (issue 15):

  - SalesMan: a sliding window of `--limit` requests per second, answered with nginx's HTML 429
    page and no Retry-After;
  - Adesk: the same window, per method (the doc: "the method gets blocked"), Adesk's JSON 429;
  - ApiPay: the same window, announced in X-RateLimit-Limit/Remaining/Reset (and Retry-After on
    a 429), as its Laravel front end does;
  - Bitrix24: its documented leaky bucket (50, drained at 2/s), which the client knows.

Per source, two full runs of every entity (`run_extraction` in dependency order, the code the
assets run), each on a fresh warehouse, sharing one learned-state directory (the second run starts
at what the first learned). Printed per run: requests and throttled answers (the sandbox's
counters), the wall time of the run, the request span (first to last request the server saw),
the floor (requests / true limit; Bitrix24: requests beyond its burst of 50 / 2 per second) and
wall / floor.

    .venv/bin/python benchmarks/rate_limits.py
    FINANCE_SANDBOX_SCALE=0.5 .venv/bin/python benchmarks/rate_limits.py --limit 5
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import say, table

from finance_pipeline.config import DEFAULT_RATE_LIMITS
from finance_pipeline.sandbox import sandbox_settings_from_env, set_sandbox
from finance_pipeline.sandbox.core import (
    SANDBOX_CREDENTIALS,
    Sandbox,
    SandboxRequest,
    SandboxResponse,
    ServerRateLimit,
)
from finance_pipeline.sources import adesk, apipay, bitrix24, salesman
from finance_pipeline.sources.extraction import ExtractConfig, _in_dependency_order, run_extraction
from finance_pipeline.sources.resource_base import SourceResource
from finance_pipeline.warehouse.resource import WarehouseResource

SOURCES = ("salesman", "adesk", "apipay", "bitrix24")
BITRIX24_BURST = 50
BITRIX24_RATE = 2.0


def server_limits(limit: float) -> dict[str, ServerRateLimit]:
    window = {"rate": limit, "burst": max(1, round(limit)), "style": "sliding", "window": 1.0}
    return {
        "salesman": ServerRateLimit(**window, answer="nginx"),
        "adesk": ServerRateLimit(**window, per_method=True),
        "apipay": ServerRateLimit(**window, announce=True),
    }


def make_resource(source: str, base_urls: dict[str, str]) -> SourceResource:
    cap = DEFAULT_RATE_LIMITS[source]
    common: dict[str, Any] = {"rate_limit": cap.rate, "rate_burst": cap.burst}
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


ENTITIES = {
    "salesman": salesman.ENTITIES,
    "adesk": adesk.ENTITIES,
    "apipay": apipay.ENTITIES,
    "bitrix24": bitrix24.ENTITIES,
}


class RequestClock:
    """Wraps Sandbox.handle: when each source's requests arrived."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.times: dict[str, list[float]] = {s: [] for s in SOURCES}
        self._lock = threading.Lock()
        original: Callable[[str, SandboxRequest], SandboxResponse] = sandbox.handle

        def handle(source: str, request: SandboxRequest) -> SandboxResponse:
            with self._lock:
                self.times[source].append(time.monotonic())
            return original(source, request)

        sandbox.handle = handle  # type: ignore[method-assign]


@dataclass
class RunFigures:
    source: str
    run: int
    requests: int
    throttled: int
    wall: float
    span: float
    floor: float

    @property
    def ratio(self) -> float | None:
        return self.wall / self.floor if self.floor > 0 else None

    @property
    def span_ratio(self) -> float | None:
        return self.span / self.floor if self.floor > 0 else None


def floor_seconds(source: str, requests: int, limit: float) -> float:
    if source == "bitrix24":
        return max(0, requests - BITRIX24_BURST) / BITRIX24_RATE
    return requests / limit


def run_source(
    source: str, run: int, sandbox: Sandbox, clock: RequestClock, base_urls: dict[str, str],
    limit: float, workdir: Path,
) -> RunFigures:
    resource = make_resource(source, base_urls)
    warehouse = WarehouseResource(path=str(workdir / f"{source}-run{run}.duckdb"))
    counters = sandbox.counters[source]
    requests_before, throttled_before = counters["requests"], counters["throttled"]
    first_time = len(clock.times[source])
    started = time.monotonic()
    for spec in _in_dependency_order(list(ENTITIES[source])):
        run_extraction(
            spec,
            resource=resource,
            warehouse=warehouse,
            config=ExtractConfig(),
            run_id=f"bench-{run}",
            log=lambda message: None,
        )
    wall = time.monotonic() - started
    times = clock.times[source][first_time:]
    requests = counters["requests"] - requests_before
    return RunFigures(
        source=source,
        run=run,
        requests=requests,
        throttled=counters["throttled"] - throttled_before,
        wall=wall,
        span=(times[-1] - times[0]) if len(times) > 1 else 0.0,
        floor=floor_seconds(source, requests, limit),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=float, default=5.0, help="the undisclosed limit, req/s")
    parser.add_argument("--sources", default=",".join(SOURCES))
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="bench-rate-limits-"))
    # One learned-state directory for both runs: run 2 starts where run 1 left off.
    os.environ["FINANCE_RATE_LIMIT_DIR"] = str(workdir / "learned")
    settings = sandbox_settings_from_env()
    settings.rate_limits.update(server_limits(args.limit))
    sandbox = Sandbox(settings)
    set_sandbox(sandbox)
    clock = RequestClock(sandbox)
    scale = os.environ.get("FINANCE_SANDBOX_SCALE", "1")
    say(f"sandbox scale {scale}, undisclosed limit {args.limit:g}/s (sliding window); "
        f"Bitrix24 at its documented bucket ({BITRIX24_BURST}, {BITRIX24_RATE:g}/s)")
    rows = []
    with sandbox.serve() as servers:
        for source in args.sources.split(","):
            for run in (1, 2):
                figures = run_source(
                    source, run, sandbox, clock, servers.base_urls, args.limit, workdir
                )
                rows.append(figures)
                say(f"  {source} run {run}: {figures.requests} requests, "
                    f"{figures.throttled} throttled, {figures.wall:.1f} s")
    say()
    say(table(
        ["source", "run", "requests", "throttled", "wall s", "span s", "floor s",
         "wall/floor", "span/floor"],
        [[f.source, f.run, f.requests, f.throttled, f.wall, f.span, f.floor, f.ratio,
          f.span_ratio] for f in rows],
        title="Two consecutive full runs per source (fresh warehouse, same learned state)",
    ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
