"""`make demo` ends with what needs attention (money per currency) and what to run next."""

from __future__ import annotations

from pathlib import Path

import duckdb

from finance_pipeline.report.html import money
from finance_pipeline.summary import summarize


def test_summary_ends_with_needs_attention_and_what_next(
    built_warehouse: Path, wh: duckdb.DuckDBPyConnection
) -> None:
    text = summarize(str(built_warehouse))
    attention = text[text.index("Needs attention") : text.index("What next:")]
    as_of = wh.execute("SELECT max(as_of_date) FROM marts.data_as_of").fetchone()[0]
    assert f"as of {as_of}" in attention
    for currency, count, amount in wh.execute(
        """SELECT currency, count(*), sum(invoice_amount) FROM marts.invoice_payments
           WHERE row_kind = 'unpaid_in_ledger' GROUP BY 1"""
    ).fetchall():
        line = next(
            row for row in attention.splitlines() if "never recorded" in row and currency in row
        )
        assert money(amount) in line and f" {count}  {currency} " in line
    assert "make report" in text and "make ask" in text and "make dev" in text
