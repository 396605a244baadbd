"""Cash models against the sandbox's truth: balances to the cent, income and outcome without
transfers, planned vs actual, invoices matched to ledger payments, refunds, receivables.

The warehouse is the session one (every source synced from the default sandbox, every model
built). Tests that need a different ledger (a movement gone missing, no Adesk at all) work on a
copy of it and rebuild only the models involved.
"""

from __future__ import annotations

import re
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from finance_pipeline.checks import contract_checks
from finance_pipeline.checks.cash import CHECKS as AREA_CHECKS
from finance_pipeline.models import discover_models, in_build_order, macro_sql
from finance_pipeline.models.assets import build_all_models, build_model
from finance_sandbox.world import ALMATY, STAGE_SENT, World
from finance_sandbox.world.bitrix24_portal import contact_id_of, legacy_invoices

# the area's rules plus the generic checks every model's contract declares (keys, references)
CHECKS = AREA_CHECKS + contract_checks()

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ISO = {"RUR": "RUB", "KZT": "KZT", "USD": "USD"}


def _check(name: str, table: str | None = None):
    matches = [c for c in CHECKS if c.name == name and (table is None or c.table == table)]
    assert len(matches) == 1, f"check {name} not found once"
    return matches[0]


def _failing(conn: duckdb.DuckDBPyConnection, name: str, table: str | None = None) -> list:
    return conn.execute(_check(name, table).failing_rows_sql).fetchall()


