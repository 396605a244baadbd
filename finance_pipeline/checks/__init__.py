"""Asset checks written as SQL: a query that returns the offending rows; none means "passed".

Two kinds, reported the same way (how many rows fail, a sample of them, in the UI):
- generic checks declared in each model's contract, beside its SQL (`-- key:`, `-- not_null:`,
  `-- references:`; see models/__init__.py), built by `contract_checks`;
- rules and findings of an area, declared as data (`SqlCheck`) in checks/<area>.py.
They become check specs of the SQL models' asset (models/assets.py), which runs each one as soon
as the tables it reads are built.

Business findings (money that needs a person's look, not a broken pipeline) are WARN checks named
`finding_*`: their metadata says the amount at stake per currency, and their sample is sorted by
amount, biggest first (the check's SQL orders it).
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
    # A finding's money: the failing rows' column holding the amount at stake (summed per
    # currency in the metadata; the sample is sorted by it, biggest first) and their currency.
    amount_column: str | None = None
    currency_column: str = "currency"

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey(self.table.split("."))

    @property
    def other_tables(self) -> list[dg.AssetKey]:
        """Other tables the check reads: it must run after they are built, not just after its own."""
        found = {(m.group(1), m.group(2)) for m in _TABLE_REF.finditer(self.failing_rows_sql)}
        return [dg.AssetKey([layer, name]) for layer, name in sorted(found) if f"{layer}.{name}" != self.table]


def unique_not_null(table: str, column: str) -> SqlCheck:
    """`column` ("a" or a composite "a, b") is the table's key: never null, never repeated."""
    columns = [c.strip() for c in column.split(",")]
    nulls = " OR ".join(f"{c} IS NULL" for c in columns)
    return SqlCheck(
        table=table,
        name=f"{'_'.join(columns)}_unique_not_null",
        description=f"{', '.join(columns)} is the primary key of {table}: never null, never repeated.",
        failing_rows_sql=f"""
            SELECT {", ".join(columns)}, count(*) AS copies FROM {table}
            GROUP BY {", ".join(columns)} HAVING {nulls} OR count(*) > 1""",
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


def staging_checks(table: str, key: str, *, one_row_per_raw_record: bool = True) -> list[SqlCheck]:
    """What every staging table promises: a key, nothing unparsed unnoticed, nothing dropped.

    "Nothing dropped" (`rows_match_raw`) compares with the raw table of the same name; a staging
    table derived from another one (one row per position inside a raw record, e.g.
    staging.salesman_deal_lines) has no such namesake (`one_row_per_raw_record=False`).
    """
    raw = "raw." + table.split(".", 1)[1]
    checks = [
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
    ]
    if not one_row_per_raw_record:
        return checks
    return [
        *checks,
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


def not_null(table: str, column: str) -> SqlCheck:
    return SqlCheck(
        table=table,
        name=f"{column}_not_null",
        description=f"{table}.{column} is never null.",
        failing_rows_sql=f"SELECT count(*) AS null_rows FROM {table} WHERE {column} IS NULL HAVING count(*) > 0",
    )


def contract_checks() -> list[SqlCheck]:
    """The generic checks every model's contract declares beside its SQL.

    `-- key:` is unique and never null (blocking: a doubled key would double money downstream);
    on a staging table it also means nothing unparsed goes unnoticed and, when the table reads the
    raw table of its own name, no raw row is dropped (`staging_checks`). `-- not_null:` and `-- references:` are checked as written.
    """
    from finance_pipeline.models import discover_models

    checks: list[SqlCheck] = []
    for model in discover_models():
        if model.key:
            if model.layer == "staging":
                reads_its_raw_table = ("raw", model.name) in model.upstream
                checks.extend(
                    staging_checks(
                        model.table, model.key, one_row_per_raw_record=reads_its_raw_table
                    )
                )
            else:
                checks.append(unique_not_null(model.table, model.key))
        checks.extend(not_null(model.table, column) for column in model.not_null)
        checks.extend(
            foreign_key(model.table, ref.column, ref.table, ref.ref_column)
            for ref in model.references
        )
    return checks


def check_spec(spec: SqlCheck) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name=spec.name,
        asset=spec.asset_key,
        description=spec.description,
        blocking=spec.blocking,
        additional_deps=spec.other_tables,
    )


def finding(
    table: str, name: str, description: str, failing_rows_sql: str, amount_column: str = "amount"
) -> SqlCheck:
    """A business finding: money that needs a person's look, reported as WARN (not a failure)."""
    return SqlCheck(
        table=table,
        name=f"finding_{name}",
        description=f"Finding (a warning, not a pipeline failure): {description}",
        failing_rows_sql=failing_rows_sql,
        warn_only=True,
        amount_column=amount_column,
    )


def _amounts_at_stake(conn: Any, spec: SqlCheck) -> dict[str, object]:
    """Per currency: how many rows and how much money; exact in a table, as floats to plot."""
    rows = conn.execute(
        f"SELECT {spec.currency_column} AS currency, count(*) AS rows, "
        f"sum({spec.amount_column}) AS amount FROM ({spec.failing_rows_sql}) AS failing "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    metadata: dict[str, object] = {
        "amount_at_stake": dg.MetadataValue.md(
            markdown_table(["currency", "rows", "amount at stake"], rows)
        )
    }
    for currency, _, amount in rows:
        # Floats only so the UI can plot the trend across runs; the table above is exact.
        metadata[f"amount_at_stake_{currency}"] = dg.MetadataValue.float(float(amount or 0))
    return metadata


def run_check(conn: Any, spec: SqlCheck) -> dg.AssetCheckResult:
    """Run one check on an open connection and say what failed, with a sample."""
    failing = conn.execute(f"SELECT count(*) FROM ({spec.failing_rows_sql}) AS failing").fetchone()[0]
    metadata: dict[str, object] = {"failing_rows": int(failing)}
    if failing:
        order = f" ORDER BY {spec.amount_column} DESC NULLS LAST" if spec.amount_column else ""
        sample = conn.execute(f"SELECT * FROM ({spec.failing_rows_sql}) AS failing{order} LIMIT 10")
        columns = [d[0] for d in sample.description]
        title = "sample (biggest amounts first)" if spec.amount_column else "sample"
        metadata[title] = dg.MetadataValue.md(markdown_table(columns, sample.fetchall()))
        if spec.amount_column:
            metadata.update(_amounts_at_stake(conn, spec))
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

    specs: list[SqlCheck] = contract_checks()
    for module in pkgutil.iter_modules(__path__):
        mod = importlib.import_module(f"{__name__}.{module.name}")
        specs.extend(getattr(mod, "CHECKS", []))
    return specs
