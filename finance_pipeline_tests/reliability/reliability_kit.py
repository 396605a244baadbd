"""Shared tools of the reliability suite (imported by its test modules; not a test file).

Every test here runs the pipeline the way a user runs it in live mode: environment variables ->
settings -> the sources' resources (secrets as `dg.EnvVar`s resolved at run time), talking real
HTTP to the sandbox servers on loopback. The helpers below set that up, compare a warehouse
with the sandbox's truth, fingerprint every table, and search artifacts for secrets.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import dagster as dg
import duckdb
import pytest

from finance_pipeline.config import load_settings
from finance_pipeline.sources.extraction import EntitySpec, ExtractConfig, run_extraction
from finance_pipeline.sources.registry import BY_NAME, SOURCE_NAMES
from finance_pipeline.sources.resource_base import SourceResource
from finance_pipeline.warehouse.resource import WarehouseResource
from finance_sandbox.apipay_catalog import APIPAY_UNITS
from finance_sandbox.bitrix24.portal import ALL_STATUSES
from finance_sandbox.core import (
    SANDBOX_CREDENTIALS,
    Sandbox,
    SandboxServers,
    SandboxSettings,
    ServerRateLimit,
)
from finance_sandbox.world import World, WorldSize
from finance_sandbox.world.bitrix24_portal import contacts, legacy_invoices

# Recognisable credentials ("canaries"): the sandbox is made to accept them instead of its
# defaults, so any byte of them found in a log, the event log or the warehouse is a leak.
# Characters that change under URL encoding are included where the API allows them, so the
# encoded forms are searched for too.
CANARY_CREDENTIALS: dict[str, dict[str, str]] = {
    "bitrix24": {"user_id": "7", "webhook_key": "canaryBitrixHook_5f1e0c2a9d"},
    "salesman": {
        "login": SANDBOX_CREDENTIALS["salesman"]["login"],
        "api_key": "canary-salesman/Key+5f1e0c2a9d",
    },
    "adesk": {"api_token": "canaryAdesk+Token/5f1e=0c2a9d"},
    "apipay": {"api_key": "canary-apipay-Key_5f1e0c2a9d"},
}
CANARY_SECRETS: dict[str, str] = {
    "bitrix24": CANARY_CREDENTIALS["bitrix24"]["webhook_key"],
    "salesman": CANARY_CREDENTIALS["salesman"]["api_key"],
    "adesk": CANARY_CREDENTIALS["adesk"]["api_token"],
    "apipay": CANARY_CREDENTIALS["apipay"]["api_key"],
}

# Fast limits on both sides: these tests are about faults, not about waiting for a bucket.
FAST_LIMIT = ServerRateLimit(rate=1000, burst=1000)
FAST_CLIENT_ENV = {
    f"{source.upper()}_{name}": value
    for source in SOURCE_NAMES
    for name, value in (("RATE_LIMIT", "1000"), ("RATE_BURST", "500"), ("RATE_START", "1000"))
}
# Retries that do not sleep for real: the point is how many and what happens after the last.
FAST_RETRIES: dict[str, Any] = {"retry_base_delay": 0.005, "retry_max_delay": 0.02}

# Raw tables whose live ids are exactly a collection of the world.
_WORLD_COLLECTIONS = {
    "bitrix24_invoices": "bitrix_invoices",
    "bitrix24_companies": "bitrix_companies",
    "bitrix24_requisites": "bitrix_requisites",
    "bitrix24_products": "bitrix_products",
    "salesman_invoices": "salesman_invoices",
    "salesman_invoice_details": "salesman_invoices",
    "adesk_transactions": "adesk_transactions",
    "adesk_transaction_categories": "categories",
    "adesk_projects": "projects",
    "adesk_project_categories": "project_categories",
    "adesk_bank_accounts": "bank_accounts",
    "adesk_legal_entities": "legal_entities",
    "adesk_contractors": "adesk_contractors",
    "adesk_contractor_requisites": "adesk_contractor_requisites",
    "adesk_commitments": "adesk_commitments",
    "adesk_products": "adesk_products",
    "adesk_units": "units",
    "adesk_tags": "tags",
    "apipay_invoices": "apipay_invoices",
    "apipay_refunds": "apipay_refunds",
}

# Bookkeeping columns a successful re-run may move although nothing changed upstream ("last
# seen by run X at T"). Everything else is content.
BOOKKEEPING_COLUMNS = frozenset({"extracted_at", "run_id", "last_sync_at", "last_run_id"})


def entity_specs(source: str) -> list[EntitySpec]:
    return list(BY_NAME[source].entities)


def all_tables() -> dict[str, list[str]]:
    """Raw table names per source."""
    return {source: [spec.table for spec in entity_specs(source)] for source in SOURCE_NAMES}


def truth_ids(world: World) -> dict[str, set[str]]:
    """The live ids every raw table must hold, straight from the sandbox's world."""
    out = {
        table: {str(i) for i in getattr(world, attr)}
        for table, attr in _WORLD_COLLECTIONS.items()
    }
    out["bitrix24_invoice_product_rows"] = {
        str(row.id) for invoice in world.bitrix_invoices.values() for row in invoice.rows
    }
    # The portal around the invoices (issue 13): contacts and legacy invoices of the world, the
    # stage dictionaries, and one base price per catalog product (its id is the product's).
    out["bitrix24_contacts"] = {str(i) for i in contacts(world)}
    out["bitrix24_legacy_invoices"] = {str(i) for i in legacy_invoices(world)}
    out["bitrix24_stages"] = {str(stage.id) for stage in ALL_STATUSES}
    out["bitrix24_product_prices"] = {str(i) for i in world.bitrix_products}
    # ApiPay's catalog and units are ApiPay's own (ids of their own, a fixed list of units).
    out["apipay_catalog_items"] = {str(i) for i in world.apipay_nomenclature}
    out["apipay_units"] = {str(unit.id) for unit in APIPAY_UNITS}
    return out


