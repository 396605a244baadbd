"""The chart on cash_flow_monthly and the aging table on receivables say what the marts say."""

from __future__ import annotations

from calendar import monthrange
from datetime import date
from decimal import Decimal

from finance_pipeline.models.extras import extra_metadata


def test_cash_flow_chart_rows_are_the_monthly_totals_up_to_the_as_of_date(wh) -> None:
    chart = extra_metadata(wh, "marts.cash_flow_monthly")["cash_flow_chart"].value
    as_of = wh.execute("SELECT max(as_of_date) FROM marts.data_as_of").fetchone()[0]
    month, currency, inflow, outflow = wh.execute(
        """SELECT strftime(month, '%Y-%m'), currency, sum(inflow), sum(outflow)
           FROM marts.cash_flow_monthly WHERE counts_as IN ('income', 'expense') AND month <= ?
           GROUP BY ALL ORDER BY 1 DESC, 2 LIMIT 1""",
        [as_of],
    ).fetchall()[0]
    assert month == as_of.strftime("%Y-%m")
    label = f"{month} (partial)" if as_of.day < monthrange(as_of.year, as_of.month)[1] else month
    assert f"**{currency}**" in chart
    assert f"| {label} | {inflow} | {outflow} | {inflow - outflow} |" in chart
    later = (date(as_of.year + as_of.month // 12, as_of.month % 12 + 1, 1)).strftime("%Y-%m")
    assert f"| {later}" not in chart  # planned-only months are not shown as actual ones


def test_trend_figures_are_plottable_numbers_equal_to_the_marts(wh) -> None:
    receivables = extra_metadata(wh, "marts.receivables")
    for currency, total, over_90 in wh.execute(
        """SELECT currency, sum(outstanding),
                  coalesce(sum(outstanding) FILTER (WHERE days_overdue > 90), 0)
           FROM marts.receivables GROUP BY 1"""
    ).fetchall():
        assert receivables[f"outstanding_{currency}"].value == float(total)
        assert receivables[f"overdue_over_90_{currency}"].value == float(over_90)
    payments = extra_metadata(wh, "marts.invoice_payments")
    unrecorded = wh.execute(
        """SELECT currency, count(*), sum(invoice_amount) FROM marts.invoice_payments
           WHERE row_kind = 'unpaid_in_ledger' GROUP BY 1"""
    ).fetchall()
    assert unrecorded
    for currency, _, amount in unrecorded:
        assert payments[f"unrecorded_payments_{currency}"].value == float(amount)
    assert payments["unrecorded_payments_count"] == sum(n for _, n, _ in unrecorded)
    monthly = extra_metadata(wh, "marts.cash_flow_monthly")
    full = monthly["last_full_month"]
    for currency, net in wh.execute(
        """SELECT currency, sum(net) FROM marts.cash_flow_monthly
           WHERE counts_as IN ('income', 'expense') AND strftime(month, '%Y-%m') = ?
           GROUP BY 1""",
        [full],
    ).fetchall():
        assert monthly[f"last_full_month_net_{currency}"].value == float(net)


def test_aging_buckets_add_up_to_the_receivables(wh) -> None:
    table = extra_metadata(wh, "marts.receivables")["aging_buckets"]
    by_currency: dict[str, Decimal] = {}
    for record in table.records:
        by_currency[record.data["currency"]] = by_currency.get(
            record.data["currency"], Decimal(0)
        ) + Decimal(record.data["outstanding"])
    expected = dict(
        wh.execute("SELECT currency, sum(outstanding) FROM marts.receivables GROUP BY 1").fetchall()
    )
    assert by_currency == expected
    buckets = {r.data["aging_bucket"] for r in table.records}
    assert buckets <= {"not yet due", "1-30", "31-60", "61-90", "over 90"}
