"""Bitrix24: requests and wall time of a full invoice sync against the rate-limit floor.

A sandbox with --invoices Bitrix24 smart invoices (default 10,000; their product rows come
with them) is served over real HTTP on 127.0.0.1 with a per-request latency (default 0.2 s) and
Bitrix24's documented server limit (leaky bucket of 50, drained at 2/s). The pipeline's own
code (`run_invoice_sync_benchmark`: run_extraction of invoices, then of their product rows,
with the client's default limits 2/s burst 48) does a full sync into a fresh DuckDB file.

Printed per entity: rows, requests used vs the minimum ceil(rows / 2500) (a batch of 50
commands x 50 records), throttled answers (must be 0), wall time of the fetch and of the whole
entity (with the landing), and the rate-limit floor: the time the minimum number of requests
needs at 2/s after a full bucket, plus one round trip.

Then the strategies of two public clients on the same lists and the same servers:
  b24pysdk `as_list_fast()` (call_list_fast): a batch of 50 keyset pages (start=-1, each page
      filtered on id > the previous page's last id through $result references), one batch at
      a time, the next one sent when the previous one answered;
  fast_bitrix24 `get_all()`: one plain list call first (it counts the list for `total`), then
      every remaining page as a `start=` offset command (each one counts the whole list
      again), 50 per batch, all batches in parallel.
Both are EMULATED here (the same commands and sequencing over HTTP against a fresh sandbox
over the same World, behind the same client leaky bucket as ours so that neither is
throttled), not run with the libraries themselves; their product rows are read per chunk of
OWNERS_PER_COMMAND invoices (now 1: a scalar `=ownerId`), the chunking our pipeline uses. For bigger lists
(--estimate-sizes) the requests and times of all three are ESTIMATES from formulas (stated
next to the table), not measurements.

    .venv/bin/python benchmarks/bitrix24_sync.py
    .venv/bin/python benchmarks/bitrix24_sync.py --invoices 100000 --no-emulate
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from _common import fresh_rate_limit_dir, say, table

from finance_pipeline.config import rate_limit_directory
from finance_pipeline.http.ratelimit import LeakyBucket, RateLimit
from finance_pipeline.sources.bitrix24 import SOURCE, Bitrix24Resource
from finance_pipeline.sources.bitrix24.batch import BATCH, BATCH_ROWS, PAGE, http_build_query
from finance_pipeline.sources.bitrix24.entities import ENTITIES, OWNERS_PER_COMMAND
from finance_pipeline.sources.extraction import (
    EntitySpec,
    ExtractConfig,
    ExtractContext,
    run_extraction,
)
from finance_pipeline.warehouse.resource import WarehouseResource
from finance_sandbox.core import Sandbox, SandboxSettings
from finance_sandbox.world import World, WorldSize

SERVER_RATE, SERVER_BURST = 2.0, 50  # Bitrix24's documented webhook limit (the sandbox default)
CLIENT = SOURCE.rate_limit  # our client's default: 2/s, burst 48
COUNT_COST_PER_ROW = 20e-6  # sandbox and docs: 49.9 s to count 2.39 M leads
OPERATING_LIMIT = 480.0  # s of server time per method within 10 minutes, then 429

INVOICE_PARAMS = {"entityTypeId": 31, "select": ["*"]}


def world_size(invoices: int) -> WorldSize:
    return WorldSize(
        counterparties=max(60, invoices // 40),
        products=40,
        bitrix_invoices=invoices,
        salesman_invoices=10,
        apipay_invoices=10,
        extra_transactions=10,
    )


def rate_floor(requests: int, latency: float, burst: int = CLIENT.burst) -> float:
    """The least wall time `requests` need: the burst at once, the rest at the drain rate,
    plus one round trip for the last answer."""
    return latency + max(0, requests - burst) / CLIENT.rate


# --- our pipeline ------------------------------------------------------------------------------


@dataclass
class InvoiceSyncStats:
    """What a full invoice sync cost. Iterates as (requests, rows, throttled, seconds)."""

    requests: int
    rows: int
    throttled: int
    seconds: float
    per_entity: dict[str, dict[str, float]] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.requests, self.rows, self.throttled, self.seconds))


def run_invoice_sync_benchmark(
    sandbox: Sandbox,
    *,
    base_url: str,
    warehouse_path: str | None = None,
    entities: tuple[str, ...] = ("invoices", "invoice_product_rows"),
) -> InvoiceSyncStats:
    """Run a full sync of the invoices (and their product rows) against `sandbox`.

    The requests go over real HTTP to `base_url` (e.g. `servers.base_urls["bitrix24"]` of
    `sandbox.serve()`). Requests are what the client sent,
    throttled answers what the sandbox refused with QUERY_LIMIT_EXCEEDED, seconds the wall time
    of the whole run (extraction and landing). `per_entity` has, per entity, the requests, rows,
    the minimum ceil(rows / 2500), the wall seconds and `fetch_seconds` (time spent fetching,
    without the landing in DuckDB).
    """
    fetch_seconds: dict[str, float] = {}

    def timed(spec: EntitySpec) -> EntitySpec:
        def fetch(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
            pages = spec.fetch(ctx)
            while True:
                started = time.monotonic()
                try:
                    rows = next(pages)
                except StopIteration:
                    return
                finally:
                    fetch_seconds[spec.entity] = (
                        fetch_seconds.get(spec.entity, 0.0) + time.monotonic() - started
                    )
                yield rows

        return replace(spec, fetch=fetch)

    specs = {spec.entity: timed(spec) for spec in ENTITIES}
    tmp = None
    if warehouse_path is None:
        tmp = tempfile.TemporaryDirectory(prefix="bitrix24_bench_")
        warehouse_path = str(Path(tmp.name) / "bench.duckdb")
    resource = Bitrix24Resource(webhook_url=base_url)
    warehouse = WarehouseResource(path=warehouse_path)
    counters = sandbox.counters["bitrix24"]
    throttled_before = counters["throttled"]
    per_entity: dict[str, dict[str, float]] = {}
    started = time.monotonic()
    try:
        for name in entities:
            entity_started = time.monotonic()
            meta = run_extraction(
                specs[name], resource=resource, warehouse=warehouse,
                config=ExtractConfig(full_refresh=True), run_id=f"bench-{name}", log=lambda m: None,
            )
            per_entity[name] = {
                "requests": meta["http_requests"],
                "rows": meta["rows_fetched"],
                "throttled": meta["http_throttled"],
                "minimum_requests": math.ceil(meta["rows_fetched"] / BATCH_ROWS),
                "seconds": round(time.monotonic() - entity_started, 3),
                "fetch_seconds": round(fetch_seconds.get(name, 0.0), 3),
            }
    finally:
        if tmp is not None:
            tmp.cleanup()
    seconds = time.monotonic() - started
    return InvoiceSyncStats(
        requests=int(sum(v["requests"] for v in per_entity.values())),
        rows=int(sum(v["rows"] for v in per_entity.values())),
        throttled=int(counters["throttled"] - throttled_before),
        seconds=round(seconds, 3),
        per_entity=per_entity,
    )


def run_ours(world: World, latency: float) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
    fresh_rate_limit_dir("bench_b24_ours_")
    sandbox = Sandbox(SandboxSettings(size=world_size(len(world.bitrix_invoices)),
                                      latency=latency), world=world)
    with sandbox.serve() as servers:
        stats = run_invoice_sync_benchmark(sandbox, base_url=servers.base_urls["bitrix24"])
    return stats.per_entity, dict(sandbox.counters["bitrix24"])


# --- emulated public clients -------------------------------------------------------------------


@dataclass
class Emulated:
    requests: int = 0
    throttled: int = 0
    counting_seconds: float = 0.0
    blocked: str | None = None
    ids: set[int] = field(default_factory=set)
    seconds: float = 0.0


class BatchClient:
    """Plain httpx batch calls behind the same leaky bucket as our client (never throttled)."""

    def __init__(self, base_url: str, account: str, out: Emulated) -> None:
        self.base_url = base_url
        self.bucket = LeakyBucket.for_account("bitrix24", account, RateLimit(
            rate=CLIENT.rate, burst=CLIENT.burst), rate_limit_directory())
        self.http = httpx.Client(timeout=600)
        self.out = out
        self.lock = threading.Lock()

    def call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        while True:
            self.bucket.acquire()
            response = self.http.post(self.base_url + method, json=body)
            with self.lock:
                self.out.requests += 1
            answer = response.json()
            error = answer.get("error") if isinstance(answer, dict) else None
            if error == "QUERY_LIMIT_EXCEEDED":
                with self.lock:
                    self.out.throttled += 1
                time.sleep(1.0)
                continue
            if error:
                raise RuntimeError(f"{error}: {answer.get('error_description')}")
            with self.lock:
                self.out.counting_seconds += float(answer.get("time", {}).get("operating", 0))
            return answer

    def batch(self, commands: dict[str, str]) -> dict[str, Any]:
        return self.call("batch", {"halt": 0, "cmd": commands})["result"]

    def close(self) -> None:
        self.http.close()


def b24pysdk_list_fast(client: BatchClient, method: str, params: dict[str, Any],
                       wrapper: str | None, out: Emulated) -> None:
    """call_list_fast: batches of 50 keyset pages, one batch at a time."""
    last_id: int | None = None
    while True:
        commands = {}
        for i in range(BATCH):
            flt = dict(params.get("filter", {}))
            if i == 0:
                if last_id is not None:
                    flt[">id"] = last_id
            else:
                path = f"$result[req_{i - 1}]" + (f"[{wrapper}]" if wrapper else "")
                flt[">id"] = f"{path}[{PAGE - 1}][id]"
            query = {**params, "order": {"id": "ASC"}, "filter": flt, "start": -1}
            commands[f"req_{i}"] = f"{method}?{http_build_query(query)}"
        results = client.batch(commands)["result"]
        for i in range(BATCH):
            value = results.get(f"req_{i}") if isinstance(results, dict) else None
            rows = (value or {}).get(wrapper) if wrapper else value
            rows = rows or []
            out.ids.update(int(r["id"]) for r in rows)
            if len(rows) < PAGE:
                return
            last_id = int(rows[-1]["id"])


def fast_bitrix24_get_all(client: BatchClient, method: str, params: dict[str, Any],
                          wrapper: str | None, out: Emulated) -> None:
    """get_all: a counted first call, then every other page by `start`, batches in parallel."""
    base = {**params, "order": {"id": "ASC"}}
    first = client.call(method, base)
    rows = first["result"][wrapper] if wrapper else first["result"]
    out.ids.update(int(r["id"]) for r in rows)
    total = int(first.get("total") or 0)
    starts = list(range(len(rows), total, PAGE))
    batches = [starts[i : i + BATCH] for i in range(0, len(starts), BATCH)]

    def send(chunk: list[int]) -> None:
        commands = {f"cmd{k}": f"{method}?{http_build_query({**base, 'start': s})}"
                    for k, s in enumerate(chunk)}
        batch = client.batch(commands)
        if batch.get("result_error"):  # fast_bitrix24 raises on any command error
            name, error = next(iter(dict(batch["result_error"]).items()))
            raise RuntimeError(f"{name}: {error.get('error')}: {error.get('error_description')}")
        answer = batch["result"]
        for value in answer.values() if isinstance(answer, dict) else answer:
            page = value.get(wrapper) if wrapper else value
            out.ids.update(int(r["id"]) for r in page or [])

    with ThreadPoolExecutor(max_workers=50) as pool:
        list(pool.map(send, batches))


Strategy = Callable[[BatchClient, str, dict[str, Any], str | None, Emulated], None]


def run_emulated(world: World, latency: float, strategy: Strategy, name: str
                 ) -> dict[str, Emulated]:
    fresh_rate_limit_dir(f"bench_b24_{name}_")
    sandbox = Sandbox(SandboxSettings(size=world_size(len(world.bitrix_invoices)),
                                      latency=latency), world=world)
    results: dict[str, Emulated] = {}
    with sandbox.serve() as servers:
        url = servers.base_urls["bitrix24"]
        for entity in ("invoices", "invoice_product_rows"):
            out = Emulated()
            throttled_before = sandbox.counters["bitrix24"]["throttled"]
            client = BatchClient(url, f"emulated-{name}", out)
            started = time.perf_counter()
            try:
                if entity == "invoices":
                    strategy(client, "crm.item.list", INVOICE_PARAMS, "items", out)
                else:
                    ids = sorted(world.bitrix_invoices)
                    for i in range(0, len(ids), OWNERS_PER_COMMAND):
                        chunk = ids[i : i + OWNERS_PER_COMMAND]
                        owner = chunk[0] if len(chunk) == 1 else chunk
                        params = {"filter": {"=ownerType": "SI", "=ownerId": owner}}
                        strategy(client, "crm.item.productrow.list", params, "productRows", out)
            except RuntimeError as exc:
                out.blocked = str(exc)[:80]
            finally:
                client.close()
            out.seconds = time.perf_counter() - started
            # what the server refused (the client's own count sees the same answers)
            out.throttled = sandbox.counters["bitrix24"]["throttled"] - throttled_before
            results[entity] = out
    return results


# --- estimates ---------------------------------------------------------------------------------


def estimate(rows: int, chunks: int, latency: float) -> dict[str, tuple[int, float, float]]:
    """(requests, server counting s, wall s) per strategy for a list of `rows` records read in
    `chunks` independent lists (1 for invoices). Wall time counts round trips (latency), the
    rate limit (burst 48, then 2/s) and the server's counting time; not transfer or parsing."""
    per = rows / chunks
    out: dict[str, tuple[int, float, float]] = {}
    minimum = math.ceil(rows / BATCH_ROWS)
    out["minimum"] = (minimum, 0.0, rate_floor(minimum, latency))
    # ours: about the minimum (measured: +0..1 per list), rounds in parallel
    ours = minimum + 1
    out["ours"] = (ours, 0.0, max(2 * latency, rate_floor(ours, latency)))
    # b24pysdk: floor(per / 2500) + 1 sequential batches per list
    b24 = chunks * (math.floor(per / BATCH_ROWS) + 1)
    out["b24pysdk"] = (b24, 0.0, max(b24 * latency, rate_floor(b24, latency)))
    # fast_bitrix24: 1 counted call + ceil((pages-1)/50) batches of counted commands per list
    pages = math.ceil(per / PAGE)
    fb_requests = chunks * (1 + math.ceil(max(0, pages - 1) / BATCH))
    counting = chunks * pages * per * COUNT_COST_PER_ROW
    one_batch = min(BATCH, max(0, pages - 1)) * per * COUNT_COST_PER_ROW
    wall = chunks * (2 * latency + per * COUNT_COST_PER_ROW + one_batch)
    wall = max(wall, rate_floor(fb_requests, latency))
    if counting > OPERATING_LIMIT:
        # blocked (429 OPERATION_TIME_LIMIT) once 480 s of counting are spent in 10 minutes
        wall = max(wall, counting / OPERATING_LIMIT * 600.0)
    out["fast_bitrix24"] = (fb_requests, counting, wall)
    return out


