"""Metadata beyond row counts for the marts people look at most, shown on their asset pages.

- marts.cash_flow_monthly: inflow, outflow and net per month and currency as a markdown chart
  (operating, investing and financing movements; transfers between own accounts and owner money
  left out, as in the cash-flow statement).
- marts.receivables: the aging buckets (not yet due, 1-30, 31-60, 61-90, over 90 days overdue)
  per currency as a table.

And the numbers whose trend across runs matters, as float metadata the UI plots (the exact
DECIMALs stay in the tables): outstanding and overdue > 90 days per currency (receivables), the
last full month's net per currency (cash_flow_monthly), unrecorded payments per currency
(invoice_payments). Months are cut at the warehouse's as-of date: the as-of month is marked
partial, later (planned-only) months are left out.
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
          AND month <= (SELECT max(as_of_date) FROM marts.data_as_of)
          AND month >= (SELECT date_trunc('month', max(as_of_date)) FROM marts.data_as_of)
              - INTERVAL 11 MONTH
        GROUP BY ALL ORDER BY currency, month
        """
    ).fetchall()
    if not rows:
        return {}
    partial = _partial_month(conn)
    rows = [(f"{r[0]} (partial)" if r[0] == partial else r[0], *r[1:]) for r in rows]
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


def _partial_month(conn: Any) -> str | None:
    """The as-of month as YYYY-MM when the data does not reach its last day, else None."""
    row = conn.execute(
        "SELECT strftime(max(as_of_date), '%Y-%m'), max(as_of_date) < last_day(max(as_of_date)) "
        "FROM marts.data_as_of"
    ).fetchone()
    return row[0] if row and row[1] else None


def _floats(rows: list[tuple[Any, ...]], prefix: str) -> dict[str, Any]:
    """{prefix_<currency>: float}: numbers the UI plots across runs (exact values are in tables)."""
    return {f"{prefix}_{currency}": dg.MetadataValue.float(float(v or 0)) for currency, v in rows}


def receivables_metadata(conn: Any) -> dict[str, Any]:
    metadata = aging_buckets(conn)
    metadata.update(
        _floats(
            conn.execute(
                "SELECT currency, sum(outstanding) FROM marts.receivables GROUP BY 1 ORDER BY 1"
            ).fetchall(),
            "outstanding",
        )
    )
    metadata.update(
        _floats(
            conn.execute(
                "SELECT currency, sum(outstanding) FILTER (WHERE days_overdue > 90) "
                "FROM marts.receivables GROUP BY 1 ORDER BY 1"
            ).fetchall(),
            "overdue_over_90",
        )
    )
    return metadata


def cash_flow_monthly_metadata(conn: Any) -> dict[str, Any]:
    metadata = cash_flow_chart(conn)
    last_full = conn.execute(
        """
        SELECT CASE WHEN max(as_of_date) = last_day(max(as_of_date))
                    THEN date_trunc('month', max(as_of_date))
                    ELSE date_trunc('month', max(as_of_date)) - INTERVAL 1 MONTH END
        FROM marts.data_as_of
        """
    ).fetchone()[0]
    if last_full is None:
        return metadata
    rows = conn.execute(
        """
        SELECT currency, sum(net) FROM marts.cash_flow_monthly
        WHERE counts_as IN ('income', 'expense') AND month = ?
        GROUP BY 1 ORDER BY 1
        """,
        [last_full],
    ).fetchall()
    metadata["last_full_month"] = str(last_full)[:7]
    metadata.update(_floats(rows, "last_full_month_net"))
    return metadata


def invoice_payments_metadata(conn: Any) -> dict[str, Any]:
    rows = conn.execute(
        """
        SELECT currency, count(*), sum(invoice_amount) FROM marts.invoice_payments
        WHERE row_kind = 'unpaid_in_ledger' GROUP BY 1 ORDER BY 1
        """
    ).fetchall()
    metadata = _floats([(c, a) for c, _, a in rows], "unrecorded_payments")
    metadata["unrecorded_payments_count"] = int(sum(n for _, n, _ in rows))
    return metadata


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
    "marts.cash_flow_monthly": cash_flow_monthly_metadata,
    "marts.receivables": receivables_metadata,
    "marts.invoice_payments": invoice_payments_metadata,
}


def extra_metadata(conn: Any, table: str) -> dict[str, Any]:
    produce = EXTRAS.get(table)
    return produce(conn) if produce else {}
