"""Adesk extraction over real HTTP (loopback sandbox servers, sandbox=False): completeness,
incremental syncs, idempotency, request counts and error reporting."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pytest

from finance_pipeline.http.errors import (
    AuthenticationError,
    NetworkError,
    PaymentRequiredError,
    RequestRejectedError,
)
from finance_pipeline.sources.adesk import ENTITIES, AdeskResource
from finance_pipeline.sources.adesk.entities import TRANSACTIONS_LOOKBACK
from finance_pipeline.sources.extraction import ExtractConfig, run_extraction
from finance_pipeline.warehouse.resource import WarehouseResource
from finance_sandbox.core import SANDBOX_CREDENTIALS, FaultPlan, ServerRateLimit
from finance_sandbox.world import AdeskContractorRequisite

TOKEN = SANDBOX_CREDENTIALS["adesk"]["api_token"]
SPECS = {spec.entity: spec for spec in ENTITIES}
WORLD_TABLES = {
    "transactions": "adesk_transactions",
    "transaction_categories": "categories",
    "projects": "projects",
    "project_categories": "project_categories",
    "bank_accounts": "bank_accounts",
    "legal_entities": "legal_entities",
    "contractors": "adesk_contractors",
    "contractor_requisites": "adesk_contractor_requisites",
    "commitments": "adesk_commitments",
    "products": "adesk_products",
    "units": "units",
    "tags": "tags",
}


@pytest.fixture
def resource(sandbox, servers) -> AdeskResource:
    # These tests are about completeness and request counts, not about waiting for the limit.
    sandbox.settings.rate_limits["adesk"] = ServerRateLimit(rate=1000, burst=1000)
    return AdeskResource(
        api_token=TOKEN,
        api_base_url=servers.base_urls["adesk"],
        rate_limit=500,
        rate_burst=500,
        rate_start=500,
        retry_base_delay=0.01,
    )


@pytest.fixture
def warehouse(warehouse_path) -> WarehouseResource:
    return WarehouseResource(path=str(warehouse_path))


def sync(resource, warehouse, entities=None, *, full=False, run_id="run") -> dict[str, dict]:
    out = {}
    for entity in entities or list(SPECS):
        out[entity] = run_extraction(
            SPECS[entity],
            resource=resource,
            warehouse=warehouse,
            config=ExtractConfig(full_refresh=full),
            run_id=run_id,
            log=lambda message: None,
        )
    return out


def live_ids(warehouse, entity: str) -> set[int]:
    with duckdb.connect(warehouse.path, read_only=True) as conn:
        rows = conn.execute(
            f"SELECT id FROM raw.adesk_{entity} WHERE deleted_at IS NULL"
        ).fetchall()
    return {int(r[0]) for r in rows}


def payloads(warehouse, entity: str, field: str) -> dict[int, str]:
    with duckdb.connect(warehouse.path, read_only=True) as conn:
        rows = conn.execute(
            f"SELECT id, json_extract_string(payload, '$.{field}') FROM raw.adesk_{entity} "
            "WHERE deleted_at IS NULL"
        ).fetchall()
    return {int(r[0]): r[1] for r in rows}


def assert_matches_world(warehouse, world) -> None:
    for entity, table in WORLD_TABLES.items():
        assert live_ids(warehouse, entity) == set(getattr(world, table)), entity


def test_full_sync_lands_every_record_and_a_rerun_changes_nothing(resource, warehouse, sandbox):
    world = sandbox.world
    result = sync(resource, warehouse)
    assert_matches_world(warehouse, world)
    for entity, table in WORLD_TABLES.items():
        assert result[entity]["rows_live"] == len(getattr(world, table))
        assert result[entity]["sync_mode"] == "full"
    # Planned movements and both legs of every transfer are there, archived projects too.
    planned = payloads(warehouse, "transactions", "isPlanned")
    assert sum(v == "true" for v in planned.values()) == world.truth.planned_count > 0
    transfer_flags = payloads(warehouse, "transactions", "isTransfer")
    legs = {
        i
        for t in world.adesk_transfers.values()
        for i in (t.outcome_transaction_id, t.income_transaction_id)
    }
    assert legs and {i for i, v in transfer_flags.items() if v == "true"} == legs
    assert any(p.is_archived for p in world.projects.values())
    amounts = payloads(warehouse, "bank_accounts", "amount")
    assert {i: float(a) for i, a in amounts.items()} == {
        i: float(b) for i, b in world.truth.balances.items()
    }
    # Requisites carry their contractor for scoped deletions.
    owners = payloads(warehouse, "contractor_requisites", "_contractor_id")
    assert {i: int(c) for i, c in owners.items()} == {
        i: r.contractor_id for i, r in world.adesk_contractor_requisites.items()
    }
    # One request per list; requisites one per contractor plus the contractor list.
    assert result["transactions"]["http_requests"] == 1  # the largest page holds the small world
    assert result["contractor_requisites"]["http_requests"] == len(world.adesk_contractors) + 1

    # The same sync again: nothing changes, and each entity costs at most two requests.
    again = sync(resource, warehouse, run_id="again")
    for entity, meta in again.items():
        assert meta["rows_inserted"] == meta["rows_updated"] == meta["rows_deleted"] == 0, entity
        assert meta["http_requests"] <= 2, (entity, meta["http_requests"])
    assert again["transactions"]["sync_mode"] == "incremental"
    assert again["transactions"]["http_requests"] == 2  # the window, older planned ones
    assert again["contractor_requisites"]["sync_mode"] == "incremental"
    assert again["contractor_requisites"]["http_requests"] == 0
    assert_matches_world(warehouse, world)


def test_paging_streams_several_pages(resource, warehouse, sandbox):
    small_pages = resource.model_copy(update={"page_length": 100})
    result = sync(small_pages, warehouse, ["transactions", "projects", "bank_accounts"])
    n = len(sandbox.world.adesk_transactions)
    assert (
        result["transactions"]["pages"] == result["transactions"]["http_requests"] == -(-n // 100)
    )
    assert live_ids(warehouse, "transactions") == set(sandbox.world.adesk_transactions)


def test_incremental_after_the_world_moves_then_full_refresh(resource, warehouse, sandbox):
    world = sandbox.world
    sync(resource, warehouse, ["transactions"])
    log = world.advance(7)
    txns = world.adesk_transactions
    window_start = max(t.date for t in txns.values() if not t.is_planned) - TRANSACTIONS_LOOKBACK
    # Deletions and date changes inside the window, on top of what advance() did.
    recent = sorted(
        i
        for i, t in txns.items()
        if not t.is_planned and not t.is_transfer and t.date > window_start + timedelta(days=5)
    )
    deleted_recent, moved = recent[0], recent[1]
    txns.pop(deleted_recent)
    txns[moved].date -= timedelta(days=200)  # now older than the window
    planned = next(i for i, t in txns.items() if t.is_planned and not t.is_transfer)
    txns.pop(planned)

    result = sync(resource, warehouse, ["transactions"], run_id="incremental")["transactions"]
    assert result["sync_mode"] == "incremental"
    created = log.created[("adesk", "transactions")]
    assert set(created) <= live_ids(warehouse, "transactions")
    assert result["rows_inserted"] == len(created)
    gone = {deleted_recent, planned}
    assert not gone & live_ids(warehouse, "transactions")
    dates = payloads(warehouse, "transactions", "date")
    assert dates[moved] == txns[moved].date.strftime("%d.%m.%Y")  # looked up by id, not deleted
    # Edits inside the window arrived; amounts of every movement dated in it match the world.
    amounts = payloads(warehouse, "transactions", "amount")
    for tid, t in txns.items():
        if t.date >= window_start:
            assert float(amounts[tid]) == float(t.amount), tid
    # The request count: the window, the overdue planned ones, one look-up per vanished row
    # (ours, and any advance() deleted inside the window).
    deleted_by_world = set(log.deleted.get(("adesk", "transactions"), []))
    assert 2 + 3 <= result["http_requests"] <= 2 + 3 + len(deleted_by_world)

    full = sync(resource, warehouse, ["transactions"], full=True, run_id="full")["transactions"]
    assert live_ids(warehouse, "transactions") == set(txns)
    # Deletions outside the window wait for the full refresh; together they are all there.
    assert result["rows_deleted"] + full["rows_deleted"] == len(deleted_by_world | gone)
    amounts = payloads(warehouse, "transactions", "amount")
    assert {i: float(a) for i, a in amounts.items()} == {
        i: float(t.amount) for i, t in txns.items()
    }


def test_requisites_are_read_only_for_changed_contractors(resource, warehouse, sandbox):
    world = sandbox.world
    sync(resource, warehouse, ["contractors", "contractor_requisites"])
    owners: dict[int, list[int]] = {}
    for rid, req in world.adesk_contractor_requisites.items():
        owners.setdefault(req.contractor_id, []).append(rid)
    doomed, edited = list(owners)[:2]
    # A contractor deleted upstream with its requisites ...
    doomed_reqs = owners[doomed]
    for rid in doomed_reqs:
        world.adesk_contractor_requisites.pop(rid)
    world.adesk_contractors.pop(doomed)
    # ... and one edited, with a requisite added and one removed.
    world.adesk_contractors[edited].name += " (новое имя)"
    template = world.adesk_contractor_requisites.pop(owners[edited][0])
    new_id = max(world.adesk_contractor_requisites) + 1000
    world.adesk_contractor_requisites[new_id] = AdeskContractorRequisite(
        **{**{f: getattr(template, f) for f in template.__slots__}, "id": new_id}
    )
    sandbox.emulators["adesk"].invalidate()

    result = sync(resource, warehouse, ["contractors", "contractor_requisites"], run_id="inc")
    assert result["contractors"]["rows_deleted"] == 1
    assert result["contractors"]["rows_updated"] == 1
    requisites = result["contractor_requisites"]
    assert requisites["sync_mode"] == "incremental"
    assert requisites["http_requests"] == 1  # only the edited contractor is read again
    live = live_ids(warehouse, "contractor_requisites")
    assert live == set(world.adesk_contractor_requisites)
    assert requisites["rows_deleted"] == len(doomed_reqs) + 1
    again = sync(resource, warehouse, ["contractors", "contractor_requisites"], run_id="again")
    assert again["contractor_requisites"]["http_requests"] == 0


def test_drifted_answers_still_land_completely(resource, warehouse, sandbox):
    sandbox.set_faults("adesk", FaultPlan(drift=True))
    entities = ["transactions", "contractors", "contractor_requisites", "commitments", "projects"]
    sync(resource, warehouse, entities)
    sync(resource, warehouse, entities, run_id="incremental")
    for entity in entities:
        assert live_ids(warehouse, entity) == set(getattr(sandbox.world, WORLD_TABLES[entity]))


def test_wrong_token_names_source_and_endpoint_without_the_secret(resource, warehouse, servers):
    secret = "wrong-adesk-token-123456"
    bad = resource.model_copy(update={"api_token": secret})
    with pytest.raises(AuthenticationError) as raised:
        sync(bad, warehouse, ["transactions"])
    text = str(raised.value)
    assert "[adesk]" in text and "/v1/transactions" in text
    assert "Auth required" in text
    assert secret not in text and TOKEN not in text
    assert raised.value.status == 401


def test_network_errors_do_not_leak_the_token_from_the_url(resource, warehouse, sandbox):
    # The token rides in the query string; a dropped connection must not print the URL.
    sandbox.set_faults("adesk", FaultPlan(rate=1.0, kinds=("drop",)))
    flaky = resource.model_copy(update={"max_attempts": 2})
    with pytest.raises(NetworkError) as raised:
        sync(flaky, warehouse, ["tags"])
    text = str(raised.value)
    assert "[adesk]" in text and "/v1/tags" in text
    assert TOKEN not in text and "api_token=" + TOKEN not in repr(raised.value)


def test_body_codes_win_over_the_http_status(resource, warehouse, sandbox):
    # Payment required carried by an HTTP 200: the body's code 21 decides.
    sandbox.set_faults("adesk", FaultPlan(always={"/v1/": 21}))
    with pytest.raises(PaymentRequiredError) as raised:
        sync(resource, warehouse, ["tags"])
    assert raised.value.status == 200
    assert "Payment required" in str(raised.value) and TOKEN not in str(raised.value)
    sandbox.set_faults("adesk", FaultPlan(always={"/v1/": 402}))
    with pytest.raises(PaymentRequiredError):
        sync(resource, warehouse, ["transactions"])


def test_throttling_is_retried(resource, warehouse, sandbox):
    sandbox.set_faults("adesk", FaultPlan(rate=0.3, kinds=("throttle",), seed=3))
    result = sync(resource, warehouse, ["transactions", "contractors", "tags"])
    assert sum(meta["http_throttled"] for meta in result.values()) >= 1
    assert live_ids(warehouse, "transactions") == set(sandbox.world.adesk_transactions)


def test_a_page_longer_than_the_api_allows_is_refused(resource, warehouse):
    too_long = resource.model_copy(update={"page_length": 1001})
    with pytest.raises(RequestRejectedError) as raised:
        sync(too_long, warehouse, ["transactions"])
    assert "length" in str(raised.value)
