"""ApiPay extraction against the sandbox over real HTTP: complete, incremental, idempotent."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import dagster as dg
import duckdb
import pytest

from finance_pipeline.config import DEFAULT_RATE_LIMITS, Mode, load_settings
from finance_pipeline.http.errors import AuthenticationError
from finance_pipeline.sandbox.core import SANDBOX_CREDENTIALS, FaultPlan, ServerRateLimit
from finance_pipeline.sandbox.world import ApipayRefund
from finance_pipeline.sources.apipay import ENTITIES, ApipayResource, build_resource
from finance_pipeline.sources.extraction import ExtractConfig, extraction_asset, run_extraction
from finance_pipeline.warehouse.resource import WarehouseResource

KEY = SANDBOX_CREDENTIALS["apipay"]["api_key"]
SPECS = {spec.entity: spec for spec in ENTITIES}


class Harness:
    def __init__(self, sandbox, servers, warehouse_path, key: str = KEY) -> None:
        self.sandbox = sandbox
        self.world = sandbox.world
        self.warehouse = WarehouseResource(path=str(warehouse_path))
        self.resource = ApipayResource(
            api_key=key,
            api_base_url=servers.base_urls["apipay"],
            rate_limit=500,
            rate_burst=100,
            retry_base_delay=0.01,
        )
        self.runs = 0

    def sync(self, entity: str, full: bool = False) -> dict:
        self.runs += 1
        before = self.sandbox.counters["apipay"]["requests"]
        metadata = run_extraction(
            SPECS[entity],
            resource=self.resource,
            warehouse=self.warehouse,
            config=ExtractConfig(full_refresh=full),
            run_id=f"run-{self.runs}",
            log=lambda message: None,
        )
        metadata["requests"] = self.sandbox.counters["apipay"]["requests"] - before
        return metadata

    def sync_all(self, full: bool = False) -> dict[str, dict]:
        return {entity: self.sync(entity, full) for entity in ("invoices", "refunds")}

    def raw(self, entity: str, live: bool = True) -> dict[str, dict]:
        where = "WHERE deleted_at IS NULL" if live else "WHERE deleted_at IS NOT NULL"
        with duckdb.connect(str(self.warehouse.path), read_only=True) as conn:
            rows = conn.execute(f"SELECT id, payload FROM raw.apipay_{entity} {where}").fetchall()
        return {row[0]: json.loads(row[1]) for row in rows}

    def assert_matches_world(self) -> None:
        invoices = self.raw("invoices")
        assert set(invoices) == {str(i) for i in self.world.apipay_invoices}
        for inv in self.world.apipay_invoices.values():
            row = invoices[str(inv.id)]
            assert row["status"] == inv.status, inv.id
            assert row["amount"] == f"{inv.amount:.2f}"
        refunds = self.raw("refunds")
        assert set(refunds) == {str(r) for r in self.world.apipay_refunds}
        truth = self.world.truth
        assert len(invoices) == truth.counts[("apipay", "invoices")]
        assert len(refunds) == truth.counts[("apipay", "refunds")]


@pytest.fixture
def harness(sandbox, servers, warehouse_path):
    # The documented 60 requests/minute would make a full refunds read (one request per paid
    # invoice) take minutes; the protocol tests check the limit itself.
    sandbox.settings.rate_limits["apipay"] = ServerRateLimit(rate=1000, burst=1000)
    return Harness(sandbox, servers, warehouse_path)


def test_full_sync_lands_every_invoice_and_refund_exactly(harness):
    first = harness.sync_all()
    assert first["invoices"]["sync_mode"] == "full"
    harness.assert_matches_world()
    invoices = harness.raw("invoices")
    statuses = {row["status"] for row in invoices.values()}
    assert statuses == {inv.status for inv in harness.world.apipay_invoices.values()}
    # per_page=100: 200 invoices in 2 (or 3) requests.
    assert first["invoices"]["requests"] == -(-len(harness.world.apipay_invoices) // 100)
    refundable = [
        i for i in harness.world.apipay_invoices.values()
        if i.status in ("paid", "partially_refunded", "refunded")
    ]
    assert first["refunds"]["requests"] == len(refundable)
    # Money lands exactly as the API sent it: the decimal strings, not floats.
    with duckdb.connect(str(harness.warehouse.path), read_only=True) as conn:
        amounts = dict(conn.execute(
            "SELECT id, json_extract_string(payload, '$.amount') FROM raw.apipay_invoices"
        ).fetchall())
        refunded = dict(conn.execute(
            "SELECT id, json_extract_string(payload, '$.amount') FROM raw.apipay_refunds"
        ).fetchall())
    for inv in harness.world.apipay_invoices.values():
        assert amounts[str(inv.id)] == f"{inv.amount:.2f}"
        assert Decimal(amounts[str(inv.id)]) == inv.amount
    raw_refunds = harness.raw("refunds")
    for ref in harness.world.apipay_refunds.values():
        assert refunded[str(ref.id)] == f"{ref.amount:.2f}"
        assert raw_refunds[str(ref.id)]["invoice_id"] == ref.invoice_id


def test_rerun_with_nothing_changed_changes_nothing_and_asks_little(harness):
    harness.sync_all()
    for _ in range(2):
        again = harness.sync_all()
        for entity, metadata in again.items():
            assert metadata["sync_mode"] == "incremental", entity
            assert metadata["rows_inserted"] == metadata["rows_updated"] == 0, entity
            assert metadata["rows_deleted"] == 0, entity
        assert again["invoices"]["requests"] <= 4
        assert again["refunds"]["requests"] == 0
    harness.assert_matches_world()


def test_incremental_follows_new_invoices_status_changes_and_refunds(harness):
    harness.sync_all()
    created = updated = refunds = 0
    for _ in range(4):
        log = harness.world.advance(7)
        created += len(log.created.get(("apipay", "invoices"), []))
        updated += len(log.updated.get(("apipay", "invoices"), []))
        refunds += len(log.created.get(("apipay", "refunds"), []))
        result = harness.sync_all()
        assert result["invoices"]["sync_mode"] == "incremental"
        harness.assert_matches_world()
        # Refunds are re-read only for invoices whose raw row changed.
        assert result["refunds"]["requests"] <= result["invoices"]["rows_inserted"] + \
            result["invoices"]["rows_updated"]
        assert result["invoices"]["requests"] <= 6
    assert created > 0 and updated > 0


def test_old_refunds_are_caught_incrementally(harness):
    """A full refund of an invoice created long before the refund window, and a second partial
    refund of an old partially refunded one."""
    world = harness.world
    harness.sync_all()
    newest = max(i.created_at for i in world.apipay_invoices.values())
    old_paid = next(
        i for i in world.apipay_invoices.values()
        if i.status == "paid" and i.created_at < newest - timedelta(days=90)
    )
    old_partial = next(
        i for i in world.apipay_invoices.values()
        if i.status == "partially_refunded" and i.created_at < newest - timedelta(days=90)
    )
    when = world.now - timedelta(hours=1)
    next_id = max(world.apipay_refunds) + 1
    world.apipay_refunds[next_id] = ApipayRefund(
        id=next_id, invoice_id=old_paid.id, amount=old_paid.amount, status="completed",
        reason="Возврат товара", created_at=when,
    )
    old_paid.status, old_paid.updated_at = "refunded", when
    already = sum(r.amount for r in world.apipay_refunds.values() if r.invoice_id == old_partial.id)
    world.apipay_refunds[next_id + 1] = ApipayRefund(
        id=next_id + 1, invoice_id=old_partial.id, amount=min(Decimal("1.00"),
                                                               old_partial.amount - already),
        reason="Частичный возврат", status="completed", created_at=when,
    )
    old_partial.updated_at = when
    result = harness.sync_all()
    assert result["invoices"]["sync_mode"] == "incremental"
    assert result["invoices"]["rows_updated"] == 2
    assert result["refunds"]["rows_inserted"] == 2
    assert result["refunds"]["requests"] == 2
    harness.assert_matches_world()


def test_deletions_are_marked_by_a_full_refresh(harness):
    world = harness.world
    harness.sync_all()
    victim = next(
        i for i in world.apipay_invoices.values()
        if sum(1 for r in world.apipay_refunds.values() if r.invoice_id == i.id) >= 1
    )
    victim_refunds = sorted(r.id for r in world.apipay_refunds.values() if r.invoice_id == victim.id)
    other_refund = next(r for r in world.apipay_refunds.values() if r.invoice_id != victim.id)
    del world.apipay_invoices[victim.id]
    for rid in victim_refunds:
        del world.apipay_refunds[rid]
    del world.apipay_refunds[other_refund.id]  # a refund removed from a live invoice

    # An incremental run cannot see deletions (documented); a full refresh marks them.
    assert harness.sync("invoices")["rows_deleted"] == 0
    full = harness.sync("invoices", full=True)
    assert full["sync_mode"] == "full"
    assert full["rows_deleted"] == 1
    assert str(victim.id) in harness.raw("invoices", live=False)
    # Incrementally, the deleted invoice's refunds are marked deleted through its scope, and the
    # invoice that lost a refund changed (total_refunded), so its refunds are re-read.
    refunds = harness.sync("refunds")
    assert refunds["rows_deleted"] == len(victim_refunds) + 1
    assert refunds["requests"] == 1
    assert harness.sync("refunds", full=True)["rows_deleted"] == 0
    assert set(harness.raw("refunds", live=False)) == {str(r) for r in [*victim_refunds, other_refund.id]}
    harness.assert_matches_world()


def test_refunds_before_invoices_is_a_clear_error(harness):
    with pytest.raises(RuntimeError, match=r"raw\.apipay_invoices does not exist"):
        harness.sync("refunds")


def test_wrong_key_is_an_authentication_error_without_the_key(sandbox, servers, warehouse_path):
    wrong = "apipay-wrong-key-3141592653"
    harness = Harness(sandbox, servers, warehouse_path, key=wrong)
    with pytest.raises(AuthenticationError) as caught:
        harness.sync("invoices")
    text = str(caught.value)
    assert "[apipay]" in text
    assert "invoices" in text
    assert "Invalid API key" in text
    assert wrong not in text
    assert caught.value.status == 401


def test_throttling_is_retried_after_retry_after(sandbox, servers, warehouse_path):
    # The server allows one request every half second; the client is told to go faster,
    # so it meets 429 answers and must wait Retry-After instead of failing.
    sandbox.settings.rate_limits["apipay"] = ServerRateLimit(rate=2.0, burst=1)
    harness = Harness(sandbox, servers, warehouse_path)
    result = harness.sync("invoices")
    assert result["rows_fetched"] == len(sandbox.world.apipay_invoices)
    assert result["http_throttled"] >= 1
    assert sandbox.counters["apipay"]["throttled"] >= 1


def test_schema_drift_lands_what_the_api_sent(harness):
    harness.sandbox.set_faults("apipay", FaultPlan(drift=True))
    result = harness.sync_all()
    assert result["invoices"]["rows_fetched"] == len(harness.world.apipay_invoices)
    harness.assert_matches_world()
    row = next(iter(harness.raw("invoices").values()))
    assert "fiscal_receipt_url" in row


def test_build_resource_for_each_mode():
    sandbox_resource = build_resource(load_settings({"FINANCE_PIPELINE_MODE": "sandbox"}))
    assert sandbox_resource.sandbox and sandbox_resource.is_configured()
    assert sandbox_resource.base_url() == "http://apipay.sandbox/api/v1"
    assert sandbox_resource.rate_limit == DEFAULT_RATE_LIMITS["apipay"].rate

    live = load_settings({"FINANCE_PIPELINE_MODE": "live", "APIPAY_API_KEY": "live-key-123456"})
    assert live.mode is Mode.live
    resource = build_resource(live)
    assert isinstance(resource.api_key, dg.EnvVar) or "APIPAY_API_KEY" in repr(resource)
    assert not resource.sandbox
    assert resource.api_base_url == "https://bpapi.bazarbay.site/api/v1"

    unconfigured = build_resource(load_settings({"FINANCE_PIPELINE_MODE": "live"}))
    assert not unconfigured.is_configured()
    assert "APIPAY_API_KEY" in unconfigured.not_configured_reason()


def test_dagster_assets_read_the_key_from_the_environment(sandbox, servers, warehouse_path,
                                                         monkeypatch):
    sandbox.settings.rate_limits["apipay"] = ServerRateLimit(rate=1000, burst=1000)
    monkeypatch.setenv("APIPAY_API_KEY", KEY)
    resource = ApipayResource(
        api_key=dg.EnvVar("APIPAY_API_KEY"),
        api_base_url=servers.base_urls["apipay"],
        rate_limit=500,
        rate_burst=100,
    )
    result = dg.materialize(
        [extraction_asset(spec) for spec in ENTITIES],
        resources={"warehouse": WarehouseResource(path=str(warehouse_path)), "apipay": resource},
    )
    assert result.success
    materialized = {
        event.asset_key.path[-1]: event.materialization.metadata
        for event in result.get_asset_materialization_events()
    }
    assert materialized["apipay_invoices"]["rows_live"].value == len(sandbox.world.apipay_invoices)
    assert materialized["apipay_refunds"]["rows_live"].value == len(sandbox.world.apipay_refunds)