def _copy(built_warehouse: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy.duckdb"
    shutil.copy(built_warehouse, target)
    return target


def _rebuild(conn: duckdb.DuckDBPyConnection, tables: set[str]) -> None:
    for model in in_build_order(discover_models()):
        if model.table in tables:
            build_model(conn, model)


# --- macros -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def macros() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    for sql in macro_sql():
        conn.execute(sql)
    return conn


@pytest.mark.parametrize(
    ("text", "refs"),
    [
        ("Оплата по счету № С-00123 от 01.02.2025", ["C00123"]),  # Cyrillic С
        ("Опл. счета C-00123", ["C00123"]),  # Latin C
        ("Оплата по сч. С00123 от 01.02.2025г.", ["C00123"]),  # no hyphen
        ("Оплата по счету №102 от 07.01.2025", ["102"]),
        ("Предоплата по сч. 102", ["102"]),
        ("ApiPay invoice 101 order_1001", ["101"]),
        ("Kaspi Pay: оплата счета 101 (order_7)", ["101"]),
        ("Поступление ApiPay, счет 101", ["101"]),
        ("Аванс за поставку по договору № 12", []),
        ("Поступление от покупателя без указания счета", []),
        (None, []),
    ],
)
def test_invoice_references_in_descriptions(
    macros: duckdb.DuckDBPyConnection, text: str | None, refs: list[str]
) -> None:
    found = macros.execute("SELECT invoice_refs_in(?)", [text]).fetchone()[0]
    assert sorted(found) == refs
    if refs:
        number = macros.execute("SELECT invoice_ref_key('С-00123')").fetchone()[0]
        assert number == "C00123"


def test_adesk_parsing_macros(macros: duckdb.DuckDBPyConnection) -> None:
    row = macros.execute(
        "SELECT adesk_date('20.12.2018'), adesk_date('2018-12-20'), money_currency('RUR'), "
        "money_currency('KZT'), CAST(adesk_timestamp('20.12.2024 12:42') AS VARCHAR), "
        "refund_refs_in('Возврат по ApiPay invoice 7, refund 17: Брак')"
    ).fetchone()
    assert row[0] == date(2018, 12, 20)
    assert row[1] is None
    assert row[2:4] == ("RUB", "KZT")
    assert row[4].startswith("2024-12-20 09:42:00")  # 12:42 Moscow = 09:42 UTC
    assert row[5] == ["17"]


def test_matching_rules_on_a_hand_made_ledger() -> None:
    """The steps the sandbox never needs: part payments, one movement for several invoices, a
    payment without the number, a number that is someone else's invoice, another currency; and
    a split SalesMan invoice whose paid part is matched on its own."""
    conn = duckdb.connect()
    conn.execute(
        """
        CREATE SCHEMA staging; CREATE SCHEMA marts;
        CREATE TABLE staging.adesk_bank_accounts AS
            SELECT * FROM (VALUES ('1', 'RUB')) AS t(bank_account_id, currency);
        CREATE TABLE staging.adesk_transaction_categories AS
            SELECT * FROM (VALUES ('48', false, 1), ('49', false, 1))
                AS t(category_id, is_owner_transfer, kind);
        CREATE TABLE marts.counterparty_sources AS
            SELECT * FROM (VALUES ('adesk', 'contractor', '7', 'cp-a'),
                                  ('adesk', 'contractor', '8', 'cp-b'))
                AS t(source, source_entity, source_id, counterparty_key);
        CREATE TABLE staging.apipay_refunds (
            refund_id VARCHAR, invoice_id VARCHAR, amount DECIMAL(18, 2), status VARCHAR,
            created_at TIMESTAMPTZ);
        CREATE TABLE staging.salesman_invoices AS
            SELECT invoice_id, CAST(amount AS DECIMAL(18, 2)) AS amount, is_paid,
                   CAST(paid_date AS DATE) AS paid_date
            FROM (VALUES ('91', 1000.00, true, '2025-03-10'), ('92', 500.00, false, NULL))
                AS t(invoice_id, amount, is_paid, paid_date);
        CREATE TABLE marts.invoices AS SELECT
            key AS invoice_key, source, split_part(key, ':', 2) AS source_id,
            CASE WHEN source = 'salesman' THEN ['91', '92'] ELSE [split_part(key, ':', 2)] END
                AS source_record_ids,
            number, cp AS counterparty_key, CAST(amount AS DECIMAL(18, 2)) AS amount, currency,
            status, CASE WHEN status = 'paid' THEN TIMESTAMPTZ '2025-03-10 09:00:00+00' END
                AS paid_at,
            CASE WHEN status = 'paid' THEN DATE '2025-03-10' END AS paid_date,
            TIMESTAMPTZ '2025-03-01 09:00:00+00' AS issued_at, DATE '2025-03-01' AS issued_date
        FROM (VALUES
            ('b:1', 'bitrix24', '501', 'cp-a', 1000.00, 'RUB', 'paid'),
            ('b:2', 'bitrix24', '502', 'cp-a', 300.00, 'RUB', 'paid'),
            ('b:3', 'bitrix24', '503', 'cp-a', 200.00, 'RUB', 'paid'),
            ('b:4', 'bitrix24', '504', 'cp-b', 777.00, 'RUB', 'paid'),
            ('b:5', 'bitrix24', '505', 'cp-a', 5000.00, 'RUB', 'issued'),
            ('a:6', 'apipay', '506', NULL, 90.00, 'KZT', 'paid'),
            ('b:7', 'bitrix24', 'С-00007', 'cp-b', 70.00, 'RUB', 'paid'),
            ('s:91', 'salesman', '509', 'cp-a', 1500.00, 'RUB', 'partially_paid'),
            ('b:8', 'bitrix24', '508', 'cp-a', 80.00, 'RUB', 'cancelled')
        ) AS t(key, source, number, cp, amount, currency, status);
        CREATE TABLE staging.adesk_transactions AS SELECT
            id AS transaction_id, CAST(d AS DATE) AS date, CAST(amount AS DECIMAL(18, 2))
            AS amount, 'in' AS direction, 'RUB' AS currency, cat AS category_id,
            text AS description, contractor AS contractor_id, false AS category_is_owner_transfer,
            1 AS category_kind, false AS is_planned, false AS is_transfer
        FROM (VALUES
            ('t1', '2025-03-10', 600.00, '48', 'Оплата по счету 501, часть 1', '7'),
            ('t2', '2025-03-12', 400.00, '48', 'Оплата по счету 501, часть 2', '7'),
            ('t3', '2025-03-11', 500.00, '48', 'Оплата по счетам 502 и счет 503', '7'),
            ('t4', '2025-03-12', 777.00, '48', 'Оплата за услуги', '8'),
            ('t5', '2025-03-12', 12.34, '49', 'Возврат от поставщика по счету № 505', '8'),
            ('t6', '2025-03-12', 70.00, '48', 'Опл. счета C-00007', NULL),
            ('t7', '2025-03-11', 1000.00, '48', 'Оплата по счету №509', NULL),
            -- sales receipts that pay nothing, one per reason
            ('u1', '2025-03-13', 55.00, '48', 'Поступление от клиента', NULL),
            ('u2', '2025-03-13', 4999.00, '48', 'Оплата по счету 505', NULL),
            ('u3', '2025-06-20', 1000.00, '48', 'Оплата по счету 501', NULL),
            ('u4', '2025-03-13', 90.00, '48', 'Оплата по счету 506', NULL),
            ('u5', '2025-03-13', 80.00, '48', 'Оплата по счету 508', NULL),
            ('u6', '2025-03-13', 10.00, '48', 'Оплата по счету 999', NULL)
        ) AS t(id, d, amount, cat, text, contractor);
        """
    )
    model = next(m for m in discover_models() if m.table == "marts.invoice_payments")
    build_model(conn, model)
    rows = conn.execute(
        "SELECT row_kind, invoice_key, transaction_id, allocated_amount, match_rule, "
        "invoice_ledger_status, reason, source_record_id FROM marts.invoice_payments "
        "ORDER BY row_key"
    ).fetchall()
    links = {(r[1], r[2]): (r[3], r[4], r[5]) for r in rows if r[0] == "payment"}
    assert links == {
        ("b:1", "t1"): (Decimal("600.00"), "reference, part payment", "settled"),
        ("b:1", "t2"): (Decimal("400.00"), "reference, part payment", "settled"),
        ("b:2", "t3"): (Decimal("300.00"), "reference, several invoices", "settled"),
        ("b:3", "t3"): (Decimal("200.00"), "reference, several invoices", "settled"),
        ("b:4", "t4"): (Decimal("777.00"), "counterparty + amount + date", "settled"),
        ("b:7", "t6"): (Decimal("70.00"), "reference + amount", "settled"),
        ("s:91", "t7"): (Decimal("1000.00"), "reference + amount", "partially_settled"),
    }
    assert [r[7] for r in rows if r[2] == "t7"] == ["91"]  # the paid part, not the remainder
    unpaid = {r[1]: r[6] for r in rows if r[0] == "unpaid_in_ledger"}
    assert list(unpaid) == ["a:6"] and unpaid["a:6"].startswith("no ledger account in KZT")
    # t5 names invoice 505 but comes from another counterparty for another amount: not ours,
    # and its category holds no invoice payments, so it is not a sales receipt either.
    assert not [r for r in rows if r[2] == "t5"]
    reasons = {r[2]: r[6] for r in rows if r[0] == "unmatched_movement"}
    assert reasons == {
        "u1": "no invoice number in the description",
        "u2": "names invoice 505 but the amount does not fit what is left of it",
        "u3": "names invoice 501 but is dated too far from its issue or payment",
        "u4": "names invoice 506 but in another currency",
        "u5": "names invoice 508, which its system has as draft or cancelled",
        "u6": "names invoice 999, which no system knows",
    }


# --- balances, totals, counts -------------------------------------------------------------------


def test_closing_balances_equal_truth_to_the_cent(
    wh: duckdb.DuckDBPyConnection, world: World
) -> None:
    rows = wh.execute(
        "SELECT bank_account_id, closing_balance, reported_balance, date "
        "FROM marts.account_balances WHERE is_latest"
    ).fetchall()
    ours = {int(r[0]): r[1] for r in rows}
    assert ours == world.truth.balances
    assert all(r[1] == r[2] for r in rows), "latest balance differs from what Adesk reports"
    # The USD account too: its balance in dollars, moved by transfers from and to roubles.
    currencies = dict(
        wh.execute(
            "SELECT bank_account_id, currency FROM marts.account_balances WHERE is_latest"
        ).fetchall()
    )
    assert {int(a): c for a, c in currencies.items()} == {
        a.id: ISO[a.currency] for a in world.bank_accounts.values()
    }
    assert "USD" in currencies.values()
    assert {r[3] for r in rows} == {world.today()}
    assert _failing(wh, "latest_balance_matches_adesk") == []


def test_income_and_outcome_totals_exclude_transfers(
    wh: duckdb.DuckDBPyConnection, world: World
) -> None:
    truth = world.truth
    rows = wh.execute(
        """SELECT currency,
                  coalesce(sum(amount) FILTER (WHERE counts_as = 'income'), 0),
                  coalesce(sum(amount) FILTER (WHERE counts_as = 'expense'), 0)
           FROM marts.cash_flow WHERE status = 'actual' GROUP BY currency"""
    ).fetchall()
    assert {r[0]: r[1] for r in rows} == {ISO[c]: v for c, v in truth.income_total.items()}
    assert {r[0]: r[2] for r in rows} == {ISO[c]: v for c, v in truth.outcome_total.items()}
    # The monthly mart says the same.
    monthly = wh.execute(
        """SELECT currency, coalesce(sum(inflow) FILTER (WHERE counts_as = 'income'), 0),
                  coalesce(sum(outflow) FILTER (WHERE counts_as = 'expense'), 0)
           FROM marts.cash_flow_monthly GROUP BY currency"""
    ).fetchall()
    assert sorted(monthly) == sorted(rows)


def test_planned_actual_and_transfers(wh: duckdb.DuckDBPyConnection, world: World) -> None:
    truth = world.truth
    planned, actual, transfers, unpaired = wh.execute(
        """SELECT count(*) FILTER (WHERE status = 'planned'),
                  count(*) FILTER (WHERE status = 'actual'),
                  count(DISTINCT transfer_key),
                  count(*) FILTER (WHERE is_transfer AND transfer_key IS NULL)
           FROM marts.cash_flow"""
    ).fetchone()
    assert (planned, actual) == (truth.planned_count, truth.actual_count)
    assert transfers == truth.transfers_count and unpaired == 0
    # Each transfer: its two legs paired by Adesk's transfer id, each in its own account's
    # currency and amount, counting as neither income nor expense; within a currency they sum
    # to zero, between currencies they cancel at the transfer's own rate (sent / received).
    for transfer in world.adesk_transfers.values():
        out, inc = (
            wh.execute(
                "SELECT counts_as, signed_amount, transfer_key, transfer_id, transfer_paired_by, "
                "currency, transfer_rate, counterpart_transaction_id, counterpart_amount "
                "FROM marts.cash_flow WHERE transaction_id = ?",
                [str(leg)],
            ).fetchone()
            for leg in (transfer.outcome_transaction_id, transfer.income_transaction_id)
        )
        assert out[0] == inc[0] == "transfer" and out[2] == inc[2] is not None
        assert out[3:5] == inc[3:5] == (str(transfer.id), "transferId")
        assert (out[1], inc[1]) == (-transfer.amount, transfer.amount_to)
        assert (out[5], inc[5]) == (
            ISO[world.currency_of_account(transfer.from_account_id)],
            ISO[world.currency_of_account(transfer.to_account_id)],
        )
        assert (out[7], out[8]) == (str(transfer.income_transaction_id), transfer.amount_to)
        assert (inc[7], inc[8]) == (str(transfer.outcome_transaction_id), transfer.amount)
        assert out[6] == inc[6] and round(transfer.amount_to * out[6], 2) == transfer.amount
        if out[5] == inc[5]:
            assert out[1] + inc[1] == 0 and out[6] == 1
    for name in (
        "transfer_legs_pair_up",
        "transfers_net_to_zero",
        "transfer_legs_in_their_account_currency",
    ):
        assert _failing(wh, name) == [], name
    # Owner money is neither revenue nor expense.
    owner = {c.id for c in world.categories.values() if c.is_owner_transfer}
    kinds = wh.execute(
        "SELECT DISTINCT counts_as FROM marts.cash_flow WHERE category_id IN "
        f"({','.join(repr(str(c)) for c in owner)})"
    ).fetchall()
    assert kinds == [("owner_transfer",)]
    # Planned movements never reach the balances: the daily flows are the actual ones only.
    flows = wh.execute("SELECT sum(inflow) - sum(outflow) FROM marts.account_balances").fetchone()[
        0
    ]
    actual_net = wh.execute(
        "SELECT sum(signed_amount) FROM marts.cash_flow WHERE status = 'actual'"
    ).fetchone()[0]
    assert flows == actual_net


def test_movements_carry_the_right_counterparty(
    wh: duckdb.DuckDBPyConnection, world: World
) -> None:
    """A movement's counterparty (its Adesk contractor, else the invoice it pays) is the real
    company behind it: one key per company, one company per key, none missing."""
    ours: dict[str, set] = {}
    theirs: dict[str, set] = {}
    # a payment of a Bitrix24 invoice issued to a person: that person (the invoice's contact)
    persons = {
        world.payment_of_invoice("bitrix24", inv.id): f"person:{contact_id_of(inv)}"
        for inv in world.bitrix_invoices.values()
        if inv.company_id is None
    }
    for txn_id, key in wh.execute(
        "SELECT transaction_id, counterparty_key FROM marts.cash_flow"
    ).fetchall():
        truth = world.counterparty_of("adesk", "transactions", int(txn_id)) or persons.get(
            int(txn_id)
        )
        assert (key is None) == (truth is None), txn_id
        if key is not None:
            ours.setdefault(key, set()).add(truth)
            theirs.setdefault(truth, set()).add(key)
    assert ours and all(len(v) == 1 for v in ours.values())
    assert all(len(v) == 1 for v in theirs.values())


def test_monthly_balances_run_on(wh: duckdb.DuckDBPyConnection, world: World) -> None:
    rows = wh.execute(
        """SELECT bank_account_id, month, any_value(opening_balance), any_value(closing_balance)
           FROM marts.cash_flow_monthly WHERE opening_balance IS NOT NULL
           GROUP BY ALL ORDER BY 1, 2"""
    ).fetchall()
    last: dict[str, tuple] = {}
    for account, month, opening, closing in rows:
        if account in last:
            assert last[account][1] == opening, (account, month)
        last[account] = (month, closing)
    assert {int(a): v[1] for a, v in last.items()} == world.truth.balances
    assert _failing(wh, "months_add_up_to_balances") == []


def test_a_rub_to_usd_transfer_pairs_and_keeps_both_currencies(
    wh: duckdb.DuckDBPyConnection, world: World
) -> None:
    """The docs' own example (adesk-api.md l.934-958): roubles out of a RUB account, dollars
    into a USD one. The legs pair although their amounts differ, each keeps its currency and
    amount, and the rouble account's balance falls by the roubles, the dollar account's rises by
    the dollars."""
    currency = world.currency_of_account
    rub_usd = [
        tr
        for tr in world.adesk_transfers.values()
        if (currency(tr.from_account_id), currency(tr.to_account_id)) == ("RUR", "USD")
    ]
    assert rub_usd
    for tr in rub_usd:
        rows = wh.execute(
            "SELECT direction, bank_account_id, currency, amount, transfer_key, transfer_rate "
            "FROM marts.cash_flow WHERE transaction_id IN (?, ?) ORDER BY direction",
            [str(tr.outcome_transaction_id), str(tr.income_transaction_id)],
        ).fetchall()
        assert rows[0][:4] == ("in", str(tr.to_account_id), "USD", tr.amount_to)
        assert rows[1][:4] == ("out", str(tr.from_account_id), "RUB", tr.amount)
        assert rows[0][3] != rows[1][3] and rows[0][4] == rows[1][4] is not None
        # Roubles per dollar: the official rate give or take the bank's margin.
        official = world.rub_per_unit("USD", tr.date)
        assert abs(rows[0][5] / official - 1) < Decimal("0.03")
    # Company-wide, transfers are neither income nor expense in any currency.
    kinds = wh.execute(
        "SELECT DISTINCT counts_as FROM marts.cash_flow WHERE currency = 'USD' AND is_transfer"
    ).fetchall()
    assert kinds == [("transfer",)]


def test_movements_carry_their_business_unit(wh: duckdb.DuckDBPyConnection, world: World) -> None:
    """`business_unit` (adesk-api.md l.1103) is staged and carried to the cash flow; a movement
    with a project takes its project's direction instead (the two exclude each other, l.1094)."""
    rows = wh.execute(
        "SELECT transaction_id, business_unit_id, business_unit_name, business_unit_via "
        "FROM marts.cash_flow"
    ).fetchall()
    own = 0
    for txn_id, unit_id, name, via in rows:
        txn = world.adesk_transactions[int(txn_id)]
        if txn.business_unit_id is not None:
            own += 1
            unit = world.project_categories[txn.business_unit_id]
            assert (unit_id, name, via) == (str(unit.id), unit.name, "movement")
        elif txn.project_id is not None:
            unit = world.project_categories[world.projects[txn.project_id].category_id]
            assert (unit_id, name, via) == (str(unit.id), unit.name, "project")
        else:
            assert (unit_id, name, via) == (None, None, None)
    assert own == sum(1 for t in world.adesk_transactions.values() if t.business_unit_id)
    assert own > 0
    staged = wh.execute(
        "SELECT count(*) FROM staging.adesk_transactions WHERE business_unit_id IS NOT NULL"
    ).fetchone()[0]
    assert staged == own
    # The monthly mart splits by business unit without changing any total.
    by_unit = wh.execute(
        """SELECT business_unit_id, sum(outflow) FROM marts.cash_flow_monthly
           WHERE business_unit_id IS NOT NULL GROUP BY 1"""
    ).fetchall()
    expected = wh.execute(
        """SELECT business_unit_id, sum(amount) FILTER (WHERE direction = 'out')
           FROM marts.cash_flow WHERE status = 'actual' AND business_unit_id IS NOT NULL
           GROUP BY 1"""
    ).fetchall()
    assert sorted(by_unit) == sorted(expected)


def test_transfer_legs_without_identity_pair_by_day_and_text_never_by_amount(
    built_warehouse: Path, tmp_path: Path, world: World
) -> None:
    """Legs whose answers carry no transfer link at all (an older API): the only out/in pair of
    a day and text pairs, whatever its amounts (a RUB -> USD pair too); two transfers of one
    day and text are ambiguous and stay unpaired, reported, rather than matched by amount."""
    path = _copy(built_warehouse, tmp_path)
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            """UPDATE raw.adesk_transactions
               SET payload = json_merge_patch(payload, '{"transferId": null,
                   "pairedTransactionId": null, "pairTransferTransaction": null}')
               WHERE json_extract_string(payload, '$.isTransfer') = 'true'"""
        )
        _rebuild(
            conn,
            {
                "staging.adesk_transactions",
                "marts.invoice_payments",
                "marts.cash_flow",
                "marts.account_balances",
                "marts.cash_flow_monthly",
            },
        )
        paired = conn.execute(
            "SELECT transaction_id, transfer_key, transfer_paired_by FROM marts.cash_flow "
            "WHERE is_transfer"
        ).fetchall()
        unpaired = _failing(conn, "transfer_legs_pair_up")
        net = _failing(conn, "transfers_net_to_zero")
    key_of = {int(t): k for t, k, _ in paired}
    assert {by for _, k, by in paired if k is not None} == {"day_and_text"}
    groups: dict[tuple, list] = {}
    for tr in world.adesk_transfers.values():
        legs = (world.adesk_transactions[tr.outcome_transaction_id], tr)
        groups.setdefault((tr.date, legs[0].description, legs[0].is_planned), []).append(tr)
    for group in groups.values():
        for tr in group:
            out, inc = key_of[tr.outcome_transaction_id], key_of[tr.income_transaction_id]
            if len(group) == 1:
                assert out == inc is not None
            else:
                assert out is None and inc is None
    assert any(tr.amount != tr.amount_to for g in groups.values() if len(g) == 1 for tr in g)
    ambiguous = sum(2 * len(g) for g in groups.values() if len(g) > 1)
    assert len(unpaired) == ambiguous and net == []


