"""ApiPay extraction against the sandbox over real HTTP: complete, incremental, idempotent."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import dagster as dg
import duckdb
import pytest

from finance_pipeline.config import Mode, load_settings
from finance_pipeline.definitions import load_environment
from finance_pipeline.http.errors import AuthenticationError
from finance_pipeline.sources.apipay import ENTITIES, SOURCE, ApipayResource
from finance_pipeline.sources.extraction import ExtractConfig, run_extraction, source_assets
from finance_pipeline.warehouse.resource import WarehouseResource
from finance_sandbox.core import SANDBOX_CREDENTIALS, FaultPlan, ServerRateLimit
from finance_sandbox.world import ApipayRefund

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
            rate_start=500,
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
        # The entity's own read; the reconciliation after it (apipay/reconcile.py) is counted
        # apart, in `verification_requests`, and tested in reliability/test_reconcile.py.
        asked = self.sandbox.counters["apipay"]["requests"] - before
        metadata["requests"] = asked - metadata.get("verification_requests", 0)
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
    # The server keeps the documented limit (60 requests a minute per key): these syncs make a
    # few requests each, so no test waits for it.
    assert sandbox.rate_limit("apipay").rate == 1.0
    return Harness(sandbox, servers, warehouse_path)


def _add_refund(world, invoice, status: str, created_at) -> ApipayRefund:
    refund_id = max(world.apipay_refunds) + 1
    refund = ApipayRefund(
        id=refund_id, invoice_id=invoice.id, amount=Decimal("1.00"), status=status,
        reason="Частичный возврат", created_at=created_at,
    )
    world.apipay_refunds[refund_id] = refund
    return refund


def test_full_sync_lands_every_invoice_and_refund_exactly(harness):
    first = harness.sync_all()
    assert first["invoices"]["sync_mode"] == "full"
    harness.assert_matches_world()
    invoices = harness.raw("invoices")
    statuses = {row["status"] for row in invoices.values()}
    assert statuses == {inv.status for inv in harness.world.apipay_invoices.values()}
    # per_page=100, read until a short page (a full last page is followed by an empty one: the
    # announced total never ends a list): 200 invoices in 3 requests, every refund in one
    # request per 100 (not one per refundable invoice).
    assert first["invoices"]["requests"] == len(harness.world.apipay_invoices) // 100 + 1
    assert first["refunds"]["sync_mode"] == "full"
    assert first["refunds"]["requests"] == len(harness.world.apipay_refunds) // 100 + 1 == 1
    assert first["refunds"]["rows_fetched"] == len(harness.world.apipay_refunds)
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
        # The recent-refunds window and the open-status list: one page each.
        assert again["refunds"]["requests"] == 2
    harness.assert_matches_world()


def test_incremental_follows_new_invoices_status_changes_and_refunds(harness):
    harness.sync_all()
    created = updated = refunds = 0
    for _ in range(4):
        log = harness.world.advance(14)  # refunds are rare: two weeks bring some
        created += len(log.created.get(("apipay", "invoices"), []))
        updated += len(log.updated.get(("apipay", "invoices"), []))
        refunds += len(log.created.get(("apipay", "refunds"), []))
        result = harness.sync_all()
        assert result["invoices"]["sync_mode"] == "incremental"
        assert result["refunds"]["sync_mode"] == "incremental"
        harness.assert_matches_world()
        assert result["refunds"]["rows_inserted"] == len(
            log.created.get(("apipay", "refunds"), [])
        )
        assert result["refunds"]["rows_deleted"] == 0
        assert result["refunds"]["requests"] == 2
        assert result["invoices"]["requests"] <= 6
    assert created > 0 and updated > 0 and refunds > 0
    # The incremental runs left nothing for a full refresh to correct.
    full = harness.sync("refunds", full=True)
    assert full["rows_inserted"] == full["rows_deleted"] == 0


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
    # Refunds are found by their own creation date, whatever the age of their invoice.
    assert result["refunds"]["rows_inserted"] == 2
    assert result["refunds"]["requests"] == 2
    harness.assert_matches_world()


def test_open_refunds_are_followed_until_they_close(harness):
    """A refund still `pending` is re-read until it completes, however old; one that turns up
    late but is still open is caught by the open-status list, one that turns up late within
    the lookback by the creation window."""
    world = harness.world
    paid = [i for i in world.apipay_invoices.values() if i.status == "paid"]
    cursor = max(r.created_at for r in world.apipay_refunds.values())
    stuck = _add_refund(world, paid[0], "pending", cursor - timedelta(days=40))
    harness.sync_all()
    assert harness.raw("refunds")[str(stuck.id)]["status"] == "pending"

    world.advance(7)
    cursor = max(r.created_at for r in world.apipay_refunds.values())
    stuck.status = "completed"  # 40 days before the cursor, far outside the lookback
    late_open = _add_refund(world, paid[1], "processing", cursor - timedelta(days=60))
    late_recent = _add_refund(world, paid[2], "completed", cursor - timedelta(days=2))
    result = harness.sync_all()["refunds"]
    assert result["sync_mode"] == "incremental"
    assert result["requests"] == 2
    raw = harness.raw("refunds")
    assert raw[str(stuck.id)]["status"] == "completed"
    assert raw[str(late_open.id)]["status"] == "processing"
    assert str(late_recent.id) in raw
    harness.assert_matches_world()

    # Closed now: the window reaches back to the refund held as open (60 days), then no longer.
    late_open.status = "failed"
    harness.sync("refunds")
    assert harness.raw("refunds")[str(late_open.id)]["status"] == "failed"
    quiet = harness.sync("refunds")
    assert quiet["rows_inserted"] == quiet["rows_updated"] == 0 and quiet["requests"] == 2


def test_what_the_incremental_reads_miss_the_same_run_repairs(harness):
    """The incremental reads' gaps (a refund that turns up already completed with a creation
    date before the lookback; a refund deleted from a live invoice) change ApiPay's count of
    refunds: the reconciliation after the read (apipay/reconcile.py) re-reads the period and
    repairs both in the same run, so a full refresh finds nothing left to do."""
    world = harness.world
    harness.sync_all()
    paid = next(i for i in world.apipay_invoices.values() if i.status == "paid")
    cursor = max(r.created_at for r in world.apipay_refunds.values())
    too_late = _add_refund(world, paid, "completed", cursor - timedelta(days=10))
    removed = next(iter(world.apipay_refunds.values()))
    del world.apipay_refunds[removed.id]
    incremental = harness.sync("refunds")
    assert incremental["rows_inserted"] == incremental["rows_deleted"] == 0  # the reads' own
    assert incremental["verification_repaired_rows"] >= 1
    assert incremental["verification_marked_deleted"] == 1
    assert str(too_late.id) in harness.raw("refunds")
    assert str(removed.id) in harness.raw("refunds", live=False)
    full = harness.sync("refunds", full=True)
    assert full["rows_inserted"] == full["rows_deleted"] == 0
    harness.assert_matches_world()


def test_deletions_are_marked_by_the_next_incremental_run(harness):
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

    # The incremental reads cannot see deletions; the count of invoices can: the
    # reconciliation re-reads the period and marks the vanished invoice deleted.
    invoices = harness.sync("invoices")
    assert invoices["rows_deleted"] == 0 and invoices["verification_marked_deleted"] == 1
    assert str(victim.id) in harness.raw("invoices", live=False)
    # The refunds of the invoice marked deleted go with it (no request needed); the refund
    # removed from a live invoice changes the count of refunds and is marked by the repair.
    refunds = harness.sync("refunds")
    assert refunds["sync_mode"] == "incremental"
    assert refunds["rows_deleted"] == len(victim_refunds)
    assert refunds["requests"] == 2
    assert refunds["verification_marked_deleted"] == 1
    assert set(harness.raw("refunds", live=False)) == {str(r) for r in [*victim_refunds, other_refund.id]}
    # Nothing is left for a full refresh.
    assert harness.sync("invoices", full=True)["rows_deleted"] == 0
    full_refunds = harness.sync("refunds", full=True)
    assert full_refunds["rows_deleted"] == 0 and full_refunds["requests"] == 1
    harness.assert_matches_world()


def test_a_full_refresh_of_refunds_alone_marks_refunds_of_deleted_invoices(harness):
    world = harness.world
    harness.sync_all()
    victim = next(
        i for i in world.apipay_invoices.values()
        if any(r.invoice_id == i.id for r in world.apipay_refunds.values())
    )
    gone = {str(r.id) for r in world.apipay_refunds.values() if r.invoice_id == victim.id}
    # Upstream the invoice is deleted; its refund records may remain, but the organisation's
    # refund list no longer shows them.
    del world.apipay_invoices[victim.id]
    result = harness.sync("refunds", full=True)
    assert result["rows_deleted"] == len(gone)
    assert set(harness.raw("refunds", live=False)) == gone


def test_refunds_can_be_read_before_invoices(harness):
    result = harness.sync("refunds")
    assert result["sync_mode"] == "full"
    assert result["rows_live"] == len(harness.world.apipay_refunds)


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
    sandbox_resource = SOURCE.resource(load_environment({"FINANCE_PIPELINE_MODE": "sandbox"}))
    assert sandbox_resource.is_configured()
    assert sandbox_resource.base_url() == "http://apipay.sandbox/api/v1"
    assert sandbox_resource.rate_limit == SOURCE.rate_limit.rate

    live = load_settings({"FINANCE_PIPELINE_MODE": "live", "APIPAY_API_KEY": "live-key-123456"})
    assert live.mode is Mode.live
    resource = SOURCE.resource(live)
    assert isinstance(resource.api_key, dg.EnvVar) or "APIPAY_API_KEY" in repr(resource)
    assert resource.api_base_url == "https://bpapi.bazarbay.site/api/v1"

    unconfigured = SOURCE.resource(load_settings({"FINANCE_PIPELINE_MODE": "live"}))
    assert not unconfigured.is_configured()
    assert "APIPAY_API_KEY" in unconfigured.not_configured_reason()


def test_dagster_assets_read_the_key_from_the_environment(sandbox, servers, warehouse_path,
                                                         monkeypatch):
    monkeypatch.setenv("APIPAY_API_KEY", KEY)
    resource = ApipayResource(
        api_key=dg.EnvVar("APIPAY_API_KEY"),
        api_base_url=servers.base_urls["apipay"],
        rate_limit=500,
        rate_burst=100,
        rate_start=500,
    )
    result = dg.materialize(
        [source_assets("apipay", ENTITIES)],
        resources={"warehouse": WarehouseResource(path=str(warehouse_path)), "apipay": resource},
    )
    assert result.success
    materialized = {
        event.asset_key.path[-1]: event.materialization.metadata
        for event in result.get_asset_materialization_events()
    }
    assert materialized["apipay_invoices"]["rows_live"].value == len(sandbox.world.apipay_invoices)
    assert materialized["apipay_refunds"]["rows_live"].value == len(sandbox.world.apipay_refunds)


def test_catalog_and_units_land_whole_and_deletions_are_marked(harness):
    """ApiPay's own catalog (GET /catalog, every status, 200 a page) and units (GET
    /catalog/units) land as complete snapshots."""
    from finance_sandbox.apipay_catalog import APIPAY_UNITS, apipay_unit_id

    world = harness.world
    units = harness.sync("units")
    assert units["requests"] == 1
    assert set(harness.raw("units")) == {str(u.id) for u in APIPAY_UNITS}
    catalog = harness.sync("catalog_items")
    assert catalog["rows_fetched"] == len(world.apipay_nomenclature)
    assert catalog["requests"] == -(-len(world.apipay_nomenclature) // 200)
    items = harness.raw("catalog_items")
    assert set(items) == {str(n) for n in world.apipay_nomenclature}
    some = next(iter(world.apipay_nomenclature.values()))
    assert items[str(some.id)]["unit_id"] == apipay_unit_id(some.unit_id)
    gone = world.apipay_nomenclature.pop(some.id)
    try:
        harness.sync("catalog_items")
    finally:
        world.apipay_nomenclature[gone.id] = gone
    assert str(gone.id) in harness.raw("catalog_items", live=False)


@pytest.mark.parametrize("legacy", [False, True], ids=["phone", "phone_number"])
def test_payer_lands_whether_named_phone_or_phone_number(harness, legacy):
    """openapi 2.1 lists the payer as `phone`; older servers answered `phone_number`. Both
    land as sent and staging reads either."""
    from finance_pipeline.models import discover_models
    from finance_pipeline.models.assets import build_model

    harness.sandbox.emulators["apipay"].legacy_phone_field = legacy
    try:
        harness.sync_all()
    finally:
        harness.sandbox.emulators["apipay"].legacy_phone_field = False
    row = next(iter(harness.raw("invoices").values()))
    assert ("phone_number" in row) is legacy and ("phone" in row) is not legacy
    with duckdb.connect(str(harness.warehouse.path)) as conn:
        models = {model.table: model for model in discover_models()}
        build_model(conn, models["staging.apipay_invoices"])
        staged = dict(conn.execute(
            "SELECT invoice_id, phone_number FROM staging.apipay_invoices"
        ).fetchall())
        items = conn.execute(
            "SELECT invoice_id, len(cart_items) FROM staging.apipay_invoices"
        ).fetchall()
    assert staged == {str(i.id): i.phone_number for i in harness.world.apipay_invoices.values()}
    assert dict(items) == {
        str(i.id): len(i.cart_items) for i in harness.world.apipay_invoices.values()
    }


def test_staging_reads_the_read_shape_and_the_old_create_shape(tmp_path):
    """`items` (openapi 2.1 InvoiceItem, decimal strings, a line discount) and the create
    request's `cart_items` (landed by older versions) both become typed cart items."""
    from finance_pipeline.models import discover_models
    from finance_pipeline.models.assets import build_model
    from finance_pipeline.warehouse.landing import raw_table_ddl

    new = {
        "id": 1, "amount": "3500.00", "status": "paid", "phone": "87001234567",
        "created_at": "2026-01-10T12:00:00+00:00",
        "items": [
            {"id": 11, "invoice_id": 1, "catalog_item_id": 42, "name": "Кофе", "price": "1500.00",
             "count": 2, "unit_id": 1, "discount": None},
            {"id": 12, "invoice_id": 1, "catalog_item_id": None, "name": "Доставка",
             "price": "600.00", "count": 1, "unit_id": 6, "discount": "100.00"},
        ],
    }
    old = {
        "id": 2, "amount": "4500.00", "status": "paid", "phone_number": "87007654321",
        "created_at": "2025-01-10T12:00:00Z",
        "cart_items": [
            {"Name": "Кофе", "Price": 1500, "Count": 2, "NomenclatureId": 12345,
             "Type": "CATALOGUE", "UnitId": 1, "NomenclatureHistoryId": 67890},
            {"Name": "Печенье", "Price": 500, "Count": 3, "NomenclatureId": -2,
             "Type": "FAST_SALE", "UnitId": 1},
        ],
    }
    models = {model.table: model for model in discover_models()}
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        conn.execute(raw_table_ddl("apipay_invoices"))
        for payload in (new, old):
            conn.execute(
                "INSERT INTO raw.apipay_invoices VALUES (?, ?, 'h', now(), 'r', now(), now(), NULL)",
                [str(payload["id"]), json.dumps(payload, ensure_ascii=False)],
            )
        build_model(conn, models["staging.apipay_invoices"])
        rows = {
            invoice_id: (phone, items, errors)
            for invoice_id, phone, items, errors in conn.execute(
                """SELECT invoice_id, phone_number,
                          list_transform(cart_items, lambda it: [it.catalog_item_id,
                              CAST(it.line_total AS VARCHAR), it.unit_id]),
                          _parse_errors
                   FROM staging.apipay_invoices"""
            ).fetchall()
        }
    assert rows["1"] == ("87001234567", [["42", "3000.00", "1"], [None, "500.00", "6"]], [])
    assert rows["2"] == ("87007654321", [["12345", "3000.00", "1"], [None, "1500.00", "1"]], [])
