"""Regenerate the README's "Asking questions" section from examples/*.sql and a warehouse.

    .venv/bin/python scripts/render_readme_examples.py data/sandbox.duckdb

Values are printed as `python -m finance_pipeline.ask NAME` prints them (finance_pipeline.ask:
str() of each value, so money shows exactly as DuckDB holds it, never cut at 80 columns).
"""

import pathlib
import sys

import duckdb

from finance_pipeline.ask import format_table

db = sys.argv[1]
conn = duckdb.connect(db, read_only=True)
INTRO = """Every query below is a file in [`examples/`](examples/); the tests run each one against a
warehouse built from the sandbox, and check this README still shows it verbatim. Every "today" in
them is the warehouse's as-of date (`marts.data_as_of`: the newest date any source has data for),
never the wall clock. No `duckdb` command is needed; after `make demo`:

```bash
make ask                                   # the questions there are
make ask Q=who_owes_us_what                # print one, every column at full width
make ask Q=who_owes_us_what ARGS=--xlsx    # write who_owes_us_what.xlsx (money as numbers)
make ask Q=who_owes_us_what ARGS=--csv     # write who_owes_us_what.csv (exact decimals)
```

`make ask Q=NAME` is `.venv/bin/python -m finance_pipeline.ask NAME`; `--limit N` prints the first
N rows, `--warehouse PATH` reads another DuckDB file. For your own SQL, from Python:
`.venv/bin/python -c "import duckdb; print(duckdb.connect('data/sandbox.duckdb', read_only=True).sql('SELECT ...').fetchall())"`.
"""
order = ["who_owes_us_what","cash_flow_by_month_and_category","top_customers_by_revenue","unpaid_invoices_by_counterparty","paid_but_never_recorded","money_without_an_invoice","account_balances_today"]
show_output = {"who_owes_us_what": 12, "cash_flow_by_month_and_category": 14, "paid_but_never_recorded": 6, "account_balances_today": 8}
parts = [INTRO]
for name in order:
    sql = pathlib.Path(f"examples/{name}.sql").read_text().rstrip()
    title = sql.splitlines()[0].lstrip("- ").split(":")[0].split("?")[0]
    parts.append(f"### {title}\n\n```sql\n{sql}\n```\n")
    if name in show_output:
        n = show_output[name]
        rows = conn.sql(sql.rstrip(';')).fetchall()
        cols = conn.sql(sql.rstrip(';')).columns
        txt = format_table(cols, rows, n)
        parts.append(
            f"On the sandbox, after `make demo`, `make ask Q={name} ARGS=\"--limit {n}\"` prints:"
            f"\n\n```text\n{txt}\n```\n"
        )
p = pathlib.Path("README.md")
s = p.read_text()
start = s.index("## Asking questions")
end = s.index("## Operating it")
s = s[:start] + "## Asking questions\n\n" + "\n".join(parts) + "\n" + s[end:]
p.write_text(s)