# --- invoices and payments ----------------------------------------------------------------------


def test_paid_invoices_matched_to_their_ledger_movement(
    wh: duckdb.DuckDBPyConnection, world: World
) -> None:
    truth = world.truth
    # Payments are per record of the invoicing system (a SalesMan split invoice: per part), as
    # the truth counts them.
    pairs = set(
        wh.execute(
            "SELECT source || ':' || source_record_id, transaction_id "
            "FROM marts.invoice_payments WHERE row_kind = 'payment'"
        ).fetchall()
    )
    expected = set()
    for paid in world.iter_paid_invoices():
        txn = world.payment_of_invoice(paid.source, paid.invoice_id)
        if txn is not None and txn in world.adesk_transactions:
            expected.add((f"{paid.source}:{paid.invoice_id}", str(txn)))
    assert pairs == expected
    matched = wh.execute(
        "SELECT count(DISTINCT source || ':' || source_record_id) FROM marts.invoice_payments "
        "WHERE row_kind = 'payment' AND source_says_paid"
    ).fetchone()[0]
    assert matched == truth.paid_invoices_matched


def test_lookalike_numbers_are_matched(wh: duckdb.DuckDBPyConnection, world: World) -> None:
    """Payers type 'C-00123' with a Latin C or 'С00123' without the hyphen: still matched."""
    odd = []
    for inv in world.bitrix_invoices.values():
        txn_id = world.payment_of_invoice("bitrix24", inv.id)
        txn = world.adesk_transactions.get(txn_id) if txn_id else None
        if txn is None or inv.account_number in txn.description:
            continue
        odd.append((f"bitrix24:{inv.id}", str(txn_id)))
    assert odd, "the sandbox should write some numbers differently"
    for key, txn_id in odd:
        found = wh.execute(
            "SELECT match_rule FROM marts.invoice_payments "
            "WHERE row_kind = 'payment' AND invoice_key = ? AND transaction_id = ?",
            [key, txn_id],
        ).fetchall()
        assert found == [("reference + amount",)], key


