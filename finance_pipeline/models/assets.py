"""The thin Dagster wrapper around every SQL model."""

# No `from __future__ import annotations`: Dagster reads the decorated functions' annotations
# (resources, context) as classes, not strings.

import time
import warnings
from typing import Any

import dagster as dg

from finance_pipeline.checks import SqlCheck, all_checks, check_spec, run_check
from finance_pipeline.models import (
    AS_OF_MODEL,
    SqlModel,
    discover_models,
    in_build_order,
    macro_sql,
)
from finance_pipeline.models.extras import extra_metadata
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


def build_all_models(conn: Any) -> list[str]:
    """Build every model in dependency order (tests, benchmarks, the CLI); returns table names."""
    built = []
    for model in in_build_order(discover_models()):
        build_model(conn, model)
        built.append(model.table)
    return built


def model_key(model: SqlModel) -> dg.AssetKey:
    return dg.AssetKey([model.layer, model.name])


def declared_schema(model: SqlModel) -> dg.TableSchema:
    """The columns as the model's contract declares them: name, type and meaning."""
    return dg.TableSchema(
        columns=[dg.TableColumn(c.name, c.type, description=c.meaning) for c in model.columns]
    )


def built_schema(conn: Any, model: SqlModel) -> dg.TableSchema:
    """The built table's columns and types, each with its meaning from the contract."""
    meanings = {c.name: c.meaning for c in model.columns}
    layer, name = model.table.split(".")
    columns = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [layer, name],
    ).fetchall()
    return dg.TableSchema(
        columns=[
            dg.TableColumn(col, dtype, description=meanings.get(col) or "(not in the contract)")
            for col, dtype in columns
        ]
    )


def definition_metadata(model: SqlModel) -> dict[str, Any]:
    """What the UI shows before any run: the table, its columns and meanings, the SQL file."""
    with warnings.catch_warnings():
        # Code references are marked beta but are how the UI links an asset to its source file;
        # the warning would only be noise in every command's output.
        warnings.simplefilter("ignore", dg.BetaWarning)
        code = dg.CodeReferencesMetadataValue(
            code_references=[
                dg.LocalFileCodeReference(
                    file_path=str(model.path), line_number=1, label=f"{model.table} (SQL)"
                )
            ]
        )
    return {
        "dagster/table_name": model.table,
        "dagster/column_schema": declared_schema(model),
        "sql_file": dg.MetadataValue.path(model.relative_path),
        "dagster/code_references": code,
    }


def as_of_metadata(conn: Any) -> dict[str, Any]:
    """The warehouse's as-of date (marts.data_as_of), shown on every mart."""
    layer, name = AS_OF_MODEL
    try:
        row = conn.execute(
            f"SELECT max(as_of_date), max(days_behind_today) FILTER (WHERE newest_data_date = "
            f"as_of_date) FROM {layer}.{name}"
        ).fetchone()
    except Exception:  # not built yet (a partial first run): no date to show
        return {}
    if row is None or row[0] is None:
        return {}
    return {
        "as_of_date": str(row[0]),
        "as_of_days_behind_today": int(row[1]) if row[1] is not None else None,
    }


def sql_models_asset() -> dg.AssetsDefinition:
    """Every SQL model as one subsettable multi-asset, with every SQL check as its check spec.

    Each model is its own asset in the graph (own lineage, metadata, column schema, checks);
    a run builds the selected ones in one step process, in dependency order, on one connection.
    Checks run as soon as the tables they read are built; a failing blocking check stops the
    models downstream of its table (they keep their previous contents).
    """
    models = in_build_order(discover_models())
    checks = all_checks()
    specs = [
        dg.AssetSpec(
            key=model_key(model),
            group_name=model.layer,
            description=model.description,
            deps=[dg.AssetKey([layer, name]) for layer, name in model.upstream],
            kinds={"duckdb", "sql"},
            automation_condition=MODEL_AUTOMATION,
            tags={"layer": model.layer},
            metadata=definition_metadata(model),
            skippable=True,
        )
        for model in models
    ]

    @dg.multi_asset(
        name="sql_models",
        specs=specs,
        check_specs=[check_spec(c) for c in checks],
        can_subset=True,
        op_tags={"layer": "models"},
        # One models build at a time across runs (deploy/dagster.local.yaml: pool limit 1):
        # it rewrites many tables in the single-writer DuckDB file.
        pool="duckdb_writer",
    )
    def _build(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        selected = context.selected_asset_keys
        selected_checks = context.selected_asset_check_keys
        pending = [c for c in checks if dg.AssetCheckKey(c.asset_key, c.name) in selected_checks]
        built: set[dg.AssetKey] = set()
        stopped: dict[dg.AssetKey, str] = {}

        def ready(check: SqlCheck) -> bool:
            return check.asset_key in built and all(
                t in built or t not in selected for t in check.other_tables
            )

        with warehouse.connection() as conn:
            for model in models:
                key = model_key(model)
                if key not in selected:
                    continue
                upstream_stopped = [
                    "/".join(k.path) for k in stopped if k.path in ([u[0], u[1]] for u in model.upstream)
                ]
                if upstream_stopped:
                    stopped[key] = f"not rebuilt because {', '.join(upstream_stopped)} failed"
                    continue
                started = time.monotonic()
                try:
                    build_model(conn, model)
                except Exception as exc:
                    stopped[key] = f"build failed: {exc}"
                    context.log.error(f"{model.table} failed to build; it keeps its previous contents: {exc}")
                    continue
                metadata = table_metadata(conn, model.table)
                metadata["dagster/column_schema"] = built_schema(conn, model)
                metadata["dagster/table_name"] = model.table
                if model.layer == "marts":
                    metadata.update(
                        {k: v for k, v in as_of_metadata(conn).items() if v is not None}
                    )
                metadata.update(extra_metadata(conn, model.table))
                metadata["seconds"] = round(time.monotonic() - started, 3)
                built.add(key)
                yield dg.MaterializeResult(asset_key=key, metadata=metadata)
                for check in [c for c in pending if ready(c)]:
                    pending.remove(check)
                    result = run_check(conn, check)
                    yield result
                    if check.blocking and not result.passed:
                        stopped[check.asset_key] = f"blocking check {check.name} failed"
            for check in pending:
                if check.asset_key in built:
                    yield run_check(conn, check)
        if stopped:
            lines = "\n".join(f"- {'/'.join(k.path)}: {why}" for k, why in stopped.items())
            raise dg.Failure(description=f"{len(stopped)} model(s) not rebuilt:\n{lines}")

    return _build
