"""`python -m finance_pipeline.ask NAME`: every question of examples/ answered in the terminal at
full width (money columns never cut), or written to CSV / Excel with money as numbers."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from finance_pipeline import ask


@pytest.mark.parametrize("name", ask.example_names())
def test_every_question_prints_every_column(
    name: str, built_warehouse: Path, wh: duckdb.DuckDBPyConnection, capsys: pytest.CaptureFixture
) -> None:
    assert ask.main([name, "--warehouse", str(built_warehouse)]) == 0
    out = capsys.readouterr().out.splitlines()
    columns, rows = ask.run_query(wh, ask.example_sql(name))
    header = out[0].split()
    assert header == columns  # every column, the last money columns included
    assert len(out) == 2 + len(rows)
    assert all(len(line) <= len(out[1]) for line in out)  # nothing wider than the columns


def test_who_owes_us_what_shows_the_money_columns_exactly(
    built_warehouse: Path, wh: duckdb.DuckDBPyConnection, capsys: pytest.CaptureFixture
) -> None:
    ask.main(["who_owes_us_what", "--warehouse", str(built_warehouse), "--limit", "3"])
    out = capsys.readouterr().out.splitlines()
    assert "total_owed" in out[0] and "overdue_over_90" in out[0]
    first = wh.execute(ask.example_sql("who_owes_us_what")).fetchone()
    assert str(first[3]) in out[2] and str(first[8]) in out[2]
    assert out[-1].startswith("(") and "first 3 shown" in out[-1]


def test_csv_and_xlsx_keep_money_exact_and_numeric(
    built_warehouse: Path, wh: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    from openpyxl import load_workbook

    target_csv, target_xlsx = tmp_path / "owed.csv", tmp_path / "owed.xlsx"
    args = ["who_owes_us_what", "--warehouse", str(built_warehouse)]
    assert ask.main([*args, "--csv", str(target_csv), "--xlsx", str(target_xlsx)]) == 0
    columns, rows = ask.run_query(wh, ask.example_sql("who_owes_us_what"))
    total_at = columns.index("total_owed")
    with target_csv.open(encoding="utf-8") as f:
        written = list(csv.reader(f))
    assert written[0] == columns
    assert [Decimal(r[total_at]) for r in written[1:]] == [r[total_at] for r in rows]
    sheet = load_workbook(target_xlsx).active
    assert [c.value for c in sheet[1]] == columns
    cells = [sheet.cell(row=i + 2, column=total_at + 1) for i in range(len(rows))]
    assert all(isinstance(c.value, int | float) and c.data_type == "n" for c in cells)
    assert [Decimal(str(c.value)) for c in cells] == [r[total_at] for r in rows]
    assert cells[0].number_format == "#,##0.00"


def test_an_unknown_question_names_the_known_ones(built_warehouse: Path) -> None:
    with pytest.raises(SystemExit, match="who_owes_us_what"):
        ask.main(["who_owes_us", "--warehouse", str(built_warehouse)])
