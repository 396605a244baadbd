"""Bitrix24 extraction over real HTTP against the sandbox: completeness, increments, cost."""

from __future__ import annotations

import math
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import pytest

from finance_pipeline.config import Mode, load_settings
from finance_pipeline.definitions import load_environment
from finance_pipeline.http.errors import (
    AuthenticationError,
    NotFoundError,
    PaymentRequiredError,
    RequestRejectedError,
    ThrottledError,
)
from finance_pipeline.http.masking import mask
from finance_pipeline.http.stats import RequestStats
from finance_pipeline.sources.bitrix24 import ENTITIES, SOURCE, Bitrix24Resource
from finance_pipeline.sources.bitrix24.batch import BATCH_ROWS, Scan, Window
from finance_pipeline.sources.bitrix24.entities import ROW_CALL, product_row_windows
from finance_pipeline.sources.bitrix24.resource import classify_bitrix24
from finance_pipeline.sources.extraction import ExtractConfig, run_extraction
from finance_pipeline.warehouse.resource import WarehouseResource
from finance_sandbox.core import FaultPlan, Sandbox, SandboxSettings
from finance_sandbox.world import WorldSize
from finance_sandbox.world.bitrix24_portal import (
    LEGACY_STATUSES,
    STAGES,
    contacts,
    legacy_invoices,
)

SPECS = {spec.entity: spec for spec in ENTITIES}


def truth(world) -> dict[str, set[int]]:
    return {
        "invoices": set(world.bitrix_invoices),
        "invoice_product_rows": {r.id for i in world.bitrix_invoices.values() for r in i.rows},
        "companies": set(world.bitrix_companies),
        "requisites": set(world.bitrix_requisites),
        "products": set(world.bitrix_products),
        # the portal around the invoices (issue 13)
        "stages": {s.id for s in (*STAGES, *LEGACY_STATUSES)},
        "contacts": set(contacts(world)),
        "legacy_invoices": set(legacy_invoices(world)),
        "product_prices": set(world.bitrix_products),  # one base price per product
    }


def minimum_requests(entity: str, records: int) -> int:
    """Batches of 50 list pages; legacy invoices also need crm.invoice.get, 50 per batch;
    products ask catalog.catalog.list for the catalog's info block, prices also
    catalog.priceType.list for the base price type."""
    lists = math.ceil(records / 2500)
    extra = {"products": 1, "product_prices": 2}.get(entity, 0)
    if entity == "legacy_invoices":
        extra = math.ceil(records / 50)
    return lists + extra


class Runner:
    def __init__(self, url: str, path: Path, **resource_options) -> None:
        self.resource = Bitrix24Resource(webhook_url=url, **resource_options)
        self.warehouse = WarehouseResource(path=str(path))
        self.path = path

    def sync(self, entity: str, full: bool = False) -> dict:
        return run_extraction(
            SPECS[entity], resource=self.resource, warehouse=self.warehouse,
            config=ExtractConfig(full_refresh=full), run_id=f"test-{entity}", log=lambda m: None,
        )

    def sync_all(self, full: bool = False) -> dict[str, dict]:
        return {entity: self.sync(entity, full) for entity in SPECS}

    def live_ids(self, entity: str) -> set[int]:
        with duckdb.connect(str(self.path), read_only=True) as conn:
            rows = conn.execute(
                f"SELECT id FROM raw.bitrix24_{entity} WHERE deleted_at IS NULL"
            ).fetchall()
        return {int(r[0]) for r in rows}

    def deleted_ids(self, entity: str) -> set[int]:
        with duckdb.connect(str(self.path), read_only=True) as conn:
            rows = conn.execute(
                f"SELECT id FROM raw.bitrix24_{entity} WHERE deleted_at IS NOT NULL"
            ).fetchall()
        return {int(r[0]) for r in rows}

    def payload(self, entity: str, record_id: int) -> str:
        with duckdb.connect(str(self.path), read_only=True) as conn:
            return conn.execute(
                f"SELECT payload FROM raw.bitrix24_{entity} WHERE id = ?", [str(record_id)]
            ).fetchone()[0]


