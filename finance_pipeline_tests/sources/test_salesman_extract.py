"""SalesMan extraction end to end: the real client over loopback HTTP into DuckDB.

Full sync lands exactly the sandbox's invoices and their details; an incremental sync after
the world moves on picks up new, paid and split invoices and deletions of unpaid/recent ones
(older deletions wait for the full refresh, as documented); re-running changes nothing and
costs a handful of requests; wrong credentials fail with a clear, secret-free error.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dagster as dg
import duckdb
import pytest

from finance_pipeline.config import load_settings
from finance_pipeline.definitions import load_environment
from finance_pipeline.errors import ConfigError
from finance_pipeline.http.errors import AuthenticationError
from finance_pipeline.http.paging import PagingReport
from finance_pipeline.sources.extraction import ExtractConfig, run_extraction
from finance_pipeline.sources.salesman import (
    DETAILS,
    ENTITIES,
    INVOICES,
    SOURCE,
    SalesmanResource,
)
from finance_pipeline.sources.salesman.entities import LOOKBACK, list_invoices
from finance_pipeline.warehouse.resource import WarehouseResource
from finance_sandbox.core import (
    SANDBOX_CREDENTIALS,
    FaultPlan,
    Sandbox,
    SandboxServers,
    ServerRateLimit,
)
from finance_sandbox.salesman import USERS
from finance_sandbox.world import Deleted, World

# Each run first asks how this SalesMan reads its doc (sources/salesman ServerReadings): the
# list's count without `active`, with active=true and active=false, user/list, and the count of
# each user's invoices.
READINGS = 4 + len(USERS)

CREDS = SANDBOX_CREDENTIALS["salesman"]


def make_resource(servers: SandboxServers, **overrides: Any) -> SalesmanResource:
    settings: dict[str, Any] = {
        "crm_base_url": servers.base_urls["salesman"],
        "login": CREDS["login"],
        "api_key": CREDS["api_key"],
        "rate_limit": 500,
        "rate_burst": 100,
        "rate_start": 500,
        "retry_base_delay": 0.01,
        **overrides,
    }
    return SalesmanResource(**settings)


@pytest.fixture
def resource(servers: SandboxServers, sandbox: Sandbox) -> SalesmanResource:
    # Fast limits on both sides: a full details sync is one request per invoice.
    sandbox.settings.rate_limits["salesman"] = ServerRateLimit(rate=1000, burst=1000)
    return make_resource(servers)


@pytest.fixture
def warehouse(warehouse_path: Path) -> WarehouseResource:
    return WarehouseResource(path=str(warehouse_path))


def sync(spec, resource, warehouse, *, full: bool = False) -> dict[str, Any]:
    return run_extraction(
        spec,
        resource=resource,
        warehouse=warehouse,
        config=ExtractConfig(full_refresh=full),
        run_id="test",
        log=lambda message: None,
    )


def sync_all(resource, warehouse, *, full: bool = False) -> dict[str, dict[str, Any]]:
    return {spec.entity: sync(spec, resource, warehouse, full=full) for spec in ENTITIES}


def live_rows(warehouse: WarehouseResource, table: str) -> dict[str, dict[str, Any]]:
    with duckdb.connect(warehouse.path, read_only=True) as conn:
        rows = conn.execute(
            f"SELECT id, payload FROM raw.{table} WHERE deleted_at IS NULL"
        ).fetchall()
    return {key: json.loads(payload) for key, payload in rows}


def deleted_ids(warehouse: WarehouseResource, table: str) -> set[str]:
    with duckdb.connect(warehouse.path, read_only=True) as conn:
        rows = conn.execute(f"SELECT id FROM raw.{table} WHERE deleted_at IS NOT NULL").fetchall()
    return {key for (key,) in rows}


def truth_ids(world: World) -> set[str]:
    return {str(i) for i in world.salesman_invoices}


def delete_invoice(world: World, invoice_id: int) -> None:
    """Delete an invoice in SalesMan (the world does not delete SalesMan invoices by itself)."""
    record = world.salesman_invoices.pop(invoice_id)
    world.deleted[("salesman", "invoices")][invoice_id] = Deleted(record, world.now)


def single_part(world: World, paid: bool, newest: bool, known: set[str]) -> int:
    """A paid/unpaid invoice already synced that is not half of a split pair, oldest or newest."""
    numbers: dict[tuple[str, int], int] = {}
    for inv in world.salesman_invoices.values():
        numbers[(inv.invoice, inv.did)] = numbers.get((inv.invoice, inv.did), 0) + 1
    candidates = sorted(
        (inv.date_create, inv.id)
        for inv in world.salesman_invoices.values()
        if inv.paid == paid and numbers[(inv.invoice, inv.did)] == 1 and str(inv.id) in known
    )
    return candidates[-1 if newest else 0][1]


def test_full_then_incremental_then_full(resource, warehouse, sandbox: Sandbox) -> None:
    world = sandbox.world
    first = sync_all(resource, warehouse)
    assert first["invoices"]["sync_mode"] == "full"
    invoices = live_rows(warehouse, "salesman_invoices")
    details = live_rows(warehouse, "salesman_invoice_details")
    assert set(invoices) == set(details) == truth_ids(world)
    assert first["invoices"]["http_requests"] == READINGS + 1  # one page of up to 200 rows
    assert first["invoice_details"]["http_requests"] == len(world.salesman_invoices)
    for key, row in details.items():
        inv = world.salesman_invoices[int(key)]
        assert row["do"] == ("on" if inv.paid else "no")
        assert row["nds"] == pytest.approx(float(inv.nds)) and row["tip"] == inv.tip

    # Nothing changed upstream: nothing changes here, and it costs only a few requests.
    again = sync_all(resource, warehouse)
    assert again["invoices"]["sync_mode"] == "incremental"
    for metadata in again.values():
        assert metadata["rows_inserted"] == metadata["rows_updated"] == 0
        assert metadata["rows_deleted"] == 0
    assert again["invoices"]["http_requests"] == READINGS + 3  # window, unpaid, paid since
    assert again["invoice_details"]["http_requests"] == 0

    # The business moves on: new invoices, payments (some partial), plan-date edits; and
    # three deletions: an old unpaid, a recent paid and an old paid invoice. The unpaid one is
    # deleted first: the sandbox's customers pay most invoices within three weeks.
    known = set(invoices)
    old_unpaid = single_part(world, paid=False, newest=False, known=known)
    delete_invoice(world, old_unpaid)
    log = world.advance(21)
    created = set(log.created.get(("salesman", "invoices"), []))
    updated = set(log.updated.get(("salesman", "invoices"), []))
    assert created and updated
    recent_paid = single_part(world, paid=True, newest=True, known=known)
    old_paid = single_part(world, paid=True, newest=False, known=known)
    cursor = max(inv.date_create for inv in world.salesman_invoices.values())
    assert world.salesman_invoices[old_paid].date_create < cursor - LOOKBACK
    gone = {old_unpaid, recent_paid, old_paid}
    for invoice_id in (recent_paid, old_paid):
        delete_invoice(world, invoice_id)

    step = sync_all(resource, warehouse)
    invoices = live_rows(warehouse, "salesman_invoices")
    assert {str(i) for i in created - gone} <= set(invoices)
    for invoice_id in updated - gone:
        inv = world.salesman_invoices[invoice_id]
        row = invoices[str(invoice_id)]
        assert row["do"] is (True if inv.paid else None)
        assert row["date_plan"] == inv.date_plan.isoformat()
        assert row["summa"] == pytest.approx(float(inv.summa))
    # Unpaid and recent deletions are found by the reads; the old paid one, which no read
    # returns, by SalesMan's count in the reconciliation of the same run (salesman/reconcile.py).
    assert gone <= {int(i) for i in deleted_ids(warehouse, "salesman_invoices")}
    assert set(invoices) == truth_ids(world)
    assert step["invoices"]["rows_deleted"] == 2
    assert step["invoices"]["verification_marked_deleted"] == 1
    changed = step["invoices"]["rows_inserted"] + step["invoices"]["rows_updated"]
    # readings + reads + info checks + did re-reads
    assert step["invoices"]["http_requests"] <= READINGS + 3 + 2 + 2
    # Details follow the invoice table: only new/changed invoices are asked for.
    assert step["invoice_details"]["http_requests"] == changed
    details = live_rows(warehouse, "salesman_invoice_details")
    assert set(details) == set(invoices)
    assert {str(i) for i in gone} <= deleted_ids(warehouse, "salesman_invoice_details")
    for invoice_id in created - gone:
        assert details[str(invoice_id)]["crid"] == invoice_id

    # Idempotent: the same incremental run again changes nothing.
    again = sync_all(resource, warehouse)
    for metadata in again.values():
        assert metadata["rows_inserted"] == metadata["rows_updated"] == 0
        assert metadata["rows_deleted"] == 0
    assert again["invoices"]["http_requests"] <= READINGS + 4
    assert again["invoice_details"]["http_requests"] == 0

    # A full refresh finds nothing left to do.
    full = sync_all(resource, warehouse, full=True)
    assert full["invoices"]["rows_deleted"] == 0 and full["invoices"]["rows_updated"] == 0
    assert set(live_rows(warehouse, "salesman_invoices")) == truth_ids(world)
    assert set(live_rows(warehouse, "salesman_invoice_details")) == truth_ids(world)


def test_sync_from_start_date_rereads_details(resource, warehouse, sandbox: Sandbox) -> None:
    sync_all(resource, warehouse)
    since = (sandbox.world.today() - timedelta(days=60)).isoformat()
    config = ExtractConfig(start_date=since)
    metadata = run_extraction(
        DETAILS,
        resource=resource,
        warehouse=warehouse,
        config=config,
        run_id="t",
        log=lambda m: None,
    )
    expected = sum(
        1 for inv in sandbox.world.salesman_invoices.values()
        if inv.date_create.date().isoformat() >= since
    )  # fmt: skip
    assert metadata["sync_mode"] == "from start_date"
    assert metadata["http_requests"] == expected > 0
    assert metadata["rows_updated"] == metadata["rows_deleted"] == 0


def test_schema_drift_still_lands_every_invoice(resource, warehouse, sandbox: Sandbox) -> None:
    sandbox.set_faults("salesman", FaultPlan(drift=True))
    sync_all(resource, warehouse)
    assert set(live_rows(warehouse, "salesman_invoices")) == truth_ids(sandbox.world)
    assert set(live_rows(warehouse, "salesman_invoice_details")) == truth_ids(sandbox.world)


def test_transient_faults_are_retried(servers, resource, warehouse, sandbox: Sandbox) -> None:
    sandbox.set_faults("salesman", FaultPlan(rate=0.2, kinds=("server_error", "throttle")))
    metadata = sync_all(make_resource(servers, retry_max_delay=0.05), warehouse)
    assert metadata["invoice_details"]["http_retries"] > 0
    assert set(live_rows(warehouse, "salesman_invoices")) == truth_ids(sandbox.world)
    assert set(live_rows(warehouse, "salesman_invoice_details")) == truth_ids(sandbox.world)


@pytest.mark.parametrize("wrong", ["api_key", "login"])
def test_wrong_credentials_fail_clearly(servers, resource, warehouse, wrong: str) -> None:
    secret = "wrong-salesman-key-0042"
    value = secret if wrong == "api_key" else "nobody@example.com"
    bad = make_resource(servers, **{wrong: value})
    with pytest.raises(AuthenticationError) as caught:
        sync(INVOICES, bad, warehouse)
    message = str(caught.value)
    assert "[salesman]" in message and "invoice/list" in message
    assert ("Не верный API key" if wrong == "api_key" else "Неизвестный пользователь") in message
    assert secret not in message and CREDS["api_key"] not in message


def test_build_resource_per_mode(sandbox: Sandbox, warehouse, monkeypatch) -> None:
    in_sandbox = SOURCE.resource(load_environment({}))
    assert in_sandbox.is_configured()
    assert in_sandbox.base_url() == "http://salesman.sandbox"
    metadata = sync(INVOICES, in_sandbox, warehouse)  # in-process transport
    assert metadata["rows_live"] == len(sandbox.world.salesman_invoices)

    env = {
        "SALESMAN_BASE_URL": "https://crm.example.ru/",
        "SALESMAN_LOGIN": "buh@example.ru",
        "SALESMAN_API_KEY": "t1xdeOwWSIqgDol70CkRdK3WD4N4cm",
    }
    live = SOURCE.resource(load_settings(env))
    assert isinstance(live.api_key, dg.EnvVar) and isinstance(live.login, dg.EnvVar)
    assert live.crm_base_url == "https://crm.example.ru"
    declared = SOURCE.rate_limit
    assert (live.rate_limit, live.rate_burst) == (declared.rate, declared.burst)
    # No setting for the start: the limiter learns from SalesMan's declared starting rate.
    assert live.rate_start == declared.start == 3.0
    for name, value in env.items():  # what Dagster resolves the EnvVars from at run start
        monkeypatch.setenv(name, value)
    assert live.process_config_and_initialize().limiter().learned_rate() == declared.start

    unconfigured = SOURCE.resource(load_settings({"FINANCE_PIPELINE_MODE": "live"}))
    assert not unconfigured.is_configured()
    assert "SALESMAN_API_KEY" in unconfigured.not_configured_reason()


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("crm_base_url", "crm.example.ru", "SALESMAN_BASE_URL"),
        ("crm_base_url", "https://crm.example.ru/developer/v3/invoice", "SALESMAN_BASE_URL"),
        ("login", "two words", "SALESMAN_LOGIN"),
        ("api_key", "key with spaces", "SALESMAN_API_KEY"),
    ],
)
def test_config_is_validated(field: str, value: str, variable: str) -> None:
    good = {"crm_base_url": "https://crm.example.ru", "login": "a@b.ru", "api_key": "k" * 30}
    with pytest.raises(ConfigError) as caught:
        SalesmanResource(**{**good, field: value}).accepted_values()
    assert variable in str(caught.value)


class ClampingList:
    """invoice/list of a server that answers a page past the end with its last page (as some
    PHP paginators do) and says which page it served; `size` rows a page (the account's
    num_client), with or without its figures (`count`, `pageall`)."""

    def __init__(self, records: int, size: int = 200, figures: bool = True) -> None:
        self.rows = [{"id": i, "crid": i} for i in range(1, records + 1)]
        self.size = size
        self.pages_total = max(1, -(-records // size))
        self.figures = figures
        self.asked: list[int] = []

    def request(self, method: str, path: str, *, endpoint: str, json_body: dict) -> dict:
        self.asked.append(json_body["offset"])
        page = min(max(int(json_body["offset"]), 1), self.pages_total)
        data = self.rows[(page - 1) * self.size : page * self.size]
        if not self.figures:
            return {"data": data, "params": {"page": page}}
        return {"data": data, "params": {"page": page, "pageall": self.pages_total},
                "count": len(self.rows)}


@pytest.mark.parametrize("size", [200, 50])
@pytest.mark.parametrize("records", [199, 200, 400])
def test_the_servers_count_ends_the_list_whatever_its_page_size(records: int, size: int) -> None:
    """The page size is the account's setting, not the doc's 200: the read ends on the
    server's own `count` and `pageall`, without a request past the end."""
    server = ClampingList(records, size)
    ctx = SimpleNamespace(client=server, progress=lambda m: None, report=PagingReport())
    ids = [row["id"] for page in list_invoices(ctx, {}, "all") for row in page]
    assert ids == list(range(1, records + 1))
    assert len(server.asked) == server.pages_total