# --- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=10_000, help="Bitrix24 invoices")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per request")
    parser.add_argument("--emulate", default="b24pysdk,fast_bitrix24",
                        help="which public clients' strategies to emulate (comma-separated)")
    parser.add_argument("--no-emulate", action="store_true", help="emulate none of them")
    parser.add_argument("--estimate-sizes", default="10000,100000,1000000")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    world = World(world_size(args.invoices))
    rows_total = sum(len(inv.rows) for inv in world.bitrix_invoices.values())
    truth = {"invoices": len(world.bitrix_invoices), "invoice_product_rows": rows_total}
    say(
        f"bitrix24: {truth['invoices']:,} invoices with {rows_total:,} product rows (world built "
        f"in {time.perf_counter() - started:.1f}s); latency {args.latency}s per request; server "
        f"limit {SERVER_RATE:g}/s burst {SERVER_BURST}; client {CLIENT.rate:g}/s burst "
        f"{CLIENT.burst}; real HTTP on 127.0.0.1"
    )

    per_entity, counters = run_ours(world, args.latency)
    rows = []
    for name, m in per_entity.items():
        minimum = int(m["minimum_requests"])
        rows.append([
            name, int(m["rows"]), int(m["requests"]), minimum,
            f"{m['requests'] / minimum:.2f}x" if minimum else "-",
            int(m["throttled"]), m["fetch_seconds"], m["seconds"],
            rate_floor(minimum, args.latency),
        ])
        assert int(m["rows"]) == truth[name], f"{name}: {m['rows']} rows, expected {truth[name]}"
    total_req = sum(int(m["requests"]) for m in per_entity.values())
    total_min = sum(int(m["minimum_requests"]) for m in per_entity.values())
    rows.append([
        "both", sum(int(m["rows"]) for m in per_entity.values()), total_req, total_min,
        f"{total_req / total_min:.2f}x", counters.get("throttled", 0),
        sum(m["fetch_seconds"] for m in per_entity.values()),
        sum(m["seconds"] for m in per_entity.values()),
        len(per_entity) * args.latency + max(0, total_min - CLIENT.burst) / CLIENT.rate,
    ])
    say("")
    say(table(
        ["entity", "rows", "requests", "minimum", "vs min", "throttled", "fetch s", "total s",
         "floor s"],
        rows,
        title="Our pipeline (full sync. fetch s = time spent waiting for pages, total s = the "
        "entity's wall time incl. staging and landing in DuckDB; floor s = the least time the "
        "minimum requests need under the rate limit, from a full bucket; throttled = the "
        "server's QUERY_LIMIT_EXCEEDED answers)",
    ))
    say(f"server saw {counters.get('requests', 0)} requests, "
        f"{counters.get('throttled', 0)} throttled")

    strategies = {"b24pysdk": b24pysdk_list_fast, "fast_bitrix24": fast_bitrix24_get_all}
    chosen = [] if args.no_emulate else [s for s in args.emulate.split(",") if s in strategies]
    if chosen:
        say("")
        say("emulating the public clients' strategies on the same World (fresh servers each) ...")
        comparison = []
        for name in chosen:
            strategy = strategies[name]
            results = run_emulated(world, args.latency, strategy, name)
            for entity, out in results.items():
                missing = truth[entity] - len(out.ids)
                comparison.append([
                    f"{name} (emulated)", entity, out.requests,
                    math.ceil(truth[entity] / BATCH_ROWS), out.throttled, out.counting_seconds,
                    out.seconds, None, out.blocked or ("complete" if missing == 0 else
                                                       f"{missing} rows missing"),
                ])
        for name, m in per_entity.items():
            comparison.insert(0 if name == "invoices" else 1, [
                "ours (measured)", name, int(m["requests"]), int(m["minimum_requests"]),
                int(m["throttled"]), 0.0, m["fetch_seconds"], m["seconds"], "complete",
            ])
        say("")
        say(table(
            ["strategy", "entity", "requests", "minimum", "throttled", "server counting s",
             "fetch s", "with landing s", "result"],
            comparison,
            title="Same lists, three strategies (server counting s = the portal's time spent "
            "counting lists for `total`; ours: fetch s = time spent waiting for pages, with "
            "landing s = the whole entity incl. staging and the DuckDB merge)",
        ))

    sizes = [int(s) for s in args.estimate_sizes.split(",") if s]
    if sizes:
        rows_per_invoice = rows_total / max(1, truth["invoices"])
        est_rows = []
        for size in sizes:
            product_rows = round(size * rows_per_invoice)
            chunks = math.ceil(size / OWNERS_PER_COMMAND)
            for entity, n, k in (("invoices", size, 1), ("product rows", product_rows, chunks)):
                for strategy, (req, counting, wall) in estimate(n, k, args.latency).items():
                    note = ""
                    if counting > OPERATING_LIMIT:
                        note = "over 480 s/10 min: 429 OPERATION_TIME_LIMIT"
                    est_rows.append([f"{size:,}", entity, strategy, req, counting, wall, note])
        say("")
        say(table(
            ["invoices", "entity", "strategy", "requests", "server counting s", "wall s",
             "note"],
            est_rows,
            title=(
                "ESTIMATES (formulas, not measurements): minimum = ceil(rows/2500); ours = "
                "minimum + 1; b24pysdk = floor(rows/2500)+1 batches per list, sequential; "
                "fast_bitrix24 = 1 + ceil((pages-1)/50) per list, every command counting the "
                f"list at {COUNT_COST_PER_ROW * 1e6:.0f} us/row; wall = max(round trips x "
                f"{args.latency}s (+ counting), rate-limit floor {CLIENT.burst} then "
                f"{CLIENT.rate:g}/s); product rows in chunks of {OWNERS_PER_COMMAND} invoices at "
                f"{rows_per_invoice:.2f} rows/invoice"
            ),
        ))
    return 0 if counters.get("throttled", 0) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