def test_paid_but_unrecorded_and_unmatched_incoming(
    wh: duckdb.DuckDBPyConnection, world: World
) -> None:
    truth = world.truth
    unrecorded = wh.execute(
        "SELECT source, source_record_id, reason FROM marts.invoice_payments "
        "WHERE row_kind = 'unpaid_in_ledger'"
    ).fetchall()
    assert {(s, int(i)) for s, i, _ in unrecorded} == truth.paid_unrecorded
    assert all(reason for _, _, reason in unrecorded)
    unmatched = wh.execute(
        "SELECT transaction_id, reason FROM marts.invoice_payments "
        "WHERE row_kind = 'unmatched_movement'"
    ).fetchall()
    assert {int(t) for t, _ in unmatched} == truth.unmatched_incoming
    assert all(reason for _, reason in unmatched)
    # Matched movements carry their invoice in cash_flow; nothing is counted twice.
    assert _failing(wh, "movement_not_overallocated") == []
    assert _failing(wh, "every_paid_invoice_accounted_for") == []
    linked = wh.execute(
        "SELECT count(*) FROM marts.cash_flow WHERE invoice_key IS NOT NULL"
    ).fetchone()[0]
    assert linked == truth.paid_invoices_matched  # one movement per paid record


def test_refunds_matched_to_outgoing_movements(wh: duckdb.DuckDBPyConnection, world: World) -> None:
    truth = world.truth
    rows = wh.execute(
        "SELECT refund_id, refund_amount, transaction_id, allocated_amount "
        "FROM marts.invoice_payments WHERE row_kind = 'refund'"
    ).fetchall()
    assert len(rows) == truth.refunds_count
    assert sum(r[1] for r in rows) == truth.refunds_total
    for refund_id, amount, txn_id, allocated in rows:
        assert txn_id == str(world.payment_of_refund(int(refund_id)))
        assert allocated == amount
    refunded = wh.execute(
        "SELECT count(*), sum(amount) FROM marts.cash_flow WHERE refund_id IS NOT NULL"
    ).fetchone()
    assert refunded == (truth.refunds_count, truth.refunds_total)


