"""Metadata beyond row counts for the marts people look at most, shown on their asset pages.

- marts.cash_flow_monthly: inflow, outflow and net per month and currency as a markdown chart
  (operating, investing and financing movements; transfers between own accounts and owner money
  left out, as in the cash-flow statement).
- marts.receivables: the aging buckets (not yet due, 1-30, 31-60, 61-90, over 90 days overdue)
  per currency as a table.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import dagster as dg

from finance_pipeline.warehouse.metadata import markdown_table

_BAR_WIDTH = 24


def _bar(value: Decimal, scale: Decimal, char: str) -> str:
    if scale <= 0 or value <= 0:
        return ""
    return char * max(1, round(_BAR_WIDTH * value / scale))


def cash_flow_chart(conn: Any) -> dict[str, Any]:
    rows = conn.execute(
        """
        SELECT strftime(month, '%Y-%m') AS month, currency,
               sum(inflow) AS inflow, sum(outflow) AS outflow, sum(net) AS net
        FROM marts.cash_flow_monthly
        WHERE counts_as IN ('income', 'expense')
          AND month >= (SELECT max(month) FROM marts.cash_flow_monthly) - INTERVAL 11 MONTH
        GROUP BY ALL ORDER BY currency, month
        """
    ).fetchall()
    if not rows:
        return {}
    lines = []
    for currency in sorted({r[1] for r in rows}):
        of_currency = [r for r in rows if r[1] == currency]
        scale = max(max(r[2], r[3]) for r in of_currency)
        table = [
            (
                month,
                inflow,
                outflow,
                net,
                f"`{_bar(inflow, scale, '▇') or ' '}` in<br>`{_bar(outflow, scale, '▒') or ' '}` out",
            )
            for month, _, inflow, outflow, net in of_currency
        ]
        lines.append(f"**{currency}** (last 12 months; bars scaled to the largest month)\n")
        lines.append(markdown_table(["month", "inflow", "outflow", "net", "chart"], table))
        lines.append("")
    return {"cash_flow_chart": dg.MetadataValue.md("\n".join(lines))}


def aging_buckets(conn: Any) -> dict[str, Any]:
    rows = conn.execute(
        """
        SELECT currency, aging_bucket, count(*) AS invoices, sum(outstanding) AS outstanding
        FROM marts.receivables
        GROUP BY currency, aging_bucket, aging_order
        ORDER BY currency, aging_order
        """
    ).fetchall()
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn("currency", "string"),
            dg.TableColumn("aging_bucket", "string"),
            dg.TableColumn("invoices", "int"),
            dg.TableColumn("outstanding", "string", description="exact DECIMAL, as text"),
        ]
    )
    records = [
        dg.TableRecord(
            {"currency": c, "aging_bucket": b, "invoices": int(n), "outstanding": str(total)}
        )
        for c, b, n, total in rows
    ]
    return {"aging_buckets": dg.MetadataValue.table(records=records, schema=schema)}


EXTRAS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "marts.cash_flow_monthly": cash_flow_chart,
    "marts.receivables": aging_buckets,
}


def extra_metadata(conn: Any, table: str) -> dict[str, Any]:
    produce = EXTRAS.get(table)
    return produce(conn) if produce else {}
