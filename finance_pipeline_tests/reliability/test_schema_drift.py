"""Schema drift: every API adds unknown fields, drops optional ones, sends numbers as strings and
nulls where values were (FaultPlan.drift, honoured by each emulator) and, on top of that, sends
some values that cannot be parsed at all (a money amount typed the way people type it).

Two warehouses are synced over real HTTP from the same sandbox: A before the drift, B with it.
Raw keeps every payload exactly as it came over the wire; nothing is dropped; the models build;
the numbers that arrived as strings parse to the same values as before; the staging
`parse_errors` checks list exactly the values that could not be parsed (record and field); and
every row count still reconciles (raw -> staging -> marts).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from reliability_kit import (
    assert_raw_matches_truth,
    build_models,
    environment,
    live_env,
    live_resources,
    make_sandbox,
    raw_fingerprint,
    sync_all,
)

from finance_pipeline.checks import all_checks, run_check
from finance_pipeline.models import macro_sql
from finance_pipeline.sources.registry import SOURCE_NAMES
from finance_pipeline.warehouse.resource import WarehouseResource
from finance_sandbox.core import FaultPlan, Sandbox, SandboxRequest, SandboxResponse

pytestmark = pytest.mark.timeout(180)

# Unparsable values sent for every 9th record of one list per API: (staging table, field named
# in _parse_errors, the value).
GARBAGE = {
    "bitrix24": ("staging.bitrix24_invoices", "opportunity", "12 345,67 руб."),
    "salesman": ("staging.salesman_invoices", "summa", "н/д"),
    "adesk": ("staging.adesk_transactions", "amount", "1 234,50"),
    "apipay": ("staging.apipay_invoices", "amount", "5 000 ₸"),
}


def _garbage_target(source: str, request: SandboxRequest, node: dict[str, Any]) -> str | None:
    """The id of a record of the list GARBAGE names, if `node` is one."""
    path = request.path.rstrip("/")
    if source == "bitrix24" and "entityTypeId" in node and "opportunity" in node:
        return str(node["id"])
    if source == "salesman" and path.endswith("invoice/list") and "summa" in node:
        return str(node.get("id", node.get("crid")))
    if source == "adesk" and path.endswith("/v1/transactions") and "bankAccount" in node:
        return str(node["id"])
    if source == "apipay" and path.endswith("/invoices") and "items" in node:
        return str(node["id"])
    return None


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False)


@dataclass
class Outcome:
    sandbox: Sandbox
    before: Path
    after: Path
    received: dict[str, set[str]]  # source -> every JSON object received, canonical
    garbled: dict[str, set[str]]  # source -> ids given an unparsable value


@pytest.fixture(scope="module")
def outcome(canaries, module_dir: Path) -> Iterator[Outcome]:
    sandbox = make_sandbox()
    received: dict[str, set[str]] = defaultdict(set)
    garbled: dict[str, set[str]] = defaultdict(set)
    drifting = {"on": False}
    original = sandbox.handle

    def handle(source: str, request: SandboxRequest) -> SandboxResponse:
        answer = original(source, request)
        if not drifting["on"] or answer.status != 200:
            return answer
        payload = json.loads(answer.body)
        field = GARBAGE[source][1]
        for node in _walk(payload):
            record_id = _garbage_target(source, request, node)
            if record_id is not None and int(record_id) % 9 == 0:
                node[field] = GARBAGE[source][2]
                garbled[source].add(record_id)
        for node in _walk(payload):
            received[source].add(_canonical(node))
        return SandboxResponse.json(payload, headers=answer.headers)

    sandbox.handle = handle  # type: ignore[method-assign]
    before = module_dir / "before.duckdb"
    after = module_dir / "after.duckdb"
    with sandbox.serve() as servers:
        env = {**live_env(servers), "FINANCE_RATE_LIMIT_DIR": str(module_dir / "buckets")}
        with environment(env):
            resources = live_resources(env)
            sync_all(resources, WarehouseResource(path=str(before)))
            for source in SOURCE_NAMES:
                sandbox.set_faults(source, FaultPlan(drift=True))
            drifting["on"] = True
            sync_all(resources, WarehouseResource(path=str(after)))
    build_models(before)
    build_models(after)  # must not raise
    yield Outcome(sandbox, before, after, dict(received), dict(garbled))


def test_precondition_every_api_drifted_and_sent_garbage(outcome: Outcome) -> None:
    before, after = raw_fingerprint(outcome.before), raw_fingerprint(outcome.after)
    for source in SOURCE_NAMES:
        changed = sum(
            before[t][i][0] != h
            for t, rows in after.items() if t.startswith(source)
            for i, (h, _live) in rows.items()
        )
        assert changed > 0, f"{source}: drift changed no payload"
        assert len(outcome.garbled[source]) >= 3, source


def test_raw_keeps_every_payload_exactly_as_received(outcome: Outcome) -> None:
    with duckdb.connect(str(outcome.after), read_only=True) as conn:
        for source in SOURCE_NAMES:
            tables = [
                r[0] for r in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw' "
                    f"AND table_name LIKE '{source}\\_%' ESCAPE '\\' "
                    "AND table_name NOT LIKE '%\\_\\_history' ESCAPE '\\'"
                ).fetchall()
            ]
            assert tables
            for table in tables:
                for record_id, payload in conn.execute(
                    f"SELECT id, payload FROM raw.{table}"
                ).fetchall():
                    record = json.loads(payload)
                    # Keys starting with "_" are the pipeline's own annotations (e.g. the parent
                    # id a child was fetched under); everything else is the API's.
                    own = {k: v for k, v in record.items() if not k.startswith("_")}
                    assert _canonical(own) in outcome.received[source], (table, record_id)


def test_nothing_is_dropped(outcome: Outcome) -> None:
    assert_raw_matches_truth(outcome.after, outcome.sandbox.world)
    with duckdb.connect(str(outcome.after), read_only=True) as b, duckdb.connect(
        str(outcome.before), read_only=True
    ) as a:
        for table in [t for t in _staging_tables(a)]:
            count = f"SELECT count(*) FROM {table}"
            assert b.execute(count).fetchone() == a.execute(count).fetchone(), table


def _staging_tables(conn: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        f"staging.{r[0]}"
        for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'staging'"
        ).fetchall()
    ]


@pytest.mark.parametrize(
    ("table", "key", "column", "source"),
    [
        ("staging.bitrix24_invoices", "invoice_id", "amount", "bitrix24"),
        ("staging.bitrix24_invoice_product_rows", "row_id", "quantity", None),
        ("staging.salesman_invoices", "invoice_id", "amount", "salesman"),
        ("staging.salesman_invoice_details", "invoice_id", "vat_amount", None),
        ("staging.adesk_transactions", "transaction_id", "direction", None),
        ("staging.adesk_transactions", "transaction_id", "amount", "adesk"),
        ("staging.apipay_invoices", "invoice_id", "cart_items", None),
        ("staging.apipay_invoices", "invoice_id", "amount", "apipay"),
    ],
)
def test_numbers_sent_as_strings_parse_to_the_same_values(
    outcome: Outcome, table: str, key: str, column: str, source: str | None
) -> None:
    skip = outcome.garbled[source] if source else set()
    query = f"SELECT {key}, {column} FROM {table} ORDER BY {key}"
    with duckdb.connect(str(outcome.before), read_only=True) as a, duckdb.connect(
        str(outcome.after), read_only=True
    ) as b:
        before = {k: v for k, v in a.execute(query).fetchall() if k not in skip}
        after = {k: v for k, v in b.execute(query).fetchall() if k not in skip}
    assert after == before


def _check_results(path: Path) -> dict[tuple[str, str], Any]:
    with duckdb.connect(str(path)) as conn:
        for macros in macro_sql():
            conn.execute(macros)
        return {(c.table, c.name): (c, run_check(conn, c)) for c in all_checks()}


def test_parse_errors_checks_name_exactly_what_could_not_be_parsed(outcome: Outcome) -> None:
    results = _check_results(outcome.after)
    expected = {GARBAGE[s][0]: (GARBAGE[s][1], outcome.garbled[s]) for s in SOURCE_NAMES}
    parse_checks = {t: r for (t, name), (_c, r) in results.items() if name == "parse_errors"}
    assert len(parse_checks) > 15
    with duckdb.connect(str(outcome.after), read_only=True) as conn:
        for table, result in parse_checks.items():
            if table not in expected:
                assert result.passed, f"{table}: drift alone must parse ({result.metadata})"
                continue
            field, ids = expected[table]
            assert not result.passed and result.severity.value == "WARN"
            assert result.metadata["failing_rows"].value == len(ids), table
            key = next(iter(conn.execute(f"SELECT * FROM {table} LIMIT 0").description))[0]
            listed = dict(
                conn.execute(
                    f"SELECT {key}, _parse_errors FROM {table} WHERE len(_parse_errors) > 0"
                ).fetchall()
            )
            assert set(listed) == ids and all(v == [field] for v in listed.values()), table


def test_models_build_and_every_count_reconciles(outcome: Outcome) -> None:
    after = _check_results(outcome.after)
    for (table, name), (check, result) in after.items():
        reconciles = name in ("rows_match_raw", "one_row_per_movement") or "reconcile" in name
        if reconciles or check.blocking:
            assert result.passed, (table, name, result.metadata)
        # Staging stays sound (keys, references); warnings (parse_errors, details that no
        # longer agree with the list) and marts checks may report what the bad values lead to
        # (an amount that is NULL, a description that no longer names the invoice it pays).
        if table.startswith("staging.") and not check.warn_only:
            assert result.passed, (table, name, result.metadata)
