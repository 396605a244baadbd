"""Persistent faults: an API that keeps failing, refuses the credentials (401), wants payment
(Adesk code 21) or no longer has one entity's method (404).

Each scenario runs the project's own `refresh_all` job (in-process executor, the Definitions
loaded from the environment exactly as `dagster` loads them) against a copy of a fully synced
and modelled warehouse. For every faulty source the step fails with a typed message that names
the source and the endpoint, every table it could have touched is byte-for-byte what it was
(checksums over every column of every row, before vs after), and the healthy sources' assets
still materialize. Run one source's own job instead, and the whole file stays byte-for-byte
identical.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from reliability_kit import (
    CANARY_SECRETS,
    all_tables,
    both_checksums,
    build_models,
    environment,
    find_secrets,
    live_env,
    live_resources,
    make_sandbox,
    materialized_keys,
    pipeline_definitions,
    step_failures,
    sync_all,
    sync_state,
)

from finance_pipeline.sources.registry import SOURCE_NAMES
from finance_pipeline.warehouse.resource import WarehouseResource
from finance_sandbox.core import FaultPlan, Sandbox, SandboxServers

pytestmark = pytest.mark.timeout(180)

# What each kind of fault must say (the typed error's kind), and how each source is made to
# show it. "gone" removes one entity's method: the rest of that source must still land.
KIND_TEXT = {
    "auth": "authentication failed",
    "down": "server error",
    "gone": "not found",
    "payment": "subscription or payment required",
}
GONE_ENTITY = {
    "bitrix24": "products",
    "salesman": "invoice_details",
    "adesk": "units",
    "apipay": "refunds",
}
# The endpoint the failure must name, per source and kind.
ENDPOINT = {
    ("bitrix24", "auth"): "batch",
    ("bitrix24", "down"): "batch",
    ("bitrix24", "gone"): "catalog.product.list",
    ("salesman", "auth"): "invoice/list",
    ("salesman", "down"): "invoice/list",
    ("salesman", "gone"): "invoice/info",
    ("adesk", "auth"): "/v1/",
    ("adesk", "down"): "/v1/",
    ("adesk", "gone"): "/v1/warehouse/units",
    ("adesk", "payment"): "/v1/",
    ("apipay", "auth"): "invoices",
    ("apipay", "down"): "invoices",
    ("apipay", "gone"): "refunds",
}
ATTEMPTS = 3


def apply_fault(sandbox: Sandbox, source: str, kind: str | None) -> None:
    """Make `source` answer with persistent fault `kind` (None: healthy again)."""
    bitrix = sandbox.emulators["bitrix24"]
    if source == "bitrix24":
        bitrix.methods = dict(BITRIX_METHODS[id(sandbox)])  # type: ignore[attr-defined]
    plan = FaultPlan()
    if kind == "auth":
        plan = FaultPlan(always={"/": 401})
    elif kind == "down":
        plan = FaultPlan(always={"/": 503})
    elif kind == "payment":
        plan = FaultPlan(always={"/": 21})
    elif kind == "gone" and source == "bitrix24":
        # Bitrix24 reads through `batch`: the methods are gone from the portal, so their
        # commands answer ERROR_METHOD_NOT_FOUND inside the batch, as Bitrix24 does. Products are
        # read with catalog.product.list and, on portals without it, crm.product.list: both go.
        for method in ("catalog.product.list", "crm.product.list"):
            del bitrix.methods[method]  # type: ignore[attr-defined]
    elif kind == "gone":
        path = {"salesman": "invoice/info", "adesk": "/v1/warehouse/units", "apipay": "/refunds"}
        plan = FaultPlan(always={path[source]: 404})
    sandbox.set_faults(source, plan)


BITRIX_METHODS: dict[int, dict[str, Any]] = {}


@dataclass
class World:
    sandbox: Sandbox
    servers: SandboxServers
    template: Path
    env: dict[str, str]
    checksums: tuple[dict[str, tuple[int, str]], dict[str, tuple[int, str]]]
    state: dict[str, tuple[Any, ...]]


@pytest.fixture(scope="module")
def world(canaries, module_dir: Path) -> Iterator[World]:
    sandbox = make_sandbox()
    bitrix = sandbox.emulators["bitrix24"]
    BITRIX_METHODS[id(sandbox)] = dict(bitrix.methods)  # type: ignore[attr-defined]
    template = module_dir / "template.duckdb"
    with sandbox.serve() as servers:
        env = {**live_env(servers), "FINANCE_RATE_LIMIT_DIR": str(module_dir / "buckets")}
        with environment(env):
            sync_all(live_resources(env), WarehouseResource(path=str(template)))
        build_models(template)
        yield World(sandbox, servers, template, env, both_checksums(template), sync_state(template))


@dataclass
class Run:
    result: Any
    before: dict[str, tuple[int, str]]
    before_content: dict[str, tuple[int, str]]
    before_state: dict[str, tuple[Any, ...]]
    after: dict[str, tuple[int, str]]
    after_content: dict[str, tuple[int, str]]
    after_state: dict[str, tuple[Any, ...]]
    failures: dict[str, str]
    materialized: set[str]


def run_job(world: World, tmp_path: Path, faults: dict[str, str | None], job: str,
            run_config: dict[str, Any] | None = None) -> Run:
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(world.template, path)
    before, before_content = world.checksums
    before_state = world.state
    for source in SOURCE_NAMES:
        apply_fault(world.sandbox, source, faults.get(source))
    try:
        with environment({**world.env, "FINANCE_WAREHOUSE": str(path)}):
            defs = pipeline_definitions(max_attempts=ATTEMPTS)
            result = defs.resolve_job_def(job).execute_in_process(
                instance=dg.DagsterInstance.ephemeral(),
                raise_on_error=False,
                run_config=run_config or {},
            )
    finally:
        for source in SOURCE_NAMES:
            apply_fault(world.sandbox, source, None)
    after, after_content = both_checksums(path)
    return Run(
        result, before, before_content, before_state, after, after_content, sync_state(path),
        step_failures(result), materialized_keys(result),
    )


def entity_keys(source: str, entities: list[str] | None = None) -> set[str]:
    tables = all_tables()[source]
    return {
        f"raw/{t}" for t in tables if entities is None or t[len(source) + 1:] in entities
    }


def check_run(run: Run, faults: dict[str, str], sources: tuple[str, ...] = SOURCE_NAMES) -> None:
    """Faulty sources fail clearly and touch nothing; healthy ones (of `sources`) still land."""
    succeeded: set[str] = set()
    for source in sources:
        kind = faults.get(source)
        if kind is None:
            succeeded |= entity_keys(source)
            assert f"{source}_extract" not in run.failures, run.failures[f"{source}_extract"]
            continue
        text = run.failures.get(f"{source}_extract")
        assert text is not None, f"{source} ({kind}) did not fail"
        assert f"[{source}]" in text and KIND_TEXT[kind] in text, text
        assert ENDPOINT[(source, kind)] in text, text
        if kind == "down":
            assert f"after {ATTEMPTS} attempts" in text, text
        if kind == "gone":
            gone = f"{source}_{GONE_ENTITY[source]}"
            succeeded |= entity_keys(source) - {f"raw/{gone}"}
            assert "entity failed" in text and GONE_ENTITY[source] in text, text
        else:
            assert "failed (their raw tables are unchanged)" in text, text
        for secret in CANARY_SECRETS.values():
            assert secret not in text
    raw_materialized = {k for k in run.materialized if k.startswith("raw/")}
    assert raw_materialized == succeeded

    touched = {"raw." + k.split("/", 1)[1] for k in succeeded}
    assert set(run.after) == set(run.before), "tables appeared or vanished"
    for table, checksum in run.before.items():
        if table in ("raw._sync_state", "raw._reconciliation"):
            continue  # bookkeeping of each run: compared per entity below
        # Content is untouched everywhere (nothing changed upstream); the tables of entities
        # that failed, and every model (not rebuilt on a failed source), are byte-for-byte
        # identical.
        assert run.after_content[table] == run.before_content[table], table
        if table not in touched:
            assert run.after[table] == checksum, table
    landed = {t.split(".", 1)[1] for t in touched}
    for entity, state in run.before_state.items():
        if entity not in landed:
            assert run.after_state[entity] == state, entity


ROTATIONS = [
    {"salesman": "auth", "adesk": "down", "apipay": "gone"},
    {"bitrix24": "auth", "salesman": "down", "adesk": "gone"},
    {"bitrix24": "down", "salesman": "gone", "apipay": "auth"},
    {"bitrix24": "gone", "adesk": "auth", "apipay": "down"},
    {"adesk": "payment"},
]


@pytest.mark.parametrize(
    "faults", ROTATIONS, ids=["-".join(f"{s}:{k}" for s, k in r.items()) for r in ROTATIONS]
)
def test_refresh_all_with_persistent_faults(world: World, tmp_path: Path, faults) -> None:
    # Faulty sources refresh fully, so that every entity calls every endpoint it uses (an
    # incremental run may have nothing to ask of some); healthy ones run incrementally.
    config = {"ops": {f"{s}_extract": {"config": {"full_refresh": True}} for s in faults}}
    run = run_job(world, tmp_path, faults, "refresh_all", run_config=config)
    assert not run.result.success
    check_run(run, faults)
    assert "sql_models" not in {e.step_key for e in run.result.get_step_success_events()}


@pytest.mark.parametrize(
    ("source", "kind"),
    [("bitrix24", "down"), ("salesman", "auth"), ("adesk", "payment"), ("apipay", "auth")],
)
def test_a_failing_source_job_leaves_the_whole_file_identical(
    world: World, tmp_path: Path, source: str, kind: str
) -> None:
    run = run_job(world, tmp_path, {source: kind}, f"sync_{source}")
    assert not run.result.success
    check_run(run, {source: kind}, sources=(source,))
    assert run.after == run.before
    assert run.after_state == run.before_state
    assert find_secrets(CANARY_SECRETS, paths=[tmp_path]) == []
