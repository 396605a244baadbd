"""Metadata people want to see on a table: row count, columns (as a table schema), a preview."""

from __future__ import annotations

from typing import Any

import dagster as dg


def table_metadata(conn: Any, table: str, preview_rows: int = 10) -> dict[str, Any]:
    schema, name = table.split(".")
    columns = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, name],
    ).fetchall()
    row_count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    preview = conn.execute(f"SELECT * FROM {table} LIMIT {preview_rows}")
    preview_columns = [d[0] for d in preview.description]
    preview_rows_data = preview.fetchall()
    return {
        "dagster/row_count": int(row_count),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(col, dtype) for col, dtype in columns]
        ),
        "preview": dg.MetadataValue.md(markdown_table(preview_columns, preview_rows_data)),
    }


def markdown_table(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    """A markdown table with values as str(): DECIMAL money stays exact (no float round trip)."""
    if not rows:
        return "_empty_"

    def cell(value: Any) -> str:
        return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
