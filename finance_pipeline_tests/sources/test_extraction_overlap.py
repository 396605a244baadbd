"""A source's entities land on a background lander while the next entity is fetched
(`SourceExtraction`, sources/extraction.py), against the ApiPay sandbox over real HTTP."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import duckdb

from finance_pipeline.sources import extraction
from finance_pipeline.sources.apipay import ENTITIES, ApipayResource
from finance_pipeline.sources.apipay.entities import fetch_refunds
from finance_pipeline.sources.extraction import ExtractConfig, SourceExtraction
from finance_pipeline.warehouse.resource import WarehouseResource
from finance_sandbox.core import SANDBOX_CREDENTIALS


def make_extraction(servers, warehouse_path, specs=ENTITIES) -> SourceExtraction:
    resource = ApipayResource(
        api_key=SANDBOX_CREDENTIALS["apipay"]["api_key"],
        api_base_url=servers.base_urls["apipay"],
        rate_limit=500,
        rate_burst=100,
        rate_start=500,
        retry_base_delay=0.01,
    )
    return SourceExtraction(
        "apipay", list(specs), resource=resource, warehouse=WarehouseResource(path=str(warehouse_path)),
        config=ExtractConfig(), run_id="run-1", log=lambda message: None,
        log_error=lambda message: None,
    )


def raw_tables(warehouse_path) -> set[str]:
    with duckdb.connect(str(warehouse_path), read_only=True) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
        ).fetchall()
    return {row[0] for row in rows}


def test_a_landing_runs_while_the_next_entity_is_fetched_and_reads_wait_for_it(
    sandbox, servers, warehouse_path, monkeypatch
):
    refunds_started = threading.Event()
    overlapped: list[bool] = []
    invoices_seen_by_refunds: list[int] = []
    landed_on: list[tuple[str, str]] = []
    real_land = extraction.land

    def land(conn, **kwargs: Any):
        landed_on.append((kwargs["table"], threading.current_thread().name))
        if kwargs["table"] == "apipay_invoices":
            # In line, the refunds' fetch could only start after this returns: the wait fails.
            overlapped.append(refunds_started.wait(timeout=20))
        return real_land(conn, **kwargs)

    def refunds(ctx):
        refunds_started.set()
        # Issued while the invoices may still be landing: the read must wait for them.
        invoices_seen_by_refunds.append(ctx.query("SELECT count(*) FROM raw.apipay_invoices")[0][0])
        yield from fetch_refunds(ctx)

    monkeypatch.setattr(extraction, "land", land)
    specs = [
        dataclasses.replace(spec, fetch=refunds) if spec.entity == "refunds" else spec
        for spec in ENTITIES
    ]
    run = make_extraction(servers, warehouse_path, specs)
    yielded = [spec.entity for spec, _ in run.run()]

    assert run.failed == {}
    assert yielded == ["invoices", "refunds", "catalog_items", "units"]
    assert overlapped == [True]
    assert invoices_seen_by_refunds == [len(sandbox.world.apipay_invoices)]
    # One lander, in the entities' order, never the fetching thread.
    assert [table for table, _ in landed_on] == [f"apipay_{entity}" for entity in yielded]
    assert {thread for _, thread in landed_on} == {"apipay-lander_0"}


def test_a_failed_landing_fails_its_entity_and_drops_its_dependants_as_in_line(
    sandbox, servers, warehouse_path, monkeypatch
):
    real_land = extraction.land

    def land(conn, **kwargs: Any):
        if kwargs["table"] == "apipay_invoices":
            raise RuntimeError("disk full while landing apipay_invoices")
        return real_land(conn, **kwargs)

    monkeypatch.setattr(extraction, "land", land)
    run = make_extraction(servers, warehouse_path)
    yielded = [spec.entity for spec, _ in run.run()]

    # Refunds read invoices: fetched while the invoices were landing, then dropped unlanded.
    assert run.failed == {
        "invoices": "disk full while landing apipay_invoices",
        "refunds": "not synced because invoices failed",
    }
    assert run.refused is None
    assert yielded == ["catalog_items", "units"]
    tables = raw_tables(warehouse_path)
    assert "apipay_invoices" not in tables and "apipay_refunds" not in tables
    assert {"apipay_catalog_items", "apipay_units"} <= tables
    message = extraction._extraction_failure("apipay", run.failed, run.refused).description
    assert message.startswith("apipay: 2 entities failed (their raw tables are unchanged):")


def test_a_refusal_while_landing_stops_the_source_and_says_what_was_fetched(
    sandbox, servers, warehouse_path, monkeypatch
):
    # The credentials are revoked while the invoices land (their reconciliation is refused):
    # the refunds were fetched meanwhile, so "not requested" would be untrue for them.
    from finance_pipeline.http.errors import AuthenticationError

    real_land = extraction.land

    def land(conn, **kwargs: Any):
        if kwargs["table"] == "apipay_invoices":
            raise AuthenticationError("apipay", "GET /invoices", "Unauthenticated.", status=401)
        return real_land(conn, **kwargs)

    monkeypatch.setattr(extraction, "land", land)
    run = make_extraction(servers, warehouse_path)
    yielded = [spec.entity for spec, _ in run.run()]

    assert yielded == []
    assert run.refused is not None and "APIPAY_API_KEY" in run.refused
    assert run.failed["refunds"] == "fetched but not landed (the credentials were refused meanwhile)"
    assert run.failed["catalog_items"] == run.failed["units"] == (
        "not requested (the credentials were refused)"
    )
    message = extraction._extraction_failure("apipay", run.failed, run.refused).description
    assert "- not requested after the refusal: catalog_items, units" in message
    assert "- refunds: fetched but not landed" in message
