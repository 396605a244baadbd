"""`python -m finance_pipeline.ask NAME`: answer one of the questions in examples/ from the warehouse.

    python -m finance_pipeline.ask                          the questions there are
    python -m finance_pipeline.ask who_owes_us_what         print the answer (every column, full width)
    python -m finance_pipeline.ask who_owes_us_what --csv   write who_owes_us_what.csv
    python -m finance_pipeline.ask who_owes_us_what --xlsx  write who_owes_us_what.xlsx (Excel)

No `duckdb` command is needed: the warehouse is opened read-only with the duckdb Python package.
Money is printed exactly as DuckDB holds it (DECIMAL, no float rounding) and written to Excel as
numbers (so it sums), with a thousands format; CSV carries the exact decimal text.

Why openpyxl for Excel: it both writes and reads .xlsx (the tests read the file back), is pure
Python, and is the engine pandas itself uses for .xlsx.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"


def example_names() -> list[str]:
    return sorted(p.stem for p in EXAMPLES_DIR.glob("*.sql"))


def example_sql(name: str) -> str:
    path = EXAMPLES_DIR / f"{Path(name).stem}.sql"
    if not path.exists():
        raise SystemExit(f"No question named {name!r}. Known: {', '.join(example_names())}")
    return path.read_text(encoding="utf-8").strip().rstrip(";")


def example_title(name: str) -> str:
    first = (EXAMPLES_DIR / f"{name}.sql").read_text(encoding="utf-8").splitlines()[0]
    return first.lstrip("- ").strip()


def run_query(conn: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    cursor = conn.execute(sql)
    return [d[0] for d in cursor.description], cursor.fetchall()


def cell_text(value: Any) -> str:
    """A value as a person reads it: exact decimals, ISO dates, lists joined by commas."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(cell_text(v) for v in value)
    return str(value)


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], limit: int | None = None) -> str:
    """Columns padded to their widest value, two spaces apart, as the README shows them.

    Never cut at the terminal's width: the money columns are often the last ones.
    """
    shown = list(rows if limit is None else rows[:limit])
    texts = [[cell_text(v) for v in row] for row in shown]
    widths = [max([len(c), *(len(r[i]) for r in texts)]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    out = [line(list(columns)), line(["-" * w for w in widths]), *(line(r) for r in texts)]
    if limit is not None and len(rows) > limit:
        out.append(f"({len(rows)} rows in all; first {limit} shown)")
    return "\n".join(out)


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows([cell_text(v) for v in row] for row in rows)


def _excel_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | Decimal | date | datetime):
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.replace(tzinfo=None)  # Excel has no time zones; warehouse times are UTC
        return value
    return cell_text(value)


def write_xlsx(
    path: Path, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str = ""
) -> None:
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = "answer"
    sheet.append(list(columns))
    for row in rows:
        sheet.append([_excel_value(v) for v in row])
    for index, name in enumerate(columns, start=1):
        values = [row[index - 1] for row in rows]
        letter = get_column_letter(index)
        fmt = None
        if any(isinstance(v, Decimal) for v in values):
            fmt = "#,##0.00"
        elif any(isinstance(v, datetime) for v in values):
            fmt = "yyyy-mm-dd hh:mm"
        elif any(isinstance(v, date) for v in values):
            fmt = "yyyy-mm-dd"
        if fmt:
            for cell in sheet[letter][1:]:
                cell.number_format = fmt
        width = max([len(name), *(len(cell_text(v)) for v in values[:500])]) + 2
        sheet.column_dimensions[letter].width = min(width, 60)
    sheet.freeze_panes = "A2"
    if title:
        book.properties.title = title
    book.save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m finance_pipeline.ask",
        description="Answer a question of examples/ from the warehouse.",
    )
    parser.add_argument("name", nargs="?", help="the question: a file name in examples/")
    parser.add_argument("--csv", nargs="?", const="", metavar="FILE", help="write CSV (default NAME.csv)")
    parser.add_argument("--xlsx", nargs="?", const="", metavar="FILE", help="write Excel (default NAME.xlsx)")
    parser.add_argument("--limit", type=int, default=None, help="print at most this many rows")
    parser.add_argument("--warehouse", help="DuckDB file (default: the configured warehouse)")
    args = parser.parse_args(argv)

    if not args.name:
        print("Questions (python -m finance_pipeline.ask NAME, or make ask Q=NAME):")
        for name in example_names():
            print(f"  {name:<34} {example_title(name)}")
        return 0

    from finance_pipeline.warehouse.connection import connect

    if args.warehouse:
        warehouse = args.warehouse
    else:
        from finance_pipeline.config import load_settings

        warehouse = str(load_settings().warehouse_file)
    if not warehouse.startswith("md:") and not Path(warehouse).exists():
        print(f"No warehouse at {warehouse} yet: run `make demo` first.")
        return 1
    sql = example_sql(args.name)
    with connect(warehouse, read_only=True) as conn:
        columns, rows = run_query(conn, sql)
    name = Path(args.name).stem
    if args.csv is not None:
        target = Path(args.csv or f"{name}.csv")
        write_csv(target, columns, rows)
        print(f"{len(rows)} rows written to {target}")
    if args.xlsx is not None:
        target = Path(args.xlsx or f"{name}.xlsx")
        write_xlsx(target, columns, rows, title=example_title(name))
        print(f"{len(rows)} rows written to {target}")
    if args.csv is None and args.xlsx is None:
        print(format_table(columns, rows, args.limit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