# --- receivables --------------------------------------------------------------------------------


def _bucket(days: int) -> str:
    if days <= 0:
        return "not yet due"
    if days <= 30:
        return "1-30"
    if days <= 60:
        return "31-60"
    if days <= 90:
        return "61-90"
    return "over 90"


def test_receivables_are_the_open_invoices_aged(
    wh: duckdb.DuckDBPyConnection, world: World
) -> None:
    """Open: Bitrix24 sent (not new: a draft), SalesMan unpaid records (a split invoice's
    remainder under the invoice's key), ApiPay pending (no due date: due when issued)."""
    today = world.today()
    expected: dict[str, tuple[Decimal, str]] = {}
    for inv in world.bitrix_invoices.values():
        if inv.stage_id == STAGE_SENT:
            expected[f"bitrix24:{inv.id}"] = (
                inv.opportunity,
                _bucket((today - inv.closedate).days),
            )
    for sinv in world.salesman_invoices.values():
        if not sinv.paid:
            key = f"salesman:{sinv.parent_id or sinv.id}"
            expected[key] = (sinv.summa, _bucket((today - sinv.date_plan).days))
    for ainv in world.apipay_invoices.values():
        if ainv.status == "pending":
            issued = ainv.created_at.astimezone(ALMATY).date()
            expected[f"apipay:{ainv.id}"] = (ainv.amount, _bucket((today - issued).days))
    rows = wh.execute(
        "SELECT invoice_key, outstanding, aging_bucket, as_of_date FROM marts.receivables"
    ).fetchall()
    assert {r[0]: (r[1], r[2]) for r in rows} == expected
    assert {r[3] for r in rows} == {today}
    assert _failing(wh, "outstanding_positive_and_bucketed") == []


