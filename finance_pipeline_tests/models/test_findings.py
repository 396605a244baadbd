"""Findings up front and one as-of date.

- A business finding is a WARN check named `finding_*` that says the money at stake per currency
  and shows its biggest items first, by name (never a `tax:`/`name:` key).
- Every "today" is the warehouse's as-of date (marts.data_as_of): the newest business date of any
  source; a source whose data lags the wall clock by more than its cadence is a WARN.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import dagster as dg
import duckdb

from finance_pipeline.checks import all_checks, run_check

FINDINGS = {c.name: c for c in all_checks() if c.name.startswith("finding_")}


def test_findings_are_warnings_with_an_amount() -> None:
    assert {
        "finding_paid_but_never_recorded",
        "finding_receipts_without_invoice",
        "finding_invoices_without_counterparty",
    } <= set(FINDINGS)
    for check in FINDINGS.values():
        assert check.warn_only and not check.blocking and check.amount_column, check.name


def test_paid_but_never_recorded_says_the_money_per_currency_biggest_first_by_name(
    wh: duckdb.DuckDBPyConnection,
) -> None:
    result = run_check(wh, FINDINGS["finding_paid_but_never_recorded"])
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    expected = wh.execute(
        """SELECT currency, count(*), sum(invoice_amount) FROM marts.invoice_payments
           WHERE row_kind = 'unpaid_in_ledger' GROUP BY 1 ORDER BY 1"""
    ).fetchall()
    assert expected
    assert result.metadata["failing_rows"].value == sum(n for _, n, _ in expected)
    table = result.metadata["amount_at_stake"].value
    for currency, n, amount in expected:
        assert f"| {currency} | {n} | {amount} |" in table
        assert result.metadata[f"amount_at_stake_{currency}"].value == float(amount)
    sample = result.metadata["sample (biggest amounts first)"].value.splitlines()[2:]
    header = result.metadata["sample (biggest amounts first)"].value.splitlines()[0]
    amount_at = [h.strip() for h in header.strip("|").split("|")].index("amount")
    amounts = [Decimal(line.strip("|").split("|")[amount_at].strip()) for line in sample]
    assert amounts == sorted(amounts, reverse=True)
    biggest = wh.execute(
        """SELECT max(invoice_amount) FROM marts.invoice_payments
           WHERE row_kind = 'unpaid_in_ledger'"""
    ).fetchone()[0]
    assert amounts[0] == biggest
    assert not any(key in line for line in sample for key in ("tax:", "name:", "phone:"))


def test_as_of_date_is_the_newest_business_date_and_what_receivables_age_against(
    wh: duckdb.DuckDBPyConnection,
) -> None:
    newest = wh.execute(
        """SELECT greatest(
               (SELECT max(date) FROM staging.adesk_transactions WHERE NOT is_planned),
               (SELECT max(issued_date) FROM marts.invoices),
               (SELECT max(last_payment_date) FROM marts.invoices))"""
    ).fetchone()[0]
    as_of = wh.execute("SELECT DISTINCT as_of_date FROM marts.data_as_of").fetchall()
    assert as_of == [(newest,)]
    assert wh.execute("SELECT DISTINCT as_of_date FROM marts.receivables").fetchall() == as_of
    sources = dict(wh.execute("SELECT source, newest_data_date FROM marts.data_as_of").fetchall())
    assert set(sources) == {"adesk", "bitrix24", "salesman", "apipay"}
    assert max(sources.values()) == newest


def test_a_source_lagging_beyond_its_cadence_is_a_warning() -> None:
    check = next(c for c in all_checks() if c.name == "source_data_is_recent")
    assert check.warn_only
    today = date.today()
    with duckdb.connect(":memory:") as conn:
        conn.execute("CREATE SCHEMA marts")
        conn.execute(
            "CREATE TABLE marts.data_as_of AS SELECT * FROM (VALUES "
            "('adesk', ?::DATE, 3), ('bitrix24', ?::DATE, 7), ('apipay', NULL::DATE, 3)) "
            "AS t(source, newest_data_date, expected_every_days)",
            [today - timedelta(days=1), today - timedelta(days=36)],
        )
        late = {row[0]: row[3] for row in conn.execute(check.failing_rows_sql).fetchall()}
        result = run_check(conn, check)
    assert late == {"bitrix24": 36, "apipay": None}
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
