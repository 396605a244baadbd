"""Every model's contract (the comment header beside its SQL) says what the built table is.

The declared columns are the built table's columns, in order, with the same DuckDB types, each
with a meaning; the key and references it declares are asset checks; the UI gets the column
descriptions, the table name and the path of the SQL file.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb

from finance_pipeline.checks import all_checks
from finance_pipeline.models import discover_models, load_model
from finance_pipeline.models.assets import sql_models_asset


def _built_columns(wh: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    layer, name = table.split(".")
    return wh.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [layer, name],
    ).fetchall()


def test_declared_columns_are_the_built_columns_each_with_a_meaning(
    wh: duckdb.DuckDBPyConnection,
) -> None:
    problems: list[str] = []
    described = 0
    for model in discover_models():
        declared = [(c.name, c.type) for c in model.columns]
        built = _built_columns(wh, model.table)
        if declared != built:
            problems.append(f"{model.table}: declares {declared}\n  but the table has {built}")
        for column in model.columns:
            if column.meaning.strip():
                described += 1
            else:
                problems.append(f"{model.table}.{column.name} has no meaning")
    assert not problems, "\n".join(problems)
    total = sum(len(m.columns) for m in discover_models())
    assert described == total > 400
    print(f"{described} columns described across {len(discover_models())} models")


def test_the_ui_shows_every_column_description_the_table_name_and_the_sql_file() -> None:
    asset = sql_models_asset()
    empty: list[str] = []
    for key, spec in asset.specs_by_key.items():
        schema = spec.metadata["dagster/column_schema"]
        assert isinstance(schema, dg.TableSchema) and schema.columns, key
        empty += [f"{key.to_user_string()}.{c.name}" for c in schema.columns if not c.description]
        table = spec.metadata["dagster/table_name"]
        assert table == ".".join(key.path)
        sql_file = spec.metadata["sql_file"]
        assert Path(sql_file.path).name == f"{key.path[-1]}.sql"
        assert (Path(__file__).resolve().parents[2] / sql_file.path).exists()
    assert not empty, f"columns without a description in the UI: {empty}"


def test_keys_and_references_in_the_contract_are_checks() -> None:
    checks = {(c.table, c.name) for c in all_checks()}
    models = discover_models()
    assert all(m.key for m in models), [m.table for m in models if not m.key]
    # A staging table is one row per live raw record of its namesake (checked: rows_match_raw),
    # except a table of positions read out of another raw table's records.
    derived = [m.table for m in models if m.layer == "staging" and ("raw", m.name) not in m.upstream]
    assert derived == ["staging.bitrix24_legacy_invoice_lines", "staging.salesman_deal_lines"]
    for model in models:
        if model.layer == "staging":
            assert (model.table, "parse_errors") in checks
            if model.table not in derived:
                assert (model.table, "rows_match_raw") in checks
        key = "_".join(c.strip() for c in model.key.split(","))
        assert (model.table, f"{key}_unique_not_null") in checks
        for ref in model.references:
            name = f"{ref.column}_references_{ref.table.split('.')[-1]}"
            assert (model.table, name) in checks


def test_a_contract_is_parsed_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "marts" / "thing.sql"
    path.parent.mkdir()
    path.write_text(
        "-- description: A thing.\n"
        "-- key: thing_key\n"
        "-- not_null: amount, currency\n"
        "-- references: owner_key -> marts.counterparties.counterparty_key\n"
        "-- columns:\n"
        "--   thing_key  VARCHAR                   the key\n"
        "--   amount     DECIMAL(18,2)             money, exact\n"
        "--   parts      STRUCT(a INTEGER, b VARCHAR)[]  nested, with  two spaces inside\n"
        "--\n"
        "-- free text: not a column\n"
        "SELECT 1\n",
        encoding="utf-8",
    )
    model = load_model(path)
    assert model.key == "thing_key"
    assert model.not_null == ("amount", "currency")
    assert [(r.column, r.table, r.ref_column) for r in model.references] == [
        ("owner_key", "marts.counterparties", "counterparty_key")
    ]
    assert [(c.name, c.type, c.meaning) for c in model.columns] == [
        ("thing_key", "VARCHAR", "the key"),
        ("amount", "DECIMAL(18,2)", "money, exact"),
        ("parts", "STRUCT(a INTEGER, b VARCHAR)[]", "nested, with  two spaces inside"),
    ]