# --- sandbox and environment -----------------------------------------------------------------


@contextlib.contextmanager
def canary_credentials() -> Iterator[None]:
    """Make sandboxes created inside this block accept (only) the canary credentials."""
    with pytest.MonkeyPatch.context() as mp:
        for source, creds in CANARY_CREDENTIALS.items():
            mp.setitem(SANDBOX_CREDENTIALS, source, dict(creds))
        yield


def make_sandbox(size: WorldSize | None = None, **settings: Any) -> Sandbox:
    box = Sandbox(SandboxSettings(size=size or WorldSize(), **settings))
    for source in SOURCE_NAMES:
        box.settings.rate_limits[source] = FAST_LIMIT
    return box


def live_env(servers: SandboxServers, warehouse: Path | str | None = None) -> dict[str, str]:
    """The variables a user sets to point live mode at these servers (credentials included)."""
    urls = servers.base_urls
    creds = SANDBOX_CREDENTIALS
    env = {
        "FINANCE_PIPELINE_MODE": "live",
        "BITRIX24_WEBHOOK_URL": urls["bitrix24"],
        "SALESMAN_BASE_URL": urls["salesman"],
        "SALESMAN_LOGIN": creds["salesman"]["login"],
        "SALESMAN_API_KEY": creds["salesman"]["api_key"],
        "ADESK_BASE_URL": urls["adesk"],
        "ADESK_API_TOKEN": creds["adesk"]["api_token"],
        "APIPAY_BASE_URL": urls["apipay"],
        "APIPAY_API_KEY": creds["apipay"]["api_key"],
        **FAST_CLIENT_ENV,
    }
    if warehouse is not None:
        env["FINANCE_WAREHOUSE"] = str(warehouse)
    return env


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        yield


def with_overrides(resource: SourceResource, **overrides: Any) -> SourceResource:
    """The same resource with some fields changed, EnvVars kept as EnvVars.

    (`model_copy(update=...)` is not enough: a Dagster run rebuilds the resource from the
    config it was constructed with.)
    """
    fields = {name: getattr(resource, name) for name in type(resource).model_fields}
    return type(resource)(**{**fields, **overrides})


def live_resources(env: dict[str, str], **overrides: Any) -> dict[str, SourceResource]:
    """Each source's resource as its declaration makes it in live mode, EnvVars resolved.

    The variables must be in os.environ (see `environment`), as they are for a Dagster run.
    """
    settings = load_settings(env)
    out = {}
    for source in SOURCE_NAMES:
        resource = BY_NAME[source].resource(settings)
        resource = with_overrides(resource, **FAST_RETRIES, **overrides)
        out[source] = resource.process_config_and_initialize()
    return out


