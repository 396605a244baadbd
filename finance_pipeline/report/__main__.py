"""`python -m finance_pipeline.report [--open]`: (re)build the report from the warehouse, print its path."""

from __future__ import annotations

import argparse
import sys
import webbrowser

from finance_pipeline.config import load_settings
from finance_pipeline.report import report_path, write_report
from finance_pipeline.warehouse.connection import connect


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m finance_pipeline.report", description=__doc__)
    parser.add_argument("--open", action="store_true", help="open it in the default browser")
    args = parser.parse_args(argv)
    warehouse = load_settings().warehouse_file
    if not str(warehouse).startswith("md:") and not warehouse.exists():
        print(f"No warehouse at {warehouse} yet: run `make demo` first.")
        return 1
    out = report_path(warehouse).resolve()
    with connect(str(warehouse), read_only=True) as conn:
        write_report(conn, out)
    print(f"Finance report: {out}")
    print(f"Open it in a browser: file://{out}")
    if args.open:
        webbrowser.open(out.as_uri())
    return 0


if __name__ == "__main__":
    sys.exit(main())
