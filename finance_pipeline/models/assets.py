"""The thin Dagster wrapper around every SQL model."""

# No `from __future__ import annotations`: Dagster reads the decorated functions' annotations
# (resources, context) as classes, not strings.

import time
from typing import Any

import dagster as dg

from finance_pipeline.checks import SqlCheck, all_checks, check_spec, run_check
from finance_pipeline.models import SqlModel, discover_models, in_build_order, macro_sql
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
            metadata={"sql_file": str(model.path.relative_to(model.path.parents[2]))},
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
