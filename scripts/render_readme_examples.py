"""Regenerate the README's "Asking questions" section from examples/*.sql and a warehouse.

    .venv/bin/python scripts/render_readme_examples.py data/sandbox.duckdb

Values are printed with str(), so money shows exactly as DuckDB holds it (no float rounding).
"""

import pathlib
import sys

import duckdb

db = sys.argv[1]
conn = duckdb.connect(db, read_only=True)
order = ["who_owes_us_what","cash_flow_by_month_and_category","top_customers_by_revenue","unpaid_invoices_by_counterparty","paid_but_never_recorded","money_without_an_invoice","account_balances_today"]
show_output = {"who_owes_us_what": 12, "cash_flow_by_month_and_category": 14, "paid_but_never_recorded": 6, "account_balances_today": 8}
parts = ["Every query below is a file in [`examples/`](examples/); the tests run each one against a\nwarehouse built from the sandbox, and check this README still shows it verbatim. Open the\nwarehouse with the `duckdb` CLI (`duckdb data/sandbox.duckdb`) or from Python\n(`duckdb.connect('data/sandbox.duckdb', read_only=True).sql(open('examples/who_owes_us_what.sql').read()).show()`).\n"]
for name in order:
    sql = pathlib.Path(f"examples/{name}.sql").read_text().rstrip()
    title = sql.splitlines()[0].lstrip("- ").split(":")[0].split("?")[0]
    parts.append(f"### {title}\n\n```sql\n{sql}\n```\n")
    if name in show_output:
        n = show_output[name]
        total = conn.sql(f"SELECT count(*) FROM ({sql.rstrip(chr(59))})").fetchall()[0][0]
        rel = conn.sql(sql.rstrip(';')).limit(n)
        cols = rel.columns
        rows = [["" if v is None else str(v) for v in r] for r in rel.fetchall()]
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]

        def fmt(vals: list[str], widths: list[int] = widths) -> str:
            return "  ".join(v.ljust(w) for v, w in zip(vals, widths, strict=True)).rstrip()

        txt = "\n".join([fmt(cols), fmt(["-" * w for w in widths]), *map(fmt, rows)])
        more = f"\n({total} rows in all; first {n} shown)" if total > n else ""
        parts.append(f"On the sandbox (`make demo`) it prints:\n\n```text\n{txt}{more}\n```\n")
p = pathlib.Path("README.md")
s = p.read_text()
start = s.index("## Asking questions")
end = s.index("## Operating it")
s = s[:start] + "## Asking questions\n\n" + "\n".join(parts) + "\n" + s[end:]
p.write_text(s)
