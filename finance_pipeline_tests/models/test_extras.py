"""The chart on cash_flow_monthly and the aging table on receivables say what the marts say."""

from __future__ import annotations

from decimal import Decimal

from finance_pipeline.models.extras import extra_metadata


def test_cash_flow_chart_rows_are_the_monthly_totals(wh) -> None:
    chart = extra_metadata(wh, "marts.cash_flow_monthly")["cash_flow_chart"].value
    month, currency, inflow, outflow = wh.execute(
        """SELECT strftime(month, '%Y-%m'), currency, sum(inflow), sum(outflow)
           FROM marts.cash_flow_monthly WHERE counts_as IN ('income', 'expense')
           GROUP BY ALL ORDER BY 1 DESC, 2 LIMIT 1"""
    ).fetchall()[0]
    assert f"**{currency}**" in chart
    assert f"| {month} | {inflow} | {outflow} | {inflow - outflow} |" in chart


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
