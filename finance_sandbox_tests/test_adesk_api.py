"""The Adesk emulator speaks the documented protocol, checked with plain httpx over loopback.

Spec: shared/api-docs/adesk-api.md (auth, payment and throttle bodies at the top; the list
methods' parameters and answers). HTTP statuses and the `length` maximum are the sandbox's
documented choices (see finance_sandbox/adesk.py).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest

from finance_pipeline.sources.adesk import AdeskResource
from finance_sandbox.adesk import LIST_DEFAULT_LENGTH, LIST_MAX_LENGTH
from finance_sandbox.core import SANDBOX_CREDENTIALS, FaultPlan, ServerRateLimit

TOKEN = SANDBOX_CREDENTIALS["adesk"]["api_token"]
AUTH = {"message": "Auth required", "code": 401, "success": False}
PAYMENT = {"message": "Payment required", "code": 21, "success": False}
THROTTLED = {"message": "Too many requests", "code": 429, "success": False}
DMY = re.compile(r"^\d{2}\.\d{2}\.\d{4}$")
MONEY = re.compile(r"^-?\d+(\.\d{1,2})?$")


@pytest.fixture
def api(sandbox, servers):
    # Protocol tests are not about the rate limit (one test sets its own).
    sandbox.settings.rate_limits["adesk"] = ServerRateLimit(rate=1000, burst=1000)
    with httpx.Client(
        base_url=servers.base_urls["adesk"], params={"api_token": TOKEN}, timeout=10
    ) as client:
        yield client


def _dmy(d: date) -> str:
    return d.strftime("%d.%m.%Y")


def _page_through(api: httpx.Client, length: int, **params) -> list[dict]:
    rows, start = [], 0
    while True:
        body = api.get("/v1/transactions", params={**params, "start": start, "length": length})
        body = body.json()
        assert body["success"] is True
        assert body["recordsTotal"] == len(body["transactions"])  # rows of this page
        rows += body["transactions"]
        if len(body["transactions"]) < length:
            assert len(rows) == body["recordsFiltered"]  # the total for the filter
            return rows
        start += length


def test_token_is_the_api_token_parameter_on_v1_and_may_be_a_header_on_v2(servers):
    base = servers.base_urls["adesk"]
    missing = httpx.get(base + "/v1/tags")
    assert missing.status_code == 401
    assert missing.json() == AUTH
    wrong = httpx.get(base + "/v1/tags", params={"api_token": "not-the-token"})
    assert wrong.status_code == 401
    assert wrong.json() == AUTH
    # The X-API-Token header exists on v2 only.
    assert httpx.get(base + "/v1/tags", headers={"X-API-Token": TOKEN}).json() == AUTH
    assert httpx.get(base + "/v1/tags", params={"api_token": TOKEN}).json()["success"] is True
    v2 = httpx.get(base + "/v2/custom-report-groups", headers={"X-API-Token": TOKEN})
    assert v2.status_code == 200
    assert v2.json() == {"success": True, "data": []}
    bad_v2 = httpx.get(base + "/v2/custom-report-groups", headers={"X-API-Token": "nope"})
    assert (bad_v2.status_code, bad_v2.json()) == (401, AUTH)
    assert (
        httpx.get(base + "/v2/custom-report-groups", params={"api_token": TOKEN}).status_code == 200
    )


def test_transactions_page_with_start_and_length_newest_first(api, sandbox):
    world = sandbox.world
    rows = _page_through(api, 100, status="all")
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)) == len(world.adesk_transactions)
    assert set(ids) == set(world.adesk_transactions)
    keys = [(world.adesk_transactions[i].date, i) for i in ids]
    assert keys == sorted(keys, reverse=True)
    # A start past the end is an empty page, not an error.
    body = api.get("/v1/transactions", params={"status": "all", "start": 10**6, "length": 10})
    assert body.json()["transactions"] == []
    assert body.json()["recordsFiltered"] == len(world.adesk_transactions)


def test_length_limits_and_default(api):
    # The client asks for exactly the largest page the API accepts.
    assert AdeskResource.model_fields["page_length"].default == LIST_MAX_LENGTH
    too_long = api.get("/v1/transactions", params={"length": LIST_MAX_LENGTH + 1})
    assert too_long.status_code == 400
    body = too_long.json()
    assert body["success"] is False and "length" in body["errors"]
    assert str(LIST_MAX_LENGTH) in body["message"]
    assert api.get("/v1/transactions", params={"length": LIST_MAX_LENGTH}).status_code == 200
    for bad in ({"length": 0}, {"length": "ten"}, {"start": -1}):
        answer = api.get("/v1/transactions", params=bad)
        assert answer.status_code == 400
        assert answer.json()["success"] is False
    assert api.get("/v1/projects", params={"length": LIST_MAX_LENGTH + 1}).status_code == 400
    assert api.get("/v1/bank-accounts", params={"length": LIST_MAX_LENGTH + 1}).status_code == 400
    default = api.get("/v1/transactions", params={"status": "all"}).json()
    assert len(default["transactions"]) == LIST_DEFAULT_LENGTH < default["recordsFiltered"]


def test_transaction_filters_status_type_and_range(api, sandbox):
    world = sandbox.world
    truth = world.truth
    txns = world.adesk_transactions

    def total(**params) -> int:
        answer = api.get("/v1/transactions", params={**params, "length": 1})
        assert answer.status_code == 200, answer.text
        return answer.json()["recordsFiltered"]

    planned = sum(1 for t in txns.values() if t.is_planned)
    assert planned == truth.planned_count > 0
    # Without `status` only completed movements are listed: planned ones must be asked for.
    assert total() == truth.actual_count
    assert total(status="completed") == truth.actual_count
    assert total(status="planned") == planned
    assert total(status="all") == len(txns)
    transfers = sum(1 for t in txns.values() if t.is_transfer and not t.is_planned)
    assert transfers == 2 * truth.transfers_count
    assert total(type="transfers") == transfers
    assert total(type="all") == truth.actual_count
    incomes = sum(
        1 for t in txns.values() if t.type == 1 and not t.is_transfer and not t.is_planned
    )
    assert total(type="income") == incomes
    assert total(type="income") + total(type="outcome") + transfers == truth.actual_count

    first, last = date(2026, 3, 1), date(2026, 3, 31)
    in_march = {i for i, t in txns.items() if first <= t.date <= last}
    rows = _page_through(
        api, 1000, status="all", range="custom", range_start="2026-03-01", range_end="2026-03-31"
    )
    assert {r["id"] for r in rows} == in_march
    accrual = {i for i, t in txns.items() if first <= t.related_date <= last}
    rows = _page_through(
        api,
        1000,
        status="all",
        range="custom",
        range_start="2026-03-01",
        range_end="2026-03-31",
        date_type="accrual",
    )
    assert {r["id"] for r in rows} == accrual
    today = world.today()
    this_month = {
        i
        for i, t in txns.items()
        if not t.is_planned and (t.date.year, t.date.month) == (today.year, today.month)
    }
    assert total(range="this_month") == len(this_month)

    for bad, param in (
        ({"range": "custom", "range_start": "2026-03-01"}, "range_end"),
        (
            {"range": "custom", "range_start": "01.03.2026", "range_end": "2026-03-31"},
            "range_start",
        ),
        ({"range": "last_week"}, "range"),
        ({"status": "done"}, "status"),
        ({"type": "expense"}, "type"),
        ({"date_type": "created"}, "date_type"),
    ):
        answer = api.get("/v1/transactions", params=bad)
        assert answer.status_code == 400, bad
        assert answer.json()["success"] is False and param in answer.json()["errors"]


def test_transaction_rendering_and_transfer_legs(api, sandbox):
    world = sandbox.world
    rows = {r["id"]: r for r in _page_through(api, 1000, status="all")}
    for row in rows.values():
        assert DMY.match(row["date"]) and DMY.match(row["relatedDate"])
        assert isinstance(row["amount"], str) and MONEY.match(row["amount"])
        assert row["type"] in (1, 2)
        record = world.adesk_transactions[row["id"]]
        assert row["date"] == _dmy(record.date)
        assert float(row["amount"]) == float(record.amount)
        assert row["isPlanned"] is record.is_planned
        assert row["bankAccount"]["id"] == record.bank_account_id
    assert any(r["amount"].count(".") == 0 for r in rows.values())  # whole amounts: "67"
    for transfer in world.adesk_transfers.values():
        out = rows[transfer.outcome_transaction_id]
        inc = rows[transfer.income_transaction_id]
        assert out["isTransfer"] is inc["isTransfer"] is True
        assert (out["type"], inc["type"]) == (2, 1)
        assert out["category"] is None and inc["category"] is None
        assert out["bankAccount"]["id"] == transfer.from_account_id
        assert inc["bankAccount"]["id"] == transfer.to_account_id
        # Each leg in its own account's currency: what left the sender (the transfer's
        # `amount`, adesk-api.md l.951) and what arrived (`amount_to`, l.982).
        assert Decimal(out["amount"]) == transfer.amount
        assert Decimal(inc["amount"]) == transfer.amount_to
        assert out["date"] == inc["date"] == _dmy(transfer.date)
        # Both legs name the transfer and each other (v2 operation object, l.1254-1256).
        assert out["transferId"] == inc["transferId"] == transfer.id
        assert (out["pairedTransactionId"], inc["pairedTransactionId"]) == (inc["id"], out["id"])
        assert out["pairTransferTransaction"]["id"] == inc["id"]
        assert inc["pairTransferTransaction"]["amount"] == out["amount"]
        assert inc["pairTransferTransaction"]["pairTransferTransaction"] is None
    ordinary = [r for r in rows.values() if not r["isTransfer"]]
    assert all(r["transferId"] is None and r["pairedTransactionId"] is None for r in ordinary)
    one = next(iter(world.adesk_transactions))
    single = api.get(f"/v1/transaction/{one}").json()
    assert single["success"] is True and single["transaction"] == rows[one]
    gone = api.get("/v1/transaction/1")
    assert gone.status_code == 404 and gone.json()["success"] is False


def test_transfer_between_currencies_in_the_documented_shape(api, sandbox):
    """A RUB -> USD transfer, as the docs' own example (adesk-api.md l.934-958: from RUR to
    USD, `amount` in the sender's currency): the rouble leg carries the roubles, the dollar leg
    the dollars, each with its account's currency and rate to the base currency (`exchangeRate`,
    `bankAccount.rate`, l.1229/l.1250), and the legs find each other by `transferId`."""
    world = sandbox.world
    currency = world.currency_of_account
    crossing = [
        tr
        for tr in world.adesk_transfers.values()
        if currency(tr.from_account_id) != currency(tr.to_account_id)
    ]
    assert {(currency(t.from_account_id), currency(t.to_account_id)) for t in crossing} == {
        ("RUR", "USD"),
        ("USD", "RUR"),
    }
    legs = _page_through(api, 1000, status="all", type="transfers")
    assert {r["id"] for r in legs} == {
        i
        for tr in world.adesk_transfers.values()
        for i in (tr.outcome_transaction_id, tr.income_transaction_id)
    }
    by_transfer: dict[int, dict[int, dict]] = {}
    for row in legs:
        by_transfer.setdefault(row["transferId"], {})[row["type"]] = row
    for tr in crossing:
        out, inc = by_transfer[tr.id][2], by_transfer[tr.id][1]
        assert out["bankAccount"]["currency"] == currency(tr.from_account_id)
        assert inc["bankAccount"]["currency"] == currency(tr.to_account_id)
        assert out["amount"] != inc["amount"]
        assert (Decimal(out["amount"]), Decimal(inc["amount"])) == (tr.amount, tr.amount_to)
        day = tr.date
        for leg in (out, inc):
            official = float(world.rub_per_unit(leg["bankAccount"]["currency"], day))
            assert isinstance(leg["exchangeRate"], float) and leg["exchangeRate"] == official
        # Roubles per dollar implied by the two legs: the official rate give or take the
        # bank's margin.
        roubles, dollars = (out, inc) if out["bankAccount"]["currency"] == "RUR" else (inc, out)
        implied = Decimal(roubles["amount"]) / Decimal(dollars["amount"])
        assert abs(implied / world.rub_per_unit("USD", day) - 1) < Decimal("0.03")
    accounts = {r["bankAccount"]["currency"]: r["bankAccount"]["rate"] for r in legs}
    assert accounts["RUR"] == 1.0 and accounts["USD"] > 1.0
    balances = api.get("/v1/bank-accounts", params={"length": 100}).json()["bankAccounts"]
    assert {a["currency"] for a in balances} == {"RUR", "KZT", "USD"}


def test_business_units_on_expenses_and_their_filter(api, sandbox):
    """`business_unit` {id, name} on expenses (adesk-api.md l.1103-1106; only on outcomes and
    never with a project, l.1686), filterable by id, no_business_unit, any_business_unit
    (l.1865)."""
    world = sandbox.world
    rows = _page_through(api, 1000, status="all")
    with_unit = [r for r in rows if r["business_unit"] is not None]
    assert with_unit
    for row in with_unit:
        record = world.adesk_transactions[row["id"]]
        unit = world.project_categories[record.business_unit_id]
        assert row["business_unit"] == {"id": unit.id, "name": unit.name}
        assert row["type"] == 2 and row["project"] is None
    assert {r["id"] for r in rows if r["business_unit"] is None} == {
        t.id for t in world.adesk_transactions.values() if t.business_unit_id is None
    }
    any_unit = _page_through(api, 1000, status="all", business_unit="any_business_unit")
    assert {r["id"] for r in any_unit} == {r["id"] for r in with_unit}
    none = _page_through(api, 1000, status="all", business_unit="no_business_unit")
    assert len(none) + len(any_unit) == len(rows)
    unit_id = with_unit[0]["business_unit"]["id"]
    one_unit = _page_through(api, 1000, status="all", business_unit=str(unit_id))
    assert one_unit and all(r["business_unit"]["id"] == unit_id for r in one_unit)
    assert len(one_unit) == sum(1 for r in with_unit if r["business_unit"]["id"] == unit_id)


def test_reference_lists_answer_everything_at_once(api, sandbox):
    world = sandbox.world
    for path, key, table in (
        ("/v1/transactions/categories", "categories", world.categories),
        ("/v1/projects/categories", "categories", world.project_categories),
        ("/v1/legal-entities", "legalEntities", world.legal_entities),
        ("/v1/contractors", "contractors", world.adesk_contractors),
        ("/v1/warehouse/products", "products", world.adesk_products),
    ):
        # Paging parameters are not documented for these lists and change nothing.
        body = api.get(path, params={"length": 2}).json()
        assert body["success"] is True
        assert {r["id"] for r in body[key]} == set(table), path
        assert body["recordsTotal"] == body["recordsFiltered"] == len(table)
    units = api.get("/v1/warehouse/units").json()
    assert {u["id"] for u in units["units"]} == set(world.units)
    tags = api.get("/v1/tags").json()
    assert {t["id"] for t in tags["tags"]} == set(world.tags)
    grouped = api.get("/v1/transactions/categories", params={"full_group": "true"}).json()
    assert all(isinstance(c["group"], dict) for c in grouped["categories"])
    outcome = api.get("/v1/transactions/categories", params={"type": "outcome"}).json()
    assert {c["type"] for c in outcome["categories"]} == {2}


def test_projects_default_to_active_and_bank_accounts_carry_the_balance(api, sandbox):
    world = sandbox.world
    archived = {p.id for p in world.projects.values() if p.is_archived}
    assert archived
    active = api.get("/v1/projects", params={"length": 1000}).json()
    assert {p["id"] for p in active["projects"]} == set(world.projects) - archived
    every = api.get("/v1/projects", params={"status": "all", "length": 1000}).json()
    assert {p["id"] for p in every["projects"]} == set(world.projects)
    assert every["recordsFiltered"] == len(world.projects) and "total" in every
    paged = api.get("/v1/projects", params={"status": "all", "start": 2, "length": 3}).json()
    assert paged["recordsTotal"] == 3 and paged["recordsFiltered"] == len(world.projects)

    accounts = api.get("/v1/bank-accounts", params={"length": 1000}).json()
    assert {a["id"] for a in accounts["bankAccounts"]} == set(world.bank_accounts)
    balances = world.truth.balances
    for account in accounts["bankAccounts"]:
        assert float(account["amount"]) == float(balances[account["id"]])
        assert DMY.match(account["initialAmountDate"])
    closed = api.get("/v1/bank-accounts", params={"status": "closed"}).json()
    assert {a["status"] for a in closed["bankAccounts"]} == {"closed"}


def test_contractor_requisites_and_commitments(api, sandbox):
    world = sandbox.world
    by_contractor: dict[int, set[int]] = {}
    for rid, req in world.adesk_contractor_requisites.items():
        by_contractor.setdefault(req.contractor_id, set()).add(rid)
    cid, rids = next(iter(by_contractor.items()))
    body = api.get(f"/v1/contractor/{cid}/requisites").json()
    assert {r["id"] for r in body["requisites"]} == rids
    assert body["recordsFiltered"] == len(rids)
    unknown = api.get("/v1/contractor/999999/requisites")
    assert unknown.status_code == 404 and unknown.json()["success"] is False

    # The commitments list is a POST with a form body.
    listed = api.post("/v1/commitments", data={"range": "all_time"})
    assert listed.status_code == 200
    assert {c["id"] for c in listed.json()["commitments"]} == set(world.adesk_commitments)
    assert api.get("/v1/commitments").status_code == 405
    some = next(iter(world.adesk_commitments.values()))
    mine = api.post("/v1/commitments", data={"contractors[]": str(some.contractor_id)}).json()
    assert some.id in {c["id"] for c in mine["commitments"]}
    assert {c["contractor"]["id"] for c in mine["commitments"]} == {some.contractor_id}
    assert api.get("/v1/nothing-here").status_code == 404


def test_throttle_and_payment_answers(api, sandbox):
    sandbox.settings.rate_limits["adesk"] = ServerRateLimit(rate=0.01, burst=2)
    answers = [api.get("/v1/tags") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json() == THROTTLED
    sandbox.settings.rate_limits["adesk"] = ServerRateLimit(rate=1000, burst=1000)

    sandbox.set_faults("adesk", FaultPlan(always={"/v1/": 402}))
    blocked = api.get("/v1/tags")
    assert (blocked.status_code, blocked.json()) == (402, PAYMENT)
    sandbox.set_faults("adesk", FaultPlan(always={"/v1/": 21}))
    in_body_only = api.get("/v1/tags")
    assert (in_body_only.status_code, in_body_only.json()) == (200, PAYMENT)


def test_drift_keeps_ids_and_changes_the_rest(api, sandbox):
    sandbox.set_faults("adesk", FaultPlan(drift=True))
    rows = _page_through(api, 1000, status="all")
    assert {r["id"] for r in rows} == set(sandbox.world.adesk_transactions)
    assert all("externalId" in r for r in rows)
    assert any("dateFormatted" not in r for r in rows)
    assert any(isinstance(r["type"], str) for r in rows)
    assert any(r["description"] is None for r in rows)
    assert all(DMY.match(r["date"]) and MONEY.match(r["amount"]) for r in rows)
    # Both spellings of the business unit (v1 l.1103 `business_unit`, v2 l.1260 `businessUnit`)
    # and transfer legs linked only by `transferId` or only by `pairedTransactionId`.
    assert any("businessUnit" in r for r in rows) and any("business_unit" in r for r in rows)
    legs = [r for r in rows if r["isTransfer"]]
    assert any(r["transferId"] is None and r["pairedTransactionId"] for r in legs)
    assert any(r["transferId"] and r["pairedTransactionId"] is None for r in legs)


def test_world_changes_show_up_in_the_index(api, sandbox):
    world = sandbox.world
    before = api.get("/v1/transactions", params={"status": "all", "length": 1}).json()
    log = world.advance(7)
    created = log.created.get(("adesk", "transactions"), [])
    assert created
    after = api.get("/v1/transactions", params={"status": "all", "length": 1}).json()
    assert after["recordsFiltered"] == len(world.adesk_transactions)
    assert after["recordsFiltered"] != before["recordsFiltered"]
    recent = world.today() - timedelta(days=6)
    rows = _page_through(
        api,
        1000,
        status="all",
        range="custom",
        range_start=recent.isoformat(),
        range_end="2099-12-31",
    )
    assert {i for i in created if world.adesk_transactions[i].date >= recent} <= {
        r["id"] for r in rows
    }