@pytest.fixture
def runner(servers, warehouse_path) -> Runner:
    return Runner(servers.base_urls["bitrix24"], warehouse_path)


def test_full_sync_lands_exactly_the_sandbox_truth(runner, sandbox):
    metas = runner.sync_all()
    expected = truth(sandbox.world)
    for entity, ids in expected.items():
        assert runner.live_ids(entity) == ids, entity
        assert metas[entity]["rows_inserted"] == len(ids)
        # every list of the default world fits one batch: one request each
        assert metas[entity]["http_requests"] == minimum_requests(entity, len(ids)), entity
        assert metas[entity]["http_throttled"] == 0
    assert sandbox.counters["bitrix24"]["throttled"] == 0
    raw = runner.payload("invoices", min(expected["invoices"]))
    assert '"entityTypeId":31' in raw and '"accountNumber"' in raw


def test_incremental_sync_after_changes_and_deletions_after_full_refresh(runner, sandbox):
    runner.sync_all()
    world = sandbox.world
    known = runner.live_ids("invoices")
    log = world.advance(14)
    created = set(log.created.get(("bitrix24", "invoices"), []))
    updated = set(log.updated.get(("bitrix24", "invoices"), []))
    # (an invoice created and deleted within the same two weeks was never synced)
    deleted = set(log.deleted.get(("bitrix24", "invoices"), [])) & known
    assert created and updated and deleted
    before = {i: runner.payload("invoices", i) for i in updated}

    metas = runner.sync_all()
    assert metas["invoices"]["sync_mode"] == "incremental"
    live = runner.live_ids("invoices")
    assert created <= live
    assert all(runner.payload("invoices", i) != before[i] for i in updated)
    assert metas["invoices"]["rows_inserted"] == len(created)
    assert metas["invoices"]["http_requests"] == 1
    # rows of the new invoices arrived with their invoices
    new_rows = {r.id for i in created for r in world.bitrix_invoices[i].rows}
    assert new_rows <= runner.live_ids("invoice_product_rows")
    assert metas["invoice_product_rows"]["http_requests"] == 1
    # deletions are invisible to an incremental read (no tombstones), but the id list compared
    # after it (bitrix24/reconcile.py) marks them in the same run, and the product rows of the
    # deleted invoices go with them
    assert not deleted & live
    assert deleted <= runner.deleted_ids("invoices")
    assert metas["invoices"]["verification_marked_deleted"] == len(deleted)
    assert runner.live_ids("invoices") == set(world.bitrix_invoices)
    assert runner.live_ids("invoice_product_rows") == truth(world)["invoice_product_rows"]
    # a full refresh finds nothing left to delete
    meta = runner.sync("invoices", full=True)
    assert meta["rows_deleted"] == 0
    gone_rows = {r.id for i in deleted for r in world.deleted[("bitrix24", "invoices")][i].record.rows}
    assert gone_rows and gone_rows <= runner.deleted_ids("invoice_product_rows")
    for entity in ("companies", "requisites", "products"):
        runner.sync(entity, full=True)
        assert runner.live_ids(entity) == truth(world)[entity], entity


def test_product_row_edits_are_picked_up_with_their_invoice(runner, sandbox):
    runner.sync("invoices")
    runner.sync("invoice_product_rows")
    world = sandbox.world
    invoice = next(i for i in world.bitrix_invoices.values() if len(i.rows) >= 2)
    edited, dropped = invoice.rows[0], invoice.rows[1]
    edited.quantity += 1
    invoice.rows.remove(dropped)
    invoice.updated_time = world.now
    runner.sync("invoices")
    meta = runner.sync("invoice_product_rows")
    assert meta["rows_updated"] == 1 and meta["rows_deleted"] == 1
    assert dropped.id in runner.deleted_ids("invoice_product_rows")
    assert f'"quantity":{int(edited.quantity)}' in runner.payload("invoice_product_rows", edited.id)


