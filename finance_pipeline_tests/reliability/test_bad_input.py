"""Bad input: malformed configuration, and APIs that answer with something that is not what
their documentation promises. Every case ends in a clear, typed error that names the source and
the endpoint (or the variable), or in a warning with no data lost; never in a hang (every test
has a hard timeout, and the slowest API is made to stop answering altogether).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from reliability_kit import environment as env_vars
from reliability_kit import (
    live_env,
    live_ids,
    live_resources,
    make_sandbox,
    step_failures,
    sync_source,
    truth_ids,
    with_overrides,
)

from finance_pipeline.errors import ConfigError
from finance_pipeline.http.errors import (
    ApiError,
    BadResponseError,
    NetworkError,
    ServerError,
)
from finance_pipeline.sources.registry import SOURCE_NAMES
from finance_pipeline.sources.resource_base import SourceResource
from finance_pipeline.warehouse.resource import WarehouseResource
from finance_sandbox.core import (
    FaultPlan,
    Sandbox,
    SandboxRequest,
    SandboxResponse,
    SandboxServers,
)
from finance_sandbox.world import WorldSize

pytestmark = pytest.mark.timeout(60)

# One list per API that spans several pages in this module's world (and its children).
ENTITY = {"bitrix24": "invoices", "salesman": "invoices", "adesk": "transactions",
          "apipay": "invoices"}
CHILDREN = {"bitrix24": ["invoice_product_rows"]}
ENDPOINT = {"bitrix24": "crm.item.list", "salesman": "invoice/list", "adesk": "/v1/transactions",
            "apipay": "invoices"}


@dataclass
class Rig:
    sandbox: Sandbox
    servers: SandboxServers
    resources: dict[str, SourceResource]
    truth: dict[str, set[str]]


@pytest.fixture(scope="module")
def rig(canaries, module_dir: Path) -> Iterator[Rig]:
    # Big enough that every list above has several pages (Bitrix24: more than one batch).
    sandbox = make_sandbox(WorldSize(bitrix_invoices=2600, salesman_invoices=260))
    with sandbox.serve() as servers:
        env = {**live_env(servers), "FINANCE_RATE_LIMIT_DIR": str(module_dir / "buckets")}
        with env_vars(env):
            resources = live_resources(env, max_attempts=3)
            resources["adesk"] = with_overrides(resources["adesk"], page_length=100)
            yield Rig(sandbox, servers, resources, truth_ids(sandbox.world))


def sync(rig: Rig, source: str, tmp_path: Path, plan: FaultPlan,
         entities: list[str] | None = None, **overrides: Any) -> dict[str, dict[str, Any]]:
    resource = rig.resources[source]
    if overrides:
        resource = with_overrides(resource, **overrides)
    rig.sandbox.set_faults(source, plan)
    try:
        return sync_source(
            resource, WarehouseResource(path=str(tmp_path / "w.duckdb")), source, full=True,
            entities=entities or [ENTITY[source]],
        )
    finally:
        rig.sandbox.set_faults(source, FaultPlan())


def assert_clear(error: ApiError, source: str, *fragments: str) -> None:
    text = str(error)
    assert text.startswith(f"[{source}] ") and error.source == source, text
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    assert "What to do:" in text


# --- configuration ---------------------------------------------------------------------------

_BASE = {
    "FINANCE_PIPELINE_MODE": "live",
    "BITRIX24_WEBHOOK_URL": "https://portal.example/rest/1/cfgBitrixKey0042/",
    "SALESMAN_BASE_URL": "https://crm.example",
    "SALESMAN_LOGIN": "finance@crm.example",
    "SALESMAN_API_KEY": "cfg-salesman-key-0042",
    "ADESK_API_TOKEN": "cfgAdeskToken0042",
    "APIPAY_API_KEY": "cfg-apipay-key-0042",
}
# variable -> (malformed value, the job whose run must fail if loading does not)
CONFIG_CASES: dict[str, tuple[str, str]] = {
    "FINANCE_PIPELINE_MODE": ("production", "refresh_all"),
    "FINANCE_WAREHOUSE": ("/etc/hostname/warehouse.duckdb", "refresh_all"),
    "FINANCE_DUCKDB_MEMORY_LIMIT": ("a lot", "sync_apipay"),
    "BITRIX24_WEBHOOK_URL": ("https://portal.example/rest/cfgBitrixKey0042/", "sync_bitrix24"),
    "SALESMAN_BASE_URL": ("https://crm.example/developer/v3/", "sync_salesman"),
    "SALESMAN_LOGIN": ("finance team@crm.example", "sync_salesman"),
    "SALESMAN_API_KEY": ("cfg-salesman key-0042", "sync_salesman"),
    "ADESK_API_TOKEN": ("cfgAdesk Token0042", "sync_adesk"),
    "ADESK_BASE_URL": ("https://api.adesk.ru/v1", "sync_adesk"),
    "APIPAY_API_KEY": ("cfg-apipay key-0042", "sync_apipay"),
    "APIPAY_BASE_URL": ("bpapi.bazarbay.site/api/v1", "sync_apipay"),
    "BITRIX24_RATE_LIMIT": ("fast", "sync_bitrix24"),
    "SALESMAN_RATE_BURST": ("2.5", "sync_salesman"),
    "ADESK_RATE_LIMIT": ("-1", "sync_adesk"),
    "APIPAY_RATE_BURST": ("0", "sync_apipay"),
}
EMPTY_CASES = ["BITRIX24_WEBHOOK_URL", "SALESMAN_API_KEY", "ADESK_API_TOKEN", "APIPAY_API_KEY"]


def _config_failure(env: dict[str, str], job: str, tmp_path: Path) -> tuple[str, str]:
    """(stage, message) of the first failure: loading the definitions, or the run."""
    from finance_pipeline.definitions import build_definitions

    env = {"FINANCE_WAREHOUSE": str(tmp_path / "w.duckdb"), **env}
    with env_vars(env):
        try:
            defs = build_definitions()
        except ConfigError as error:
            return "load", str(error)
        result = defs.resolve_job_def(job).execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
        )
    assert not result.success, "a malformed value went unnoticed"
    errors = [
        event.event_specific_data.error.to_string()
        for event in result.all_events
        if getattr(event.event_specific_data, "error", None) is not None
    ]
    return "run", "\n".join([*errors, *step_failures(result).values()])


@pytest.mark.parametrize("variable", list(CONFIG_CASES))
def test_a_malformed_variable_is_named_in_a_clear_error(variable: str, tmp_path: Path) -> None:
    value, job = CONFIG_CASES[variable]
    stage, message = _config_failure({**_BASE, variable: value}, job, tmp_path)
    assert f"{variable}:" in message or f"{variable}/" in message or f"/{variable}" in message, (
        stage, message[:2000])
    # Before a single request: the unreachable example hosts were never called.
    assert "network error" not in message
    for secret in ("cfgBitrixKey0042", "cfg-salesman-key-0042", "cfgAdeskToken0042",
                   "cfg-apipay-key-0042", "cfg-salesman key-0042", "cfgAdesk Token0042",
                   "cfg-apipay key-0042"):
        assert secret not in message, (stage, message[:2000])


@pytest.mark.parametrize("variable", EMPTY_CASES)
def test_a_credential_set_but_empty_stops_loading(variable: str, tmp_path: Path) -> None:
    stage, message = _config_failure({**_BASE, variable: "  "}, "refresh_all", tmp_path)
    assert stage == "load" and message.startswith(f"{variable}: is set but empty"), message


# --- answers that are not the documented JSON ----------------------------------------------


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_an_html_error_page_is_a_clear_error(rig: Rig, source: str, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ServerError) as info:
        sync(rig, source, tmp_path, FaultPlan(rate=1.0, kinds=("html",)))
    assert_clear(info.value, source, "HTTP 502", "after 3 attempts")
    assert time.monotonic() - started < 10


def _login_page(rig: Rig) -> Callable[[], None]:
    """Every answer becomes a proxy's login page served with 200 OK (a captive portal)."""
    original = rig.sandbox.handle

    def handle(source: str, request: SandboxRequest) -> SandboxResponse:
        original(source, request)
        return SandboxResponse.html(
            "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form "
            "action='/login'><input name='user'></form></body></html>", 200
        )

    rig.sandbox.handle = handle  # type: ignore[method-assign]
    return lambda: setattr(rig.sandbox, "handle", original)


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_an_html_page_with_200_ok_is_a_clear_error(rig: Rig, source: str, tmp_path: Path) -> None:
    restore = _login_page(rig)
    try:
        with pytest.raises(BadResponseError) as info:
            sync(rig, source, tmp_path, FaultPlan())
    finally:
        restore()
    assert_clear(info.value, source, "expected JSON, got text/html", "Sign in", "after 3 attempts")


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_an_empty_body_is_a_clear_error(rig: Rig, source: str, tmp_path: Path) -> None:
    with pytest.raises(BadResponseError) as info:
        sync(rig, source, tmp_path, FaultPlan(rate=1.0, kinds=("empty",)))
    assert_clear(info.value, source, "empty body", "after 3 attempts")


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_a_page_repeating_the_previous_one_stops_the_sync(
    rig: Rig, source: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    with pytest.raises(BadResponseError) as info:
        sync(rig, source, tmp_path, FaultPlan(repeat_previous_page=True))
    assert rig.sandbox.counters[source]["fault_repeat_previous_page"] > 0
    if source == "bitrix24":
        # A batch that answers the previous batch's commands: none of this one's is answered.
        assert_clear(info.value, source, f"batch: {ENDPOINT[source]}", "neither result nor error")
    else:
        assert_clear(info.value, source, ENDPOINT[source], "page 2 repeats the previous page")
    assert time.monotonic() - started < 10
    assert not (tmp_path / "w.duckdb").exists() or not live_ids(tmp_path / "w.duckdb").get(
        f"{source}_{ENTITY[source]}"
    ), "a broken paging landed something"


WRONG_TOTALS = [7, -7, -150]
PAGE_SIZE = {"bitrix24": 50, "salesman": 200, "adesk": 100, "apipay": 100}


def assert_nothing_lost_and_warned(rig: Rig, source: str, delta: int, tmp_path: Path) -> None:
    entities = [ENTITY[source], *CHILDREN.get(source, [])]
    metadata = sync(rig, source, tmp_path, FaultPlan(wrong_total=delta), entities=entities)
    landed = live_ids(tmp_path / "w.duckdb")
    for entity in entities:
        table = f"{source}_{entity}"
        missing = rig.truth[table] - landed[table]
        assert not missing, f"{table}: {len(missing)} records lost to a wrong total"
        assert len(landed[table]) == len(rig.truth[table]), f"{table}: extra records"
    if source == "bitrix24":
        # Lists are read without counting (start=-1); only product rows count small rests,
        # and a count there only sizes the next chain: it is checked against the rows.
        warnings = str(metadata["bitrix24_invoice_product_rows"].get("warnings", ""))
        assert "count of rows left disagreed" in warnings, metadata
        assert "nothing was lost" in warnings
    else:
        warnings = str(metadata[f"{source}_{ENTITY[source]}"].get("warnings", ""))
        assert "the API announced" in warnings, metadata


@pytest.mark.parametrize("delta", WRONG_TOTALS, ids=lambda d: f"total{d:+d}")
@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_a_wrong_total_loses_nothing_and_warns(
    rig: Rig, source: str, delta: int, tmp_path: Path
) -> None:
    assert_nothing_lost_and_warned(rig, source, delta, tmp_path)


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_a_low_total_that_ends_on_a_full_page_loses_nothing(
    rig: Rig, source: str, tmp_path: Path
) -> None:
    """The hardest wrong total: low by exactly what lies past a page boundary, so the full
    pages read add up to it and nothing looks inconsistent until the next page is asked for.
    Only a short page ends a list."""
    rows = len(rig.truth[f"{source}_{ENTITY[source]}"])
    delta = -(rows % PAGE_SIZE[source]) or -PAGE_SIZE[source]
    assert_nothing_lost_and_warned(rig, source, delta, tmp_path)


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_an_api_that_stops_answering_never_hangs(rig: Rig, source: str, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(NetworkError) as info:
        sync(rig, source, tmp_path, FaultPlan(rate=1.0, kinds=("slow",), slow_seconds=3.0),
             timeout_seconds=0.3, max_attempts=2)
    assert_clear(info.value, source, "timed out", "after 2 attempts")
    assert time.monotonic() - started < 5
