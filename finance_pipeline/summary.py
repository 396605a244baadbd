"""`python -m finance_pipeline.summary`: what landed, what needs attention, what to run next.

Printed at the end of `make demo`: row counts per layer (each mart by name), then the findings a
finance person should look at (count and amount per currency, as of the warehouse's as-of date),
then the commands that show more.
"""

from __future__ import annotations

import sys
from typing import Any

from finance_pipeline.config import load_settings
from finance_pipeline.report import report_path
from finance_pipeline.report.data import FINDINGS_SQL
from finance_pipeline.report.html import money
from finance_pipeline.warehouse.connection import connect

NEXT_STEPS = (
    ("make report", "the finance report in a browser: cash flow, who owes us, needs attention"),
    ("make ask Q=who_owes_us_what", "any question of examples/ in the terminal (ARGS=--xlsx: Excel)"),
    ("make dev", "the Dagster UI on http://127.0.0.1:3000 (PORT=... for another port)"),
)


def _tables(conn: Any) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema IN ('raw', 'staging', 'intermediate', 'marts') "
        "AND table_name NOT LIKE '%\\_\\_history' ESCAPE '\\' "
        "AND table_name NOT LIKE '\\_%' ESCAPE '\\' ORDER BY 1, 2"
    ).fetchall()


def _counts(conn: Any, tables: list[tuple[str, str]]) -> list[str]:
    lines = []
    for layer in ("raw", "staging", "intermediate"):
        names = [t for s, t in tables if s == layer]
        if not names:
            continue
        where = " WHERE deleted_at IS NULL" if layer == "raw" else ""
        rows = sum(
            conn.execute(f"SELECT count(*) FROM {layer}.{t}{where}").fetchone()[0] for t in names
        )
        lines.append(f"  {layer:<12} {len(names):>3} tables  {rows:>10,} rows")
    marts = [t for s, t in tables if s == "marts"]
    for name in marts:
        count = conn.execute(f"SELECT count(*) FROM marts.{name}").fetchone()[0]
        lines.append(f"  marts.{name:<24} {count:>10,} rows")
    return lines


def needs_attention(conn: Any) -> list[str]:
    """The findings block: as-of date, late sources, findings with money per currency."""
    as_of = conn.execute(
        "SELECT max(as_of_date), min(days_behind_today) FROM marts.data_as_of"
    ).fetchone()
    lines = [f"Needs attention (figures as of {as_of[0]}, the newest date in the data):"]
    late = conn.execute(
        "SELECT source, days_behind_today, expected_every_days FROM marts.data_as_of "
        "WHERE is_late ORDER BY source"
    ).fetchall()
    for source, behind, every in late:
        when = "no data" if behind is None else f"data ends {behind} days before today"
        lines.append(f"  ! {source}: {when} (expected every {every} days)")
    findings = conn.execute(FINDINGS_SQL).fetchall()
    if not findings:
        lines.append("  nothing: every paid invoice is in the ledger, every receipt has an invoice")
    width = max((len(title) for _, title, *_ in findings), default=0)
    for _, title, currency, count, amount in findings:
        lines.append(f"  {title:<{width}}  {count:>4}  {currency} {money(amount):>16}")
    return lines


def summarize(path: str) -> str:
    lines = [f"Warehouse: {path}", ""]
    with connect(path, read_only=True) as conn:
        tables = _tables(conn)
        if not tables:
            return f"Warehouse {path} has no tables yet: run `make demo`."
        lines += _counts(conn, tables)
        if ("marts", "data_as_of") in tables and ("marts", "invoice_payments") in tables:
            lines += ["", *needs_attention(conn)]
    lines += ["", "What next:"]
    lines += [f"  {command:<30} {what}" for command, what in NEXT_STEPS]
    report = report_path(path)
    if report.exists():
        lines.append(f"  (the report is at {report.resolve()})")
    return "\n".join(lines)


def main() -> int:
    settings = load_settings()
    path = settings.warehouse_file
    if not str(path).startswith("md:") and not path.exists():
        print(f"No warehouse at {path} yet: run `make demo` first.")
        return 1
    print(f"Mode: {settings.mode.value}")
    print(summarize(str(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
