"""The synthetic world: determinism, valid registration numbers, and the invariants that the
emulators and the pipeline's tests rely on (totals add up, payments are in the ledger, transfers
net to zero, balances are what Adesk reports), before and after the clock moves."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from finance_sandbox import taxids
from finance_sandbox.taxids import valid_inn, valid_kz_bin
from finance_sandbox.world import (
    ALMATY,
    APIPAY_PAID_STATUSES,
    APIPAY_TRANSITIONS,
    ENTITIES,
    MSK,
    STAGE_PAID,
    World,
    WorldSize,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def world() -> World:
    return World()


@pytest.fixture(scope="module")
def advanced() -> tuple[World, World, list]:
    """A world before and after three weekly steps (the before-world is a fresh twin)."""
    w = World()
    logs = [w.advance(7) for _ in range(3)]
    return World(), w, logs


def _normalized_number(text: str) -> str:
    # Payers type a Latin C for the Cyrillic С and drop the hyphen; matching must undo that.
    return text.replace("C", "С").replace("С-", "С").replace("С ", "С")


# ---------------------------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------------------------


def test_same_seed_gives_the_same_world() -> None:
    a, b = World(), World()
    for attr in ENTITIES.values():
        assert getattr(a, attr) == getattr(b, attr), attr
    assert a.counterparties == b.counterparties
    assert a.products == b.products
    assert a.digest() == b.digest()
    assert a.advance(7) == b.advance(7)
    assert a.digest() == b.digest()


def test_different_seeds_differ() -> None:
    a, b = World(WorldSize(seed=1)), World(WorldSize(seed=2))
    assert a.digest() != b.digest()
    assert a.bitrix_invoices != b.bitrix_invoices


def test_world_does_not_depend_on_hash_seed() -> None:
    # Iterating a set of strings follows PYTHONHASHSEED; a world built in another process must
    # still be the same. The child loads only the sandbox modules (no Dagster import).
    code = (
        "import sys, types\n"
        f"root = {str(ROOT)!r}\n"
        "for name, sub in (('finance_pipeline', ''), ('finance_sandbox', '/sandbox')):\n"
        "    m = types.ModuleType(name); m.__path__ = [root + '/finance_pipeline' + sub]\n"
        "    sys.modules[name] = m\n"
        "from finance_sandbox.world import World\n"
        "print(World().digest())\n"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        digests.add(out.stdout.strip())
    assert digests == {World().digest()}


# ---------------------------------------------------------------------------------------------
# Registration numbers
# ---------------------------------------------------------------------------------------------


def test_validators_accept_real_and_reject_bad_numbers() -> None:
    assert valid_inn("7707083893")  # ПАО Сбербанк
    assert valid_inn("500100732259")
    assert not valid_inn("7707083894")  # last digit changed
    assert not valid_inn("500100732258")
    assert not valid_inn("500100732269")  # 11th digit changed
    assert not valid_inn("770708389")  # too short
    assert not valid_inn("77070838930")  # 11 digits is no INN
    assert not valid_inn("77070838a3")
    assert not valid_inn("７７０７０８３８９３")  # full-width digits pass str.isdigit()
    assert not valid_inn("0000000000")
    assert valid_kz_bin("971240001315")
    assert valid_kz_bin("940140000385")
    assert not valid_kz_bin("971240001316")
    assert not valid_kz_bin("97124000131")
    assert not valid_kz_bin("000000000000")
    assert taxids.valid_ogrn("1027700132195")
    assert not taxids.valid_ogrn("1027700132196")


def test_kz_second_weight_set() -> None:
    # Find numbers whose first checksum is 10: the second weight set decides, or they are
    # never issued (both sums give 10).
    fallback = never = None
    for n in range(10**10, 10**10 + 5000):
        body = str(n)[:11].rjust(11, "0")
        if sum(int(d) * w for d, w in zip(body, range(1, 12), strict=True)) % 11 != 10:
            continue
        check = taxids.kz_check_digit(body)
        if check is None:
            never = never or body
        else:
            fallback = fallback or body + str(check)
        if fallback and never:
            break
    assert fallback is not None and valid_kz_bin(fallback)
    assert never is not None
    assert not any(valid_kz_bin(never + str(d)) for d in range(10))


def test_every_tax_id_in_the_world_is_valid(world: World) -> None:
    def valid(tax_id: str, country: str) -> bool:
        return valid_inn(tax_id) if country == "RU" else valid_kz_bin(tax_id)

    for le in world.legal_entities.values():
        assert valid(le.inn, le.country)
    with_id = 0
    for cp in world.counterparties.values():
        if cp.tax_id is None:
            continue
        with_id += 1
        assert valid(cp.tax_id, cp.country), cp
        assert len(cp.tax_id) == (12 if cp.legal_form == "ИП" or cp.country == "KZ" else 10)
        if cp.country == "RU":
            assert taxids.valid_ogrn(cp.ogrn)
            assert taxids.valid_ru_account(cp.bank_account, cp.bank_code)
        else:
            assert taxids.valid_iban(cp.bank_account)
    assert 0 < len(world.counterparties) - with_id < len(world.counterparties) * 0.15
    for req in world.bitrix_requisites.values():
        assert req.rq_inn is None or valid_inn(req.rq_inn)
    for areq in world.adesk_contractor_requisites.values():
        cp = world.counterparties[world.counterparty_of("adesk", "contractor_requisites", areq.id)]
        assert areq.inn is None or valid(areq.inn, cp.country)
    for acc in world.bank_accounts.values():
        if acc.type == "Bank" and world.legal_entities[acc.legal_entity_id].country == "RU":
            assert taxids.valid_ru_account(acc.number, acc.bank_code)
            assert acc.number[5:8] == ("810" if acc.currency == "RUR" else "840")
        elif acc.type == "Bank":
            assert taxids.valid_iban(acc.number)


# ---------------------------------------------------------------------------------------------
# Invariants (checked on the fresh world and after advancing)
# ---------------------------------------------------------------------------------------------


def check_invoices(w: World) -> None:
    for inv in w.bitrix_invoices.values():
        assert inv.account_number.startswith("С-")
        assert inv.opportunity == inv.opportunity.quantize(Decimal("0.01"))
        if inv.rows:
            assert inv.opportunity == sum((r.price * r.quantity for r in inv.rows), Decimal(0))
            for row in inv.rows:
                assert (row.price * row.quantity) == (row.price * row.quantity).quantize(
                    Decimal("0.01")
                )
        else:
            assert inv.is_manual_opportunity
        assert inv.created_time.utcoffset() == timedelta(hours=3)
        assert inv.created_time <= inv.moved_time <= inv.updated_time <= w.now
    refunds_by_invoice: dict[int, Decimal] = {}
    for ref in w.apipay_refunds.values():
        refunds_by_invoice[ref.invoice_id] = refunds_by_invoice.get(ref.invoice_id, 0) + ref.amount
        assert ref.amount > 0
        assert ref.created_at >= w.apipay_invoices[ref.invoice_id].paid_at
    for ainv in w.apipay_invoices.values():
        assert ainv.status in APIPAY_TRANSITIONS
        assert len(ainv.phone_number) == 11 and ainv.phone_number.startswith("8")
        if ainv.cart_items:
            assert ainv.amount == sum((i.price * i.count for i in ainv.cart_items), Decimal(0))
            for item in ainv.cart_items:
                if item.type == "FAST_SALE":
                    assert item.nomenclature_id == -2 and item.nomenclature_history_id is None
                    assert w.product_of("apipay", item.nomenclature_id) is None
                else:
                    assert w.product_of("apipay", item.nomenclature_id) is not None
        refunded = refunds_by_invoice.get(ainv.id, Decimal(0))
        assert refunded <= ainv.amount
        expected = {
            "refunded": refunded == ainv.amount,
            "partially_refunded": 0 < refunded < ainv.amount,
        }
        if ainv.status in expected:
            assert expected[ainv.status], ainv
        else:
            assert refunded == 0
        assert (ainv.paid_at is not None) == (ainv.status in APIPAY_PAID_STATUSES)
        if ainv.status == "pending":
            assert w.now - ainv.created_at < timedelta(hours=72)
    by_number: dict[str, list] = {}
    for sinv in w.salesman_invoices.values():
        by_number.setdefault(sinv.invoice, []).append(sinv)
        assert sinv.paid == (sinv.date_fact is not None)
        assert sinv.date_create.tzinfo is None
    splits = [group for group in by_number.values() if len(group) > 1]
    assert splits, "some SalesMan invoices are split by partial payments"
    for group in splits:
        parent = next(s for s in group if s.part == 1)
        assert parent.paid
        assert all(s.parent_id == parent.id for s in group if s.part == 2)


def check_payments(w: World) -> None:
    truth = w.truth
    contractors = {}
    for cp in w.counterparties.values():
        live = [c for c in cp.adesk_contractor_ids if c in w.adesk_contractors]
        contractors[cp.key] = live[0] if live else None
    paid = list(w.iter_paid_invoices())
    assert truth.paid_invoices == len(paid)
    assert truth.paid_invoices_matched == len(paid) - len(truth.paid_unrecorded)
    for p in paid:
        txn_id = w.payment_of_invoice(p.source, p.invoice_id)
        if (p.source, p.invoice_id) in truth.paid_unrecorded:
            assert txn_id is None or txn_id not in w.adesk_transactions
            continue
        txn = w.adesk_transactions[txn_id]
        assert w.invoice_of_transaction(txn_id) == (p.source, p.invoice_id)
        assert txn.type == 1 and not txn.is_planned and not txn.is_transfer
        assert txn.amount == p.amount
        assert w.bank_accounts[txn.bank_account_id].currency == p.currency
        assert timedelta(0) <= txn.date - p.paid_date <= timedelta(days=3), (p, txn)
        assert txn.category_id == w.category_id("sales")
        if p.counterparty is not None and contractors[p.counterparty] is not None:
            assert txn.contractor_id == contractors[p.counterparty]
        assert _normalized_number(p.number).replace("С-", "С") in _normalized_number(
            txn.description
        ), (p, txn.description)
    for ref in w.apipay_refunds.values():
        txn = w.adesk_transactions[w.payment_of_refund(ref.id)]
        assert txn.type == 2 and txn.amount == ref.amount
        assert w.bank_accounts[txn.bank_account_id].currency == "KZT"
        assert w.categories[txn.category_id].name == "Возвраты покупателям"


def check_ledger(w: World) -> None:
    truth = w.truth
    today = w.today()
    txns = w.adesk_transactions
    # Ids follow creation time, as in a real database.
    created = [t.created for t in txns.values()]
    assert created == sorted(created)
    assert list(txns) == sorted(txns)
    assert all(t.created <= w.now and t.amount > 0 for t in txns.values())
    assert all(t.date <= today for t in txns.values() if not t.is_planned)
    assert all(t.date > today for t in txns.values() if t.is_planned)
    # Transfers: two legs; the outcome carries `amount` in the sender's currency, the income
    # `amount_to` in the receiver's. Same currency: equal amounts, netting to zero. Between
    # currencies: the implied rate is the official one give or take the bank's margin.
    legs: dict[int, list] = {}
    for t in txns.values():
        assert t.is_transfer == (t.transfer_id is not None)
        if t.is_transfer:
            legs.setdefault(t.transfer_id, []).append(t)
    assert set(legs) == set(w.adesk_transfers)
    for tr_id, pair in legs.items():
        assert sorted(t.type for t in pair) == [1, 2]
        out, inc = sorted(pair, key=lambda t: -t.type)
        tr = w.adesk_transfers[tr_id]
        assert (tr.outcome_transaction_id, tr.income_transaction_id) == (out.id, inc.id)
        assert (out.amount, inc.amount) == (tr.amount, tr.amount_to)
        sent = w.currency_of_account(out.bank_account_id)
        received = w.currency_of_account(inc.bank_account_id)
        if sent == received:
            assert out.amount == inc.amount
        else:
            official = w.rub_per_unit(received, tr.date) / w.rub_per_unit(sent, tr.date)
            assert abs(out.amount / inc.amount / official - 1) < Decimal("0.03"), tr
    same = [p for p in legs.values() if len({t.bank_account_id for t in p}) == 2]
    assert (
        sum(
            (t.amount if t.type == 1 else -t.amount)
            for p in same
            if len({w.currency_of_account(t.bank_account_id) for t in p}) == 1
            for t in p
        )
        == 0
    )
    # Business directions only on expenses, never together with a project.
    for t in txns.values():
        if t.business_unit_id is not None:
            assert t.type == 2 and t.project_id is None and not t.is_transfer, t
            assert t.business_unit_id in w.project_categories
    # Balances: initial + completed movements, and what Adesk reports.
    for acc in w.bank_accounts.values():
        moved = sum(
            (t.amount if t.type == 1 else -t.amount)
            for t in txns.values()
            if t.bank_account_id == acc.id and not t.is_planned
        )
        assert truth.balances[acc.id] == acc.initial_amount + moved == acc.amount
    closed = [a for a in w.bank_accounts.values() if a.status == "closed"]
    assert closed and all(a.amount == 0 for a in closed)
    # Income / outcome exclude transfers and owner transfers.
    owner = {c.id for c in w.categories.values() if c.is_owner_transfer}
    income = sum(
        (
            t.amount
            for t in txns.values()
            if t.type == 1
            and not t.is_planned
            and not t.is_transfer
            and t.category_id not in owner
            and w.currency_of_account(t.bank_account_id) == "RUR"
        ),
        Decimal(0),
    )
    assert truth.income_total["RUR"] == income
    assert truth.planned_count + truth.actual_count == len(txns)
    assert w.deliberate_unmatched_incoming <= truth.unmatched_incoming


@pytest.mark.parametrize("check", [check_invoices, check_payments, check_ledger])
def test_invariants_of_a_fresh_world(world: World, check) -> None:
    check(world)


@pytest.mark.parametrize("check", [check_invoices, check_payments, check_ledger])
def test_invariants_after_advancing(advanced, check) -> None:
    check(advanced[1])


# ---------------------------------------------------------------------------------------------
# Shape of the default world
# ---------------------------------------------------------------------------------------------


def test_default_world_has_the_promised_shape(world: World) -> None:
    t = world.truth
    assert t.counts[("bitrix24", "invoices")] == 300
    assert t.counts[("apipay", "invoices")] == 200
    assert t.counts[("salesman", "invoices")] >= 150  # plus remainder records of partial payments
    assert 5 <= len(world.bank_accounts) <= 7
    assert {a.currency for a in world.bank_accounts.values()} == {"RUR", "KZT", "USD"}
    # Transfers between currencies both ways (roubles -> dollars and back), business units.
    currency = world.currency_of_account
    crossing = {
        (currency(tr.from_account_id), currency(tr.to_account_id))
        for tr in world.adesk_transfers.values()
    }
    assert {("RUR", "USD"), ("USD", "RUR")} <= crossing
    assert sum(1 for t in world.adesk_transactions.values() if t.business_unit_id) >= 20
    assert any(a.type == "Cash" for a in world.bank_accounts.values())
    assert len(world.categories) >= 15
    assert {c.kind for c in world.categories.values()} == {1, 2, 3}
    assert any(c.is_owner_transfer for c in world.categories.values())
    assert 0.02 <= len(t.paid_unrecorded) / t.paid_invoices <= 0.06
    assert 1 <= len(t.unmatched_incoming) <= 15
    assert 0.06 <= t.planned_count / (t.planned_count + t.actual_count) <= 0.14
    assert 10 <= t.transfers_count <= 40
    assert t.refunds_count > 0 and t.refunds_total > 0
    assert set(s for s, _ in t.invoices) == {"bitrix24", "salesman", "apipay"}
    for stage in ("DT31_1:N", "DT31_1:S", "DT31_1:P", "DT31_1:D"):
        assert t.invoices[("bitrix24", stage)].count > 0
    for status in ("pending", "paid", "expired", "cancelled", "partially_refunded", "refunded"):
        assert t.invoices[("apipay", status)].count > 0, status
    assert t.distinct_counterparties == len(world.counterparties)
    assert t.products_count == len(world.products) == 40
    open_accounts = [a for a in world.bank_accounts.values() if a.status == "open"]
    assert all(t.balances[a.id] > 0 for a in open_accounts)  # the business is solvent
    assert any(a.status == "closed" for a in world.bank_accounts.values())


def test_counterparties_are_resolvable_only_through_the_truth(world: World) -> None:
    multi = [
        cp
        for cp in world.counterparties.values()
        if (cp.bitrix_company_ids and cp.adesk_contractor_ids)
    ]
    assert len(multi) >= 10
    styles_differ = 0
    for cp in multi:
        for cid in cp.bitrix_company_ids:
            assert world.counterparty_of("bitrix24", "companies", cid) == cp.key
        for cid in cp.adesk_contractor_ids:
            assert world.counterparty_of("adesk", "contractors", cid) == cp.key
        title = world.bitrix_companies[cp.bitrix_company_ids[0]].title
        name = world.adesk_contractors[cp.adesk_contractor_ids[0]].name
        styles_differ += title != name
    assert styles_differ >= len(multi) // 2
    for client in world.salesman_clients.values():
        cp = world.counterparties[world.counterparty_of("salesman", "clients", client.clid)]
        assert client.title.endswith(f", {cp.legal_form}")
    for ainv in world.apipay_invoices.values():
        assert world.counterparty_of("apipay", "invoices", ainv.id) is not None
    for company in world.bitrix_companies.values():
        assert company.phone is None or company.phone.startswith("+7 (")
    # Some invoices are paid by companies that exist in several systems.
    for inv in list(world.bitrix_invoices.values())[:50]:
        if inv.company_id is not None:
            assert world.counterparty_of("bitrix24", "invoices", inv.id) is not None


def test_products_map_across_systems(world: World) -> None:
    for bid in world.bitrix_products:
        assert world.product_of("bitrix24", bid) in world.products
    for aid in world.adesk_products:
        assert world.product_of("adesk", aid) in world.products
    for nid in world.apipay_nomenclature:
        assert world.product_of("apipay", nid) in world.products
    assert world.product_of("apipay", -2) is None
    assert world.product_of("bitrix24", 0) is None
    no_sku = sum(p.sku is None for p in world.products.values())
    assert 0 < no_sku < len(world.products) * 0.35
    assert all(
        p.vat_rate in ((20, 10, 0) if p.country == "RU" else (12,)) for p in world.products.values()
    )


def test_money_is_decimal_with_two_places(world: World) -> None:
    amounts = [t.amount for t in world.adesk_transactions.values()]
    amounts += [i.opportunity for i in world.bitrix_invoices.values()]
    amounts += [i.summa for i in world.salesman_invoices.values()]
    amounts += [i.amount for i in world.apipay_invoices.values()]
    assert all(isinstance(a, Decimal) and a.as_tuple().exponent == -2 for a in amounts)


def test_timestamps_are_aware_and_in_each_systems_zone(world: World) -> None:
    inv = next(iter(world.bitrix_invoices.values()))
    assert inv.updated_time.utcoffset() == MSK.utcoffset(None)
    ainv = next(iter(world.apipay_invoices.values()))
    assert ainv.created_at.utcoffset() == timedelta(0)
    assert ALMATY.utcoffset(None) == timedelta(hours=5)
    assert world.now.isoformat() == "2026-11-01T12:00:00+00:00"
    assert all(i.paid_at is None or i.paid_at <= world.now for i in world.apipay_invoices.values())
    for p in world.iter_paid_invoices():
        if p.source == "bitrix24":
            assert world.bitrix_invoices[p.invoice_id].stage_id == STAGE_PAID


# ---------------------------------------------------------------------------------------------
# advance()
# ---------------------------------------------------------------------------------------------


def test_advance_creates_updates_and_deletes(advanced) -> None:
    before, after, logs = advanced
    assert after.now == before.now + timedelta(days=21)
    for kind in ("created", "updated", "deleted"):
        assert sum(log.total(kind) for log in logs) > 0, kind
    created = {key for log in logs for key in log.created}
    assert {("bitrix24", "invoices"), ("adesk", "transactions")} <= created
    deleted = {key for log in logs for key in log.deleted}
    assert ("bitrix24", "invoices") in deleted and ("adesk", "transactions") in deleted
    for log in logs:
        for (source, entity), ids in log.deleted.items():
            for record_id in ids:
                assert record_id not in after.table(source, entity)
                gone = after.deleted[(source, entity)][record_id]
                assert log.since < gone.deleted_at <= log.until
        for (source, entity), ids in log.created.items():
            assert all(
                i in after.table(source, entity) or i in after.deleted[(source, entity)]
                for i in ids
            )
    # Deleted records are gone from the tables but still resolvable through the truth.
    gone_invoice = next(iter(after.deleted[("bitrix24", "invoices")]))
    assert gone_invoice not in after.bitrix_invoices
    after.counterparty_of("bitrix24", "invoices", gone_invoice)  # does not raise


def test_truth_follows_advance(advanced) -> None:
    before, after, logs = advanced
    t0, t1 = before.truth, after.truth
    assert t1.now > t0.now
    # A record created and deleted within one step is logged once, as deleted (the log's
    # "strongest change"), so the logs are compared as sets of ids, not as net counts.
    for source, entity in (("adesk", "transactions"), ("bitrix24", "invoices")):
        created = {i for log in logs for i in log.created.get((source, entity), [])}
        deleted = {i for log in logs for i in log.deleted.get((source, entity), [])}
        expected = (set(before.table(source, entity)) | created) - deleted
        assert set(after.table(source, entity)) == expected, (source, entity)
        assert t1.counts[(source, entity)] == len(expected)
    assert t1.deleted_counts[("adesk", "transactions")] > 0
    assert t1.paid_invoices > t0.paid_invoices
    assert t1.balances != t0.balances
    # Updated records really moved their timestamps inside the step.
    log = logs[-1]
    for inv_id in log.updated.get(("bitrix24", "invoices"), []):
        assert log.since < after.bitrix_invoices[inv_id].updated_time <= log.until


def test_advance_rejects_non_positive_days() -> None:
    with pytest.raises(ValueError):
        World(WorldSize.scaled(invoices=200, transactions=500)).advance(0)


# ---------------------------------------------------------------------------------------------
# Scaling
# ---------------------------------------------------------------------------------------------


def test_scaled_world_at_small_scale() -> None:
    size = WorldSize.scaled(invoices=1_000, transactions=5_000, seed=7)
    assert size.bitrix_invoices + size.salesman_invoices + size.apipay_invoices == 1_000
    w = World(size)
    total = len(w.adesk_transactions)
    assert 4_500 <= total <= 5_500
    invoices = len(w.bitrix_invoices) + len(w.apipay_invoices)
    assert invoices + len([s for s in w.salesman_invoices.values() if s.part == 1]) == 1_000
    check_ledger(w)
    w.advance(3)
    check_ledger(w)