# --- checks that fail when they should; no ledger at all ----------------------------------------


def test_balance_check_names_account_and_difference(
    built_warehouse: Path, tmp_path: Path, world: World
) -> None:
    txn = next(
        t
        for t in world.adesk_transactions.values()
        if not t.is_planned and not t.is_transfer and t.type == 1
    )
    path = _copy(built_warehouse, tmp_path)
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            "UPDATE raw.adesk_transactions SET deleted_at = now() WHERE id = ?", [str(txn.id)]
        )
        _rebuild(
            conn,
            {
                "staging.adesk_transactions",
                "marts.invoice_payments",
                "marts.cash_flow",
                "marts.account_balances",
            },
        )
        check = _check("latest_balance_matches_adesk")
        failing = conn.execute(
            f"SELECT bank_account_id, difference FROM ({check.failing_rows_sql})"
        ).fetchall()
    assert failing == [(str(txn.bank_account_id), -txn.amount)]


def test_without_a_ledger_the_models_say_so(
    built_warehouse: Path, tmp_path: Path, world: World
) -> None:
    """Adesk not configured: no cash flow, no balances, and every paid invoice is listed as
    not checked against cash (instead of being taken as cash on the word of its CRM)."""
    path = _copy(built_warehouse, tmp_path)
    with duckdb.connect(str(path)) as conn:
        for (table,) in conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'raw' AND table_name LIKE 'adesk\\_%' ESCAPE '\\'"
        ).fetchall():
            conn.execute(f"DELETE FROM raw.{table}")
        build_all_models(conn)
        assert conn.execute("SELECT count(*) FROM marts.cash_flow").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM marts.account_balances").fetchone()[0] == 0
        kinds = conn.execute(
            "SELECT row_kind, count(*) FILTER (WHERE reason LIKE 'no ledger%'), count(*) "
            "FROM marts.invoice_payments GROUP BY 1 ORDER BY 1"
        ).fetchall()
        receivables = conn.execute("SELECT count(*) FROM marts.receivables").fetchone()[0]
    by_kind = {k: (flagged, total) for k, flagged, total in kinds}
    assert "payment" not in by_kind and "unmatched_movement" not in by_kind
    # paid records of the three invoicing systems, and the Bitrix24 legacy invoices paid
    # before any ledger (with no ledger at all, every payment is unchecked)
    paid = world.truth.paid_invoices + sum(
        1 for leg in legacy_invoices(world).values() if leg.status_id == "P"
    )
    assert by_kind["unpaid_in_ledger"] == (paid, paid)
    assert by_kind["refund"][0] == by_kind["refund"][1] > 0
    assert receivables > 0


