"""Asset checks written as SQL: a query that returns the offending rows; none means "passed".

Checks are declared as data (`SqlCheck`) next to the area they guard (checks/<area>.py). They
become check specs of the SQL models' asset (models/assets.py), which runs each one as soon as
the tables it reads are built, so every check reports the same way: how many rows fail, and a
sample of them, in the UI.
"""

# No `from __future__ import annotations`: Dagster reads the decorated functions' annotations
# (resources, context) as classes, not strings.

import re
from dataclasses import dataclass
from typing import Any

import dagster as dg

from finance_pipeline.warehouse.metadata import markdown_table

_TABLE_REF = re.compile(r"\b(raw|staging|marts)\.([a-z_][a-z0-9_]*)\b")


@dataclass(frozen=True)
class SqlCheck:
    table: str  # "<layer>.<name>": the asset the check is attached to
    name: str
    description: str
    failing_rows_sql: str  # SELECT ... returning the rows that violate the rule
    blocking: bool = False  # a blocking check stops downstream models from building
    warn_only: bool = False  # report as WARN instead of ERROR

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey(self.table.split("."))

    @property
    def other_tables(self) -> list[dg.AssetKey]:
        """Other tables the check reads: it must run after they are built, not just after its own."""
        found = {(m.group(1), m.group(2)) for m in _TABLE_REF.finditer(self.failing_rows_sql)}
        return [dg.AssetKey([layer, name]) for layer, name in sorted(found) if f"{layer}.{name}" != self.table]


def unique_not_null(table: str, column: str) -> SqlCheck:
    return SqlCheck(
        table=table,
        name=f"{column}_unique_not_null",
        description=f"{column} is the primary key of {table}: never null, never repeated.",
        failing_rows_sql=f"""
            SELECT {column}, count(*) AS copies FROM {table}
            GROUP BY {column} HAVING {column} IS NULL OR count(*) > 1""",
        blocking=True,
    )


def foreign_key(table: str, column: str, ref_table: str, ref_column: str) -> SqlCheck:
    return SqlCheck(
        table=table,
        name=f"{column}_references_{ref_table.split('.')[-1]}",
        description=f"Every non-null {table}.{column} exists in {ref_table}.{ref_column}.",
        failing_rows_sql=f"""
            SELECT t.{column}, count(*) AS rows FROM {table} t
            WHERE t.{column} IS NOT NULL
              AND t.{column} NOT IN (SELECT {ref_column} FROM {ref_table} WHERE {ref_column} IS NOT NULL)
            GROUP BY ALL""",
    )


def staging_checks(table: str, key: str) -> list[SqlCheck]:
    """What every staging table promises: a key, nothing unparsed unnoticed, nothing dropped."""
    raw = "raw." + table.split(".", 1)[1]
    return [
        unique_not_null(table, key),
        SqlCheck(
            table=table,
            name="parse_errors",
            description=(
                f"Rows of {table} with a field present in the raw payload that could not be "
                "parsed (listed in _parse_errors; the typed value is NULL)."
            ),
            failing_rows_sql=f"SELECT {key}, _parse_errors FROM {table} WHERE len(_parse_errors) > 0",
            warn_only=True,
        ),
        SqlCheck(
            table=table,
            name="rows_match_raw",
            description=f"{table} has exactly one row per live record of {raw}.",
            failing_rows_sql=f"""
                SELECT raw_rows, staging_rows FROM (
                    SELECT
                        (SELECT count(*) FROM {raw} WHERE deleted_at IS NULL) AS raw_rows,
                        (SELECT count(*) FROM {table}) AS staging_rows
                ) WHERE raw_rows <> staging_rows""",
        ),
    ]


def staging_checks_for(keys: dict[str, str]) -> list[SqlCheck]:
    """staging_checks of every {staging table: key column}."""
    return [check for table, key in keys.items() for check in staging_checks(table, key)]


def check_spec(spec: SqlCheck) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name=spec.name,
        asset=spec.asset_key,
        description=spec.description,
        blocking=spec.blocking,
        additional_deps=spec.other_tables,
    )


def run_check(conn: Any, spec: SqlCheck) -> dg.AssetCheckResult:
    """Run one check on an open connection and say what failed, with a sample."""
    failing = conn.execute(f"SELECT count(*) FROM ({spec.failing_rows_sql}) AS failing").fetchone()[0]
    metadata: dict[str, object] = {"failing_rows": int(failing)}
    if failing:
        sample = conn.execute(f"{spec.failing_rows_sql} LIMIT 10")
        columns = [d[0] for d in sample.description]
        metadata["sample"] = dg.MetadataValue.md(markdown_table(columns, sample.fetchall()))
    severity = dg.AssetCheckSeverity.WARN if spec.warn_only else dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckResult(
        asset_key=spec.asset_key,
        check_name=spec.name,
        passed=failing == 0,
        severity=severity,
        metadata=metadata,
    )


def all_checks() -> list[SqlCheck]:
    """Every check of the project, gathered from the checks/<area>.py modules."""
    import importlib
    import pkgutil

    specs: list[SqlCheck] = []
    for module in pkgutil.iter_modules(__path__):
        mod = importlib.import_module(f"{__name__}.{module.name}")
        specs.extend(getattr(mod, "CHECKS", []))
    return specs