def test_second_run_changes_nothing_and_costs_a_request_or_less(runner):
    runner.sync_all()
    metas = runner.sync_all()
    lookups = {"products": 1, "product_prices": 2}  # the catalog's info block, base price type
    for entity, meta in metas.items():
        # the stage dictionary is small and has no change marker: read whole every run
        assert meta["sync_mode"] == ("full" if entity == "stages" else "incremental"), entity
        assert meta["rows_inserted"] == meta["rows_updated"] == meta["rows_deleted"] == 0, entity
        assert meta["http_requests"] <= 1 + lookups.get(entity, 0), entity


def test_wrong_webhook_key_is_an_authentication_error_without_the_secret(servers, warehouse_path):
    good = servers.base_urls["bitrix24"]
    bad = good.replace("sandboxwebhookkey0001", "notthekey12345")
    runner = Runner(bad, warehouse_path)
    with pytest.raises(AuthenticationError) as caught:
        runner.sync("invoices")
    text = str(caught.value)
    assert "[bitrix24]" in text and "batch" in text and "INVALID_CREDENTIALS" in text
    assert "notthekey12345" not in text and "sandboxwebhookkey0001" not in text


def test_full_sync_of_a_bigger_portal_stays_near_the_request_minimum(tmp_path):
    box = Sandbox(SandboxSettings(size=WorldSize(bitrix_invoices=3000, seed=5)))
    with box.serve() as servers:
        runner = Runner(servers.base_urls["bitrix24"], tmp_path / "w.duckdb")
        invoices = runner.sync("invoices", full=True)
        rows = runner.sync("invoice_product_rows", full=True)
    assert invoices["rows_fetched"] == 3000
    assert invoices["http_requests"] == math.ceil(3000 / BATCH_ROWS) == 2
    assert rows["rows_fetched"] == len(truth(box.world)["invoice_product_rows"])
    minimum_rows_requests = math.ceil(rows["rows_fetched"] / BATCH_ROWS)
    # Near the minimum: at most one extra request, or 10 % on a larger read.
    assert rows["http_requests"] <= max(minimum_rows_requests + 1, 1.1 * minimum_rows_requests)
    assert invoices["http_throttled"] == rows["http_throttled"] == 0
    assert box.counters["bitrix24"]["throttled"] == 0