# --- example queries ----------------------------------------------------------------------------


def test_example_cash_flow_by_month_and_category(wh: duckdb.DuckDBPyConnection) -> None:
    sql = (EXAMPLES / "cash_flow_by_month_and_category.sql").read_text(encoding="utf-8")
    assert sql.startswith("-- ")
    rows = wh.execute(sql).fetchall()
    assert rows
    months = {r[0] for r in rows}
    assert 1 <= len(months) <= 3 and all(re.fullmatch(r"\d{4}-\d{2}", m) for m in months)
    assert {r[1] for r in rows} <= {"RUB", "KZT", "USD"}
    assert all(r[6] == r[4] - r[5] for r in rows)
    # The same figures as the cash flow itself.
    first = min(months) + "-01"
    totals = wh.execute(
        """SELECT currency, sum(amount) FILTER (WHERE direction = 'in'),
                  sum(amount) FILTER (WHERE direction = 'out')
           FROM marts.cash_flow WHERE status = 'actual' AND counts_as IN ('income', 'expense')
             AND month >= CAST(? AS DATE) GROUP BY 1""",
        [first],
    ).fetchall()
    for currency, inflow, outflow in totals:
        assert sum(r[4] for r in rows if r[1] == currency) == (inflow or 0)
        assert sum(r[5] for r in rows if r[1] == currency) == (outflow or 0)