@pytest.mark.parametrize("records", [199, 200, 400])
def test_without_figures_a_clamped_answer_past_the_end_ends_the_list(records: int) -> None:
    """With no count the read goes on to the empty page; a server that answers the page past
    the end with its last page again is at the end, not looping."""
    server = ClampingList(records, figures=False)
    ctx = SimpleNamespace(client=server, progress=lambda m: None, report=PagingReport())
    ids = [row["id"] for page in list_invoices(ctx, {}, "all") for row in page]
    assert ids == list(range(1, records + 1))
    assert len(server.asked) == server.pages_total + 1  # the pages, then the clamped one


def test_details_bring_the_deal_specification_payer_and_currency(
    resource, warehouse, sandbox: Sandbox
) -> None:
    """invoice/info is asked with dealinfo=true: each detail row carries Deal::info (speca,
    client, payer) and the deal's currency, for no extra request; staging types them."""
    from decimal import Decimal

    from finance_pipeline.models import discover_models
    from finance_pipeline.models.assets import build_model

    world = sandbox.world
    result = sync_all(resource, warehouse)
    assert result["invoice_details"]["http_requests"] == len(world.salesman_invoices)
    details = live_rows(warehouse, "salesman_invoice_details")
    deal_totals: dict[int, Decimal] = {}
    for inv in world.salesman_invoices.values():
        deal_totals[inv.did] = deal_totals.get(inv.did, Decimal(0)) + inv.summa
    foreign = 0
    for key, row in details.items():
        inv = world.salesman_invoices[int(key)]
        deal = row["deal"]
        assert deal["did"] == inv.did and deal["client"]["clid"] == inv.clid
        assert deal["payer"]["clid"] in world.salesman_clients
        spec_total = sum(
            Decimal(str(x["price"])) * Decimal(str(x["kol"])) * Decimal(x["dop"])
            for x in deal["speca"]
        )
        assert spec_total == deal_totals[inv.did]
        foreign += bool(row["idcurrency"])
    assert foreign > 0
    models = {model.table: model for model in discover_models()}
    with duckdb.connect(warehouse.path) as conn:
        for table in ("staging.salesman_invoice_details", "staging.salesman_deal_lines"):
            build_model(conn, models[table])
        lines = conn.execute(
            "SELECT deal_id, sum(line_total), min(deal_invoice_numbers), "
            "bool_and(len(_parse_errors) = 0) FROM staging.salesman_deal_lines GROUP BY 1"
        ).fetchall()
        currencies = dict(conn.execute(
            "SELECT invoice_id, document_currency FROM staging.salesman_invoice_details"
        ).fetchall())
    assert {int(did): total for did, total, _, _ in lines} == deal_totals
    assert all(numbers == 1 and clean for _, _, numbers, clean in lines)
    assert None not in currencies.values()
    assert set(currencies.values()) > {"RUB"}