def test_split_windows_find_rows_their_counts_did_not_announce(servers, sandbox):
    """Chains packed by splitting an exact window in two still read every row when the count
    they were planned from is stale (rows added meanwhile): the gap is detected and read."""
    world = sandbox.world
    invoices = sorted(world.bitrix_invoices)
    first, second = invoices[:150], invoices[150:]
    ids = {r.id for i in invoices for r in world.bitrix_invoices[i].rows}
    second_rows = sum(len(world.bitrix_invoices[i].rows) for i in second)
    resource = Bitrix24Resource(webhook_url=servers.base_urls["bitrix24"])
    windows = [
        # first a window that fills most of a batch, then stale exact counts that must be split
        Window(ROW_CALL, est=45 * 50, exact=False, extra={"=ownerId": first}),
        Window(ROW_CALL, est=float(second_rows // 3), exact=True, extra={"=ownerId": second}),
    ]
    with resource.client(RequestStats()) as client:
        scan = Scan(client, windows, label="test")
        seen: set[int] = set()
        page = scan.next_page()
        while True:
            seen |= {row["id"] for row in page.rows}
            if page.next is None:
                break
            page = scan.next_page()
        scan.close()
    assert seen == ids
    assert scan.stats.rounds == 2  # the split parts, then the gap their count revealed


def read_all(scan: Scan) -> list[dict]:
    rows: list[dict] = []
    page = scan.next_page()
    while True:
        rows.extend(page.rows)
        if page.next is None:
            break
        page = scan.next_page()
    scan.close()
    return rows


@pytest.mark.parametrize("per_invoice", [0.3, 2.5], ids=["guess-low", "guess-near"])
@pytest.mark.parametrize("delta", [0, -1, -49, -50, -51, -120, -2600, 1, 50])
def test_product_rows_never_trust_a_count_to_end_a_window(tmp_path, delta, per_invoice):
    """The portal's counts only size the next chain: whatever they say, every row is read
    once, a wrong count is reported, and a true one costs no request more."""
    box = Sandbox(SandboxSettings(size=WorldSize(bitrix_invoices=1200, seed=11)))
    world = box.world
    ids = {r.id for inv in world.bitrix_invoices.values() for r in inv.rows}
    box.set_faults("bitrix24", FaultPlan(wrong_total=delta))
    with box.serve() as servers:
        resource = Bitrix24Resource(webhook_url=servers.base_urls["bitrix24"])
        with resource.client(RequestStats()) as client:
            scan = Scan(client, product_row_windows(sorted(world.bitrix_invoices), per_invoice),
                        label="test")
            rows = read_all(scan)
    assert sorted(r["id"] for r in rows if r["id"] in ids) == sorted(ids)
    assert {r["id"] for r in rows} == ids
    if delta == 0:
        assert scan.miscounts == []
        assert scan.stats.requests <= math.ceil(len(ids) / 2500) + 1
    elif per_invoice < 1:  # first pages come back full, so counts drive the reads
        assert scan.miscounts, "a wrong count went unnoticed"


def test_faults_are_retried_and_the_sync_is_still_complete(servers, sandbox, warehouse_path):
    sandbox.set_faults("bitrix24", FaultPlan(
        rate=0.35, kinds=("server_error", "drop", "truncate", "html", "throttle"), seed=3
    ))
    runner = Runner(servers.base_urls["bitrix24"], warehouse_path, retry_base_delay=0.01,
                    retry_max_delay=0.05, max_attempts=10)
    metas = runner.sync_all()
    for entity, ids in truth(sandbox.world).items():
        assert runner.live_ids(entity) == ids, entity
    assert sum(m["http_retries"] for m in metas.values()) > 0


def test_schema_drift_still_lands_every_record(servers, sandbox, warehouse_path):
    sandbox.set_faults("bitrix24", FaultPlan(drift=True))
    runner = Runner(servers.base_urls["bitrix24"], warehouse_path)
    runner.sync_all()
    for entity, ids in truth(sandbox.world).items():
        assert runner.live_ids(entity) == ids, entity
    assert "ufCrm_SMART_INVOICE" in runner.payload("invoices", min(sandbox.world.bitrix_invoices))


def test_build_resource_for_each_mode(monkeypatch):
    sandbox_mode = SOURCE.resource(load_environment({"FINANCE_PIPELINE_MODE": "sandbox"}))
    assert sandbox_mode.is_configured()
    assert sandbox_mode.base_url() == "http://bitrix24.sandbox/rest/1/sandboxwebhookkey0001/"
    assert (sandbox_mode.rate_limit, sandbox_mode.rate_burst) == (2.0, 48)
    unconfigured = SOURCE.resource(load_settings({"FINANCE_PIPELINE_MODE": "live"}))
    assert not unconfigured.is_configured()
    assert unconfigured.not_configured_reason() == "BITRIX24_WEBHOOK_URL is not set"
    url = "https://portal.bitrix24.ru/rest/12/abcdefsecret1234/"
    monkeypatch.setenv("BITRIX24_WEBHOOK_URL", url)
    settings = load_settings({"BITRIX24_WEBHOOK_URL": url, "BITRIX24_RATE_LIMIT": "1.5"})
    assert settings.mode is Mode.live
    live = SOURCE.resource(settings)
    assert live.rate_limit == 1.5
    # the secret stays an EnvVar (resolved by Dagster at run time, never stored)
    assert isinstance(live.webhook_url, dg.EnvVar) and live.webhook_url == "BITRIX24_WEBHOOK_URL"
    # As Dagster resolves the EnvVar at run start: the value the declaration accepts (trailing
    # slash restored) is the one requests and the rate-limit account use.
    resolved = Bitrix24Resource(webhook_url=url.rstrip("/"))
    assert resolved.base_url() == url
    assert resolved.account_key() == url


def test_a_webhook_accepted_at_run_start_is_masked_key_and_all() -> None:
    """A webhook the definitions never loaded (a run's resolved EnvVar) is registered for
    masking when the resource accepts it: the URL keeps its host, the key alone is hidden."""
    url = "https://other-portal.bitrix24.ru/rest/3/runStartKey0042/"
    Bitrix24Resource(webhook_url=url).accepted_values()
    assert mask(f"POST {url}crm.item.list") == (
        "POST https://other-portal.bitrix24.ru/rest/3/***/crm.item.list"
    )
    assert "runStartKey0042" not in mask("key runStartKey0042 in a repr")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"},
         AuthenticationError),
        (401, {"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"},
         AuthenticationError),
        (401, {"error": "ACCESS_DENIED", "error_description": "REST is available only by subscription"},
         PaymentRequiredError),
        (503, {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"},
         ThrottledError),
        (429, {"error": "OPERATION_TIME_LIMIT", "error_description": "Method is blocked"},
         ThrottledError),
        (404, {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"},
         NotFoundError),
        (400, {"error": "INVALID_ARG_VALUE", "error_description": "Invalid filter"},
         RequestRejectedError),
    ],
)
def test_classifier_quotes_bitrix24(status, body, expected):
    response = httpx.Response(status, json=body)
    cls, message = classify_bitrix24(response, body)
    assert cls is expected
    assert body["error"] in message and body["error_description"] in message


@pytest.mark.parametrize("reading", ["rejects", "ignores", "unfiltered"])
def test_product_rows_are_complete_whatever_an_owner_array_does(
    runner, sandbox, reading, small_world_size
):
    """crm-item-productrow-list.md gives three readings of an `=ownerId` array besides "works
    with arrays": refused (INVALID_ARG_VALUE), ignored so the required key is missing
    (REQUIRED_ARG_MISSING), or ignored so every row comes back. Full and incremental reads land
    exactly the rows of the world under each, falling back to one invoice per command."""
    sandbox.emulators["bitrix24"].owner_arrays = reading
    runner.sync("invoices")
    meta = runner.sync("invoice_product_rows")
    world = sandbox.world
    rows = {r.id for i in world.bitrix_invoices.values() for r in i.rows}
    assert runner.live_ids("invoice_product_rows") == rows
    assert meta["http_requests"] <= 1 + math.ceil(len(world.bitrix_invoices) / 50) + 1
    log = world.advance(14)
    runner.sync("invoices")
    runner.sync("invoice_product_rows")
    rows = {r.id for i in world.bitrix_invoices.values() for r in i.rows}
    changed = set(log.created.get(("bitrix24", "invoices"), [])) | set(
        log.updated.get(("bitrix24", "invoices"), [])
    )
    assert changed
    assert {r.id for i in changed if i in world.bitrix_invoices
            for r in world.bitrix_invoices[i].rows} <= runner.live_ids("invoice_product_rows")
    assert runner.live_ids("invoice_product_rows") <= rows | runner.live_ids(
        "invoice_product_rows"
    )


def test_products_come_from_crm_product_list_on_a_portal_without_the_catalog_methods(
    runner, sandbox
):
    """An older portal answers catalog.* with 404 ERROR_METHOD_NOT_FOUND: products are read
    with the deprecated crm.product.list (prices included), and no prices separately."""
    sandbox.emulators["bitrix24"].missing_methods = {
        "catalog.catalog.list", "catalog.product.list", "catalog.price.list",
        "catalog.pricetype.list",
    }
    runner.sync("products")
    runner.sync("product_prices")
    assert runner.live_ids("products") == set(sandbox.world.bitrix_products)
    assert runner.live_ids("product_prices") == set()
    first = min(sandbox.world.bitrix_products)
    assert '"PRICE"' in runner.payload("products", first)


def test_products_come_from_catalog_product_list_where_the_portal_has_it(runner, sandbox):
    runner.sync("products")
    runner.sync("product_prices")
    first = min(sandbox.world.bitrix_products)
    payload = runner.payload("products", first)
    assert '"iblockId"' in payload and '"PRICE"' not in payload
    assert runner.live_ids("product_prices") == set(sandbox.world.bitrix_products)