def sync_source(
    resource: SourceResource,
    warehouse: WarehouseResource,
    source: str,
    *,
    full: bool = False,
    run_id: str = "reliability",
    entities: Iterable[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every entity of one source, in the order the source's asset runs them."""
    from finance_pipeline.sources.extraction import in_dependency_order

    wanted = set(entities) if entities is not None else None
    out = {}
    for spec in in_dependency_order(entity_specs(source)):
        if wanted is not None and spec.entity not in wanted:
            continue
        out[spec.table] = run_extraction(
            spec,
            resource=resource,
            warehouse=warehouse,
            config=ExtractConfig(full_refresh=full),
            run_id=run_id,
            log=lambda _message: None,
        )
    return out


def sync_all(
    resources: dict[str, SourceResource], warehouse: WarehouseResource, **kwargs: Any
) -> dict[str, dict[str, Any]]:
    out = {}
    for source in SOURCE_NAMES:
        out.update(sync_source(resources[source], warehouse, source, **kwargs))
    return out


def build_models(path: Path | str) -> None:
    from finance_pipeline.models.assets import build_all_models

    with duckdb.connect(str(path)) as conn:
        build_all_models(conn)


def pipeline_definitions(**resource_overrides: Any) -> dg.Definitions:
    """The project's Definitions (read from os.environ, as `dagster` loads them), with test
    retry timings on the source resources."""
    from finance_pipeline.definitions import build_definitions

    defs = build_definitions()
    resources = dict(defs.resources)
    for source in SOURCE_NAMES:
        resources[source] = with_overrides(
            resources[source], **FAST_RETRIES, **resource_overrides
        )
    return dg.Definitions(assets=defs.assets, jobs=defs.jobs, resources=resources)


# --- reading a warehouse ---------------------------------------------------------------------


def tables_in(conn: duckdb.DuckDBPyConnection) -> list[str]:
    rows = conn.execute(
        """SELECT table_schema || '.' || table_name FROM information_schema.tables
           WHERE table_catalog = current_database() AND table_type = 'BASE TABLE'
           ORDER BY 1"""
    ).fetchall()
    return [r[0] for r in rows]


def _columns(conn: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    rows = conn.execute(
        """SELECT table_schema || '.' || table_name, column_name FROM information_schema.columns
           WHERE table_catalog = current_database() ORDER BY table_schema, table_name,
           ordinal_position"""
    ).fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


def _fingerprints(
    conn: duckdb.DuckDBPyConnection, table: str, columns: list[str]
) -> tuple[tuple[int, str], tuple[int, str]]:
    """(rows, md5 of the sorted md5s of each row as JSON) over every column, and over the
    content columns only: equal iff the contents are equal, whatever the row order."""
    def packed(cols: list[str]) -> str:
        return "struct_pack(" + ", ".join(f'"{c}" := "{c}"' for c in cols) + ")"

    content = [c for c in columns if c not in BOOKKEEPING_COLUMNS]
    row = conn.execute(
        f"""SELECT count(*), coalesce(md5(string_agg(a, '' ORDER BY a)), ''),
                   coalesce(md5(string_agg(b, '' ORDER BY b)), '')
            FROM (SELECT md5(CAST(to_json({packed(columns)}) AS VARCHAR)) AS a,
                         md5(CAST(to_json({packed(content)}) AS VARCHAR)) AS b
                  FROM {table})"""
    ).fetchone()
    assert row is not None
    return (int(row[0]), str(row[1])), (int(row[0]), str(row[2]))


def checksums(path: Path | str, *, content_only: bool = False) -> dict[str, tuple[int, str]]:
    """A checksum of every table in the file (content_only: bookkeeping columns left out)."""
    full, content = both_checksums(path)
    return content if content_only else full


def both_checksums(
    path: Path | str,
) -> tuple[dict[str, tuple[int, str]], dict[str, tuple[int, str]]]:
    """Every table's checksum over all columns, and over its content columns."""
    full: dict[str, tuple[int, str]] = {}
    content: dict[str, tuple[int, str]] = {}
    with duckdb.connect(str(path), read_only=True) as conn:
        columns = _columns(conn)
        for table in tables_in(conn):
            full[table], content[table] = _fingerprints(conn, table, columns[table])
    return full, content


def sync_state(path: Path | str) -> dict[str, tuple[Any, ...]]:
    """entity -> (its cursor row, its last reconciliation row or None): the bookkeeping a
    failed or unproven read must leave as it was."""
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute("SELECT * FROM raw._sync_state ORDER BY entity").fetchall()
        has_reconciliation = conn.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'raw' AND table_name = '_reconciliation'"
        ).fetchone()[0]  # type: ignore[index]
        reconciled = (
            {r[0]: tuple(r) for r in conn.execute("SELECT * FROM raw._reconciliation").fetchall()}
            if has_reconciliation
            else {}
        )
    return {r[0]: (tuple(r), reconciled.get(r[0])) for r in rows}


def raw_fingerprint(path: Path | str) -> dict[str, dict[str, tuple[str, bool]]]:
    """table -> {id: (content_hash, live)} for every raw table in the file."""
    out: dict[str, dict[str, tuple[str, bool]]] = {}
    with duckdb.connect(str(path), read_only=True) as conn:
        for table in tables_in(conn):
            schema, name = table.split(".")
            if schema != "raw" or name.startswith("_") or name.endswith("__history"):
                continue
            rows = conn.execute(
                f"SELECT id, content_hash, deleted_at IS NULL FROM {table}"
            ).fetchall()
            out[name] = {r[0]: (r[1], bool(r[2])) for r in rows}
    return out


def live_ids(path: Path | str) -> dict[str, set[str]]:
    return {
        table: {i for i, (_h, live) in rows.items() if live}
        for table, rows in raw_fingerprint(path).items()
    }


def assert_raw_matches_truth(
    path: Path | str, world: World, tables: Iterable[str] | None = None
) -> None:
    """Every raw table (or the given ones) holds exactly the world's live records."""
    truth = truth_ids(world)
    present = live_ids(path)
    for table in tables if tables is not None else truth:
        assert table in present, f"raw.{table} is missing"
        missing = truth[table] - present[table]
        extra = present[table] - truth[table]
        assert not missing and not extra, (
            f"raw.{table}: {len(missing)} missing (e.g. {sorted(missing)[:5]}), "
            f"{len(extra)} extra (e.g. {sorted(extra)[:5]})"
        )


def history_rows(path: Path | str) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return {
            t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # type: ignore[index]
            for t in tables_in(conn)
            if t.endswith("__history")
        }


# --- Dagster results ---------------------------------------------------------------------------


def materialized_keys(result: Any) -> set[str]:
    return {
        event.asset_key.to_user_string()
        for event in result.get_asset_materialization_events()
    }


def step_failures(result: Any) -> dict[str, str]:
    """step key -> everything the failure says (error text and the Failure's description)."""
    out = {}
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        parts = [data.error.to_string() if data.error else ""]
        if data.user_failure_data is not None:
            parts.append(data.user_failure_data.description or "")
            parts.append(json.dumps(
                {k: str(v.value) for k, v in data.user_failure_data.metadata.items()}
            ))
        out[event.step_key] = "\n".join(parts)
    return out


# --- secrets -------------------------------------------------------------------------------------


def secret_forms(secret: str) -> set[str]:
    """A secret as it could appear: as is, URL-encoded (path, query, form) and in JSON."""
    return {
        secret, quote(secret, safe=""), quote_plus(secret), quote(secret),
        json.dumps(secret)[1:-1],
    }


def find_secrets(
    secrets: dict[str, str], *, texts: dict[str, str] | None = None, paths: Iterable[Path] = ()
) -> list[str]:
    """Where any form of any secret occurs: '<secret name> in <where>' for each hit."""
    needles = {
        form.encode(): name for name, secret in secrets.items() for form in secret_forms(secret)
    }
    hits = []
    for where, text in (texts or {}).items():
        data = text.encode("utf-8", "replace")
        hits += [f"{name} in {where}" for needle, name in needles.items() if needle in data]
    for root in paths:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for file in files:
            data = file.read_bytes()
            hits += [f"{name} in {file}" for needle, name in needles.items() if needle in data]
    return sorted(set(hits))


def subprocess_env(extra: dict[str, str]) -> dict[str, str]:
    """os.environ plus `extra`, for pipeline subprocesses (same venv, same interpreter)."""
    env = dict(os.environ)
    env.update(extra)
    return env
