"""The thin Dagster wrapper around every SQL model."""

# No `from __future__ import annotations`: Dagster reads the decorated functions' annotations
# (resources, context) as classes, not strings.

import time
from typing import Any

import dagster as dg

from finance_pipeline.models import SqlModel, discover_models, in_build_order, macro_sql
from finance_pipeline.warehouse.landing import raw_table_ddl
from finance_pipeline.warehouse.metadata import table_metadata
from finance_pipeline.warehouse.resource import WarehouseResource

# Models are rebuilt whenever what they read changes (a source-only run keeps marts fresh).
MODEL_AUTOMATION = dg.AutomationCondition.eager()


def build_model(conn: Any, model: SqlModel) -> None:
    """Replace the model's table in one transaction: readers never see a half-built table."""
    for layer, name in model.upstream:
        if layer == "raw":
            # A source that is not configured has no raw table yet; an empty one keeps the
            # models buildable (they then say "no data from that source", not crash).
            conn.execute(raw_table_ddl(name))
    for macros in macro_sql():
        conn.execute(macros)
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {model.layer}")
    body = model.sql.strip().rstrip(";")
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(f"CREATE OR REPLACE TABLE {model.table} AS\n{body}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def model_asset(model: SqlModel) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey([model.layer, model.name]),
        group_name=model.layer,
        description=model.description,
        deps=[dg.AssetKey([layer, name]) for layer, name in model.upstream],
        kinds={"duckdb", "sql"},
        automation_condition=MODEL_AUTOMATION,
        tags={"layer": model.layer},
        metadata={"sql_file": str(model.path.relative_to(model.path.parents[2]))},
    )
    def _build(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        started = time.monotonic()
        with warehouse.connection() as conn:
            build_model(conn, model)
            metadata = table_metadata(conn, model.table)
        metadata["seconds"] = round(time.monotonic() - started, 3)
        return dg.MaterializeResult(metadata=metadata)

    return _build


def build_all_models(conn: Any) -> list[str]:
    """Build every model in dependency order (tests, benchmarks, the CLI); returns table names."""
    built = []
    for model in in_build_order(discover_models()):
        build_model(conn, model)
        built.append(model.table)
    return built


def model_assets() -> list[dg.AssetsDefinition]:
    return [model_asset(m) for m in discover_models()]
