"""`python -m finance_pipeline.summary`: what landed in the warehouse, table by table."""

from __future__ import annotations

import sys

from finance_pipeline.config import load_settings
from finance_pipeline.warehouse.connection import connect


def summarize(path: str) -> str:
    lines = [f"Warehouse: {path}", ""]
    with connect(path, read_only=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('raw', 'staging', 'marts') AND table_name NOT LIKE '%\\_\\_history' ESCAPE '\\' "
            "AND table_name NOT LIKE '\\_%' ESCAPE '\\' ORDER BY 1, 2"
        ).fetchall()
        if not tables:
            return f"Warehouse {path} has no tables yet: run `make demo`."
        width = max(len(f"{s}.{t}") for s, t in tables)
        for schema, table in tables:
            name = f"{schema}.{table}"
            if schema == "raw":
                live, deleted = conn.execute(
                    f"SELECT count(*) FILTER (WHERE deleted_at IS NULL), "
                    f"count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM {name}"
                ).fetchone()
                extra = f"  ({deleted} marked deleted)" if deleted else ""
                lines.append(f"  {name:<{width}}  {live:>9,} rows{extra}")
            else:
                count = conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
                lines.append(f"  {name:<{width}}  {count:>9,} rows")
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