def test_example_who_owes_us_what(wh: duckdb.DuckDBPyConnection, world: World) -> None:
    sql = (EXAMPLES / "who_owes_us_what.sql").read_text(encoding="utf-8")
    rows = wh.execute(sql).fetchall()
    assert rows
    for row in rows:
        assert row[3] == sum(row[4:9]) and row[2] >= 1
        assert row[10] == world.today()
    totals = dict(
        wh.execute("SELECT currency, sum(outstanding) FROM marts.receivables GROUP BY 1").fetchall()
    )
    for currency, total in totals.items():
        assert sum(r[3] for r in rows if r[1] == currency) == total


def test_example_lists_match_truth(wh: duckdb.DuckDBPyConnection, world: World) -> None:
    truth = world.truth
    unrecorded = wh.execute((EXAMPLES / "paid_but_never_recorded.sql").read_text()).fetchall()
    assert len(unrecorded) == len(truth.paid_unrecorded)
    without = wh.execute((EXAMPLES / "money_without_an_invoice.sql").read_text()).fetchall()
    assert len(without) == len(truth.unmatched_incoming)
    balances = wh.execute((EXAMPLES / "account_balances_today.sql").read_text()).fetchall()
    assert len(balances) == len(truth.balances)
    assert all(r[7] == 0 for r in balances)


def test_staging_survives_api_drift(built_warehouse: Path, tmp_path: Path, world: World) -> None:
    """The sandbox's drifting Adesk (unknown fields, optional ones gone, numbers as strings,
    nulls) still gives the same balances and totals, with nothing unparsable."""
    import json

    from finance_sandbox.adesk.drift import drift

    kinds = {
        "adesk_transactions": "transaction",
        "adesk_bank_accounts": "bank_account",
        "adesk_transaction_categories": "category",
        "adesk_projects": "project",
        "adesk_project_categories": "project_category",
        "adesk_legal_entities": "legal_entity",
        "adesk_commitments": "commitment",
        "adesk_tags": "tag",
    }
    path = _copy(built_warehouse, tmp_path)
    with duckdb.connect(str(path)) as conn:
        for table, kind in kinds.items():
            rows = conn.execute(f"SELECT id, payload FROM raw.{table}").fetchall()
            conn.executemany(
                f"UPDATE raw.{table} SET payload = ? WHERE id = ?",
                [(json.dumps(drift(kind, json.loads(p)), ensure_ascii=False), i) for i, p in rows],
            )
        _rebuild(
            conn,
            {f"staging.{t}" for t in kinds}
            | {
                "marts.invoice_payments",
                "marts.cash_flow",
                "marts.account_balances",
                "marts.cash_flow_monthly",
            },
        )
        for table in kinds:
            assert _failing(conn, "parse_errors", f"staging.{table}") == [], table
        balances = dict(
            conn.execute(
                "SELECT CAST(bank_account_id AS INTEGER), closing_balance "
                "FROM marts.account_balances WHERE is_latest"
            ).fetchall()
        )
        income = dict(
            conn.execute(
                "SELECT currency, sum(amount) FROM marts.cash_flow "
                "WHERE status = 'actual' AND counts_as = 'income' GROUP BY 1"
            ).fetchall()
        )
        assert _failing(conn, "latest_balance_matches_adesk") == []
        unpaired = _failing(conn, "transfer_legs_pair_up")
        net = _failing(conn, "transfers_net_to_zero")
        by = {
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT transfer_paired_by FROM marts.cash_flow WHERE is_transfer"
            ).fetchall()
        }
        units = conn.execute(
            "SELECT count(*) FROM marts.cash_flow WHERE business_unit_via = 'movement'"
        ).fetchone()[0]
    assert balances == world.truth.balances
    assert income == {ISO[c]: v for c, v in world.truth.income_total.items() if v}
    # Transfer legs linked only by transferId or only by pairedTransactionId still pair, and the
    # business unit is read under both spellings (business_unit, businessUnit).
    assert unpaired == [] and net == []
    assert by == {"transferId", "pairedTransactionId"}
    assert units == sum(1 for t in world.adesk_transactions.values() if t.business_unit_id)
