"""Independent requests sent concurrently (http/concurrent.py): in order, bounded, overlapping,
paced by the limiter, and failing the whole read on the first error."""

from __future__ import annotations

import threading
import time
from typing import Any

import duckdb
import pytest

from finance_pipeline.http.concurrent import map_concurrently
from finance_pipeline.http.errors import RequestRejectedError
from finance_pipeline.http.progress import ProgressReporter
from finance_pipeline.sources.adesk import ENTITIES, AdeskResource
from finance_pipeline.sources.extraction import ExtractConfig, run_extraction
from finance_pipeline.warehouse.resource import WarehouseResource
from finance_sandbox.core import (
    SANDBOX_CREDENTIALS,
    FaultPlan,
    Sandbox,
    SandboxServers,
    ServerRateLimit,
)

SPECS = {spec.entity: spec for spec in ENTITIES}
LATENCY = 0.05


class Gauge:
    """Counts calls running at once, and the most that ever did."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.started: list[int] = []

    def __call__(self, item: int, seconds: float) -> int:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.started.append(item)
        try:
            time.sleep(seconds)
            return item * 10
        finally:
            with self.lock:
                self.running -= 1


def test_results_come_in_item_order_with_at_most_workers_calls_at_once() -> None:
    gauge = Gauge()
    items = list(range(20))
    # Later items answer sooner: arrival order is the reverse of item order.
    results = list(
        map_concurrently(lambda i: gauge(i, 0.002 * (20 - i)), items, workers=4)
    )
    assert results == [(i, i * 10) for i in items]
    assert gauge.most == 4


def test_one_worker_is_the_sequential_read() -> None:
    gauge = Gauge()
    results = list(map_concurrently(lambda i: gauge(i, 0.001), [3, 1, 2], workers=1))
    assert results == [(3, 30), (1, 10), (2, 20)]
    assert gauge.most == 1
    assert gauge.started == [3, 1, 2]


def test_the_first_error_stops_the_read_and_propagates_unchanged() -> None:
    gauge = Gauge()
    failure = ValueError("item 2 broke")

    def call(item: int) -> int:
        if item == 2:
            raise failure
        return gauge(item, 0.02)

    handed_over: list[int] = []
    with pytest.raises(ValueError) as raised:
        for item, _ in map_concurrently(call, list(range(100)), workers=4):
            handed_over.append(item)
    assert raised.value is failure
    assert 2 not in handed_over and all(item < 2 for item in handed_over)
    # Items not started when the error came were never called: at most the ones already
    # queued (2 x workers ahead) ran, not the hundred.
    assert max(gauge.started) < 2 + 2 * 4
    assert gauge.running == 0  # nothing still running once the error reached the caller


def test_progress_counts_results_in_order() -> None:
    said: list[str] = []
    reporter = ProgressReporter(said.append, "things", interval=0.0)
    list(map_concurrently(lambda i: i, [5, 6, 7], workers=3, progress=reporter, unit="read"))
    # (an estimate of the time left may follow each count)
    assert [line.split(",")[0] for line in said] == [
        "things: 1 of 3 read", "things: 2 of 3 read", "things: 3 of 3 read"
    ]


# --- against the sandbox: Adesk's requisites, one request per contractor ---------------------


def requisites_run(
    sandbox: Sandbox, servers: SandboxServers, tmp_path: Any, name: str, **resource: Any
) -> tuple[float, dict[str, Any], WarehouseResource]:
    warehouse = WarehouseResource(path=str(tmp_path / f"{name}.duckdb"))
    adesk = AdeskResource(
        api_token=SANDBOX_CREDENTIALS["adesk"]["api_token"],
        api_base_url=servers.base_urls["adesk"],
        retry_base_delay=0.01,
        **resource,
    )
    started = time.monotonic()
    metadata = run_extraction(
        SPECS["contractor_requisites"], resource=adesk, warehouse=warehouse,
        config=ExtractConfig(full_refresh=True), run_id=name, log=lambda message: None,
    )
    return time.monotonic() - started, metadata, warehouse


def landed_requisites(warehouse: WarehouseResource) -> list[tuple[int, str]]:
    with duckdb.connect(warehouse.path, read_only=True) as conn:
        return conn.execute(
            "SELECT id, json_extract_string(payload, '$._contractor_id') "
            "FROM raw.adesk_contractor_requisites WHERE deleted_at IS NULL ORDER BY id"
        ).fetchall()


def test_requests_overlap_and_land_the_same_rows(
    sandbox: Sandbox, servers: SandboxServers, tmp_path: Any
) -> None:
    sandbox.settings.rate_limits["adesk"] = ServerRateLimit(rate=1000, burst=1000)
    sandbox.settings.latency = LATENCY
    fast = {"rate_limit": 500.0, "rate_burst": 500, "rate_start": 500.0}
    contractors = len(sandbox.world.adesk_contractors)
    one, alone, wh_one = requisites_run(
        sandbox, servers, tmp_path, "one", concurrent_requests=1, **fast
    )
    four, together, wh_four = requisites_run(
        sandbox, servers, tmp_path, "four", concurrent_requests=4, **fast
    )
    assert alone["http_requests"] == together["http_requests"] == contractors + 1
    # One at a time, every request waits its latency; four at a time about a quarter of it
    # (asserted loosely: a loaded machine adds its own time to both).
    assert one >= contractors * LATENCY
    assert four < one * 0.6
    assert landed_requisites(wh_four) == landed_requisites(wh_one)
    assert len(landed_requisites(wh_four)) == len(sandbox.world.adesk_contractor_requisites)


def test_the_limiter_paces_concurrent_requests(
    sandbox: Sandbox, servers: SandboxServers, tmp_path: Any
) -> None:
    # The server allows 10 requests in any 1 s window; the client's cap is 8/s (a learned rate
    # settles below the limit, http/ratelimit.py). Eight workers, each able to send at once,
    # must not send faster than the limiter lets them: no throttled answer, and the read takes
    # at least the requests' spacing at 8/s.
    sandbox.settings.rate_limits["adesk"] = ServerRateLimit(
        rate=10, burst=10, style="sliding", per_method=True
    )
    sandbox.settings.latency = LATENCY
    seconds, metadata, _ = requisites_run(
        sandbox, servers, tmp_path, "paced", concurrent_requests=8,
        rate_limit=8.0, rate_burst=1, rate_start=8.0,
    )
    contractors = len(sandbox.world.adesk_contractors)
    assert metadata["http_throttled"] == 0
    assert sandbox.counters["adesk"]["throttled"] == 0
    assert seconds >= (contractors - 1) / 8


def test_an_error_in_one_request_fails_the_entity_without_landing(
    sandbox: Sandbox, servers: SandboxServers, tmp_path: Any
) -> None:
    sandbox.settings.rate_limits["adesk"] = ServerRateLimit(rate=1000, burst=1000)
    sandbox.settings.latency = 0.01
    broken = sorted(sandbox.world.adesk_contractors)[2]
    sandbox.set_faults("adesk", FaultPlan(always={f"/contractor/{broken}/requisites": 400}))
    with pytest.raises(RequestRejectedError) as raised:
        requisites_run(
            sandbox, servers, tmp_path, "broken", concurrent_requests=4,
            rate_limit=500.0, rate_burst=500, rate_start=500.0,
        )
    assert "requisites" in str(raised.value)
    warehouse = WarehouseResource(path=str(tmp_path / "broken.duckdb"))
    with duckdb.connect(warehouse.path) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_name = 'adesk_contractor_requisites'"
        ).fetchone()
        landed = (
            conn.execute("SELECT count(*) FROM raw.adesk_contractor_requisites").fetchone()
            if tables and tables[0]
            else (0,)
        )
    assert landed == (0,)
    # The contractors after the broken one were not all asked: the read stopped.
    assert sandbox.counters["adesk"]["requests"] < len(sandbox.world.adesk_contractors)
