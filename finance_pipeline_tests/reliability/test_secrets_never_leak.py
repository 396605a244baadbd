"""Secrets: every source is configured with recognisable credentials ("canaries"), every fault of
this suite is triggered in Dagster runs, and then every byte the runs left behind is searched
for each secret, as is and URL-encoded: zero hits.

Searched: stdout/stderr of the process, every Python log record at DEBUG level from every
logger (a user who turned debug logging on), DAGSTER_HOME (the SQLite run and event log
storage, compute logs), and the DuckDB file (and its WAL). Wrong credentials and credentials
that fail validation are canaries too: an error about a secret must not quote it.
(The crash and concurrency tests search their subprocesses' output and DAGSTER_HOME the same
way.)
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from reliability_kit import (
    CANARY_SECRETS,
    environment,
    find_secrets,
    live_env,
    make_sandbox,
    pipeline_definitions,
    step_failures,
)

from finance_pipeline.errors import ConfigError
from finance_pipeline.sources.registry import SOURCE_NAMES
from finance_sandbox.core import (
    FaultPlan,
    Sandbox,
    SandboxRequest,
    SandboxResponse,
    SandboxServers,
)

pytestmark = pytest.mark.timeout(300)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
# Credentials the sandbox does not accept (wrong ones) and ones that fail validation: they are
# secrets all the same.
WRONG = {
    "adesk": "wrongCanaryAdesk+Tok/77aa31",
    "apipay": "wrong-canary-apipay-77aa31",
    "salesman": "wrong-canary-salesman-77aa31",
    "bitrix24": "wrongCanaryHook77aa31",
}
MALFORMED = {
    "ADESK_API_TOKEN": "badCanary Adesk 9c0d",
    "APIPAY_API_KEY": "badCanary Apipay 9c0d",
    "SALESMAN_API_KEY": "badCanary Salesman 9c0d",
}
ALL_SECRETS = {
    **CANARY_SECRETS,
    **{f"wrong {s}": v for s, v in WRONG.items()},
    **{f"malformed {k}": v for k, v in MALFORMED.items()},
}


def _set(sandbox: Sandbox, plans: dict[str, FaultPlan]) -> None:
    for source in SOURCE_NAMES:
        sandbox.set_faults(source, plans.get(source, FaultPlan()))


def _scenarios(servers: SandboxServers) -> list[tuple[str, dict[str, FaultPlan], dict[str, Any]]]:
    """(name, fault plans, options) of the runs; options: env overrides, run config, resource
    overrides, raw layer only, Bitrix24 method removed, sources answering a login page."""
    transient = ("server_error", "throttle", "drop", "truncate", "html", "empty")
    full = {"ops": {f"{s}_extract": {"config": {"full_refresh": True}} for s in SOURCE_NAMES}}
    bitrix_wrong = servers.base_urls["bitrix24"].replace(
        CANARY_SECRETS["bitrix24"], WRONG["bitrix24"]
    )
    return [
        ("transient faults and drift", {
            s: FaultPlan(rate=0.2, kinds=transient, drift=True, seed=5 + i)
            for i, s in enumerate(SOURCE_NAMES)
        }, {"resources": {"max_attempts": 10}, "raw_only": True}),
        ("401, keeps failing, payment required, one entity gone", {
            "bitrix24": FaultPlan(always={"/": 401}),
            "salesman": FaultPlan(always={"/": 503}),
            "adesk": FaultPlan(always={"/": 21}),
            "apipay": FaultPlan(always={"/refunds": 404}),
        }, {"run_config": full}),
        ("one entity gone, 401, keeps failing", {
            "salesman": FaultPlan(always={"invoice/info": 404}),
            "adesk": FaultPlan(always={"/": 401}),
            "apipay": FaultPlan(always={"/": 503}),
        }, {"run_config": full, "bitrix_gone": True}),
        ("html page, empty body, repeated page, wrong total", {
            "bitrix24": FaultPlan(rate=1.0, kinds=("html",)),
            "salesman": FaultPlan(rate=1.0, kinds=("empty",)),
            "adesk": FaultPlan(repeat_previous_page=True),
            "apipay": FaultPlan(wrong_total=-7),
        }, {"run_config": full, "resources": {"page_length": 100}}),
        # The webhook key travels in the path, the Adesk token in the query string; the other
        # two (headers) get a proxy's login page served with 200 OK.
        ("APIs that stop answering, a login page with 200 OK", {
            s: FaultPlan(rate=1.0, kinds=("slow",), slow_seconds=1.0) for s in ("bitrix24", "adesk")
        }, {"resources": {"timeout_seconds": 0.2, "max_attempts": 2},
            "login_page": ("salesman", "apipay")}),
        ("wrong credentials", {}, {"env": {
            "BITRIX24_WEBHOOK_URL": bitrix_wrong,
            "SALESMAN_API_KEY": WRONG["salesman"],
            "ADESK_API_TOKEN": WRONG["adesk"],
            "APIPAY_API_KEY": WRONG["apipay"],
        }}),
        ("credentials that fail validation", {}, {"env": MALFORMED}),
    ]


def _login_page(sandbox: Sandbox, sources: tuple[str, ...]) -> Any:
    original = sandbox.handle

    def handle(source: str, request: SandboxRequest) -> SandboxResponse:
        if source not in sources:
            return original(source, request)
        return SandboxResponse.html(
            "<html><title>Sign in</title><form action='/login'></form></html>", 200
        )

    return handle


@pytest.fixture
def debug_log(tmp_path: Path) -> Iterator[Path]:
    """Every log record of every logger, at DEBUG, into a file (as a user's debug setup)."""
    path = tmp_path / "python-debug.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", "httpx", "httpcore")}
    root.addHandler(handler)
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def test_no_secret_anywhere_after_every_fault(
    canaries, tmp_path: Path, capfd: pytest.CaptureFixture[str], debug_log: Path
) -> None:
    sandbox = make_sandbox()
    bitrix = sandbox.emulators["bitrix24"]
    methods = dict(bitrix.methods)  # type: ignore[attr-defined]
    original_handle = sandbox.handle
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.local.yaml", home / "dagster.yaml")
    warehouse = tmp_path / "warehouse.duckdb"
    outcomes: dict[str, tuple[bool, dict[str, str]]] = {}
    with sandbox.serve() as servers:
        env = {
            **live_env(servers, warehouse),
            "DAGSTER_HOME": str(home),
            "FINANCE_RATE_LIMIT_DIR": str(tmp_path / "buckets"),
        }
        with environment(env), dg.DagsterInstance.get() as instance:
            for name, plans, options in _scenarios(servers):
                _set(sandbox, plans)
                if options.get("bitrix_gone"):
                    del bitrix.methods["crm.product.list"]  # type: ignore[attr-defined]
                if options.get("login_page"):
                    sandbox.handle = _login_page(  # type: ignore[method-assign]
                        sandbox, options["login_page"]
                    )
                try:
                    with environment(options.get("env", {})):
                        try:
                            defs = pipeline_definitions(**options.get("resources", {}))
                        except ConfigError as error:
                            # Malformed values stop the definitions loading, naming the
                            # variable: its message is searched for secrets like the rest.
                            outcomes[name] = (False, {"load": str(error)})
                            continue
                        job = defs.resolve_job_def("refresh_all")
                        keys = job.asset_layer.executable_asset_keys
                        raw = [k for k in keys if k.path[0] == "raw"]
                        result = job.execute_in_process(
                            instance=instance,
                            raise_on_error=False,
                            run_config=options.get("run_config"),
                            asset_selection=raw if options.get("raw_only") else None,
                        )
                    outcomes[name] = (result.success, step_failures(result))
                finally:
                    bitrix.methods = dict(methods)  # type: ignore[attr-defined]
                    sandbox.handle = original_handle  # type: ignore[method-assign]
                    _set(sandbox, {})
    captured = capfd.readouterr()

    # The runs did what they were meant to (so the search below means something).
    assert outcomes["transient faults and drift"][0], outcomes
    for name, (success, _failures) in outcomes.items():
        if name != "transient faults and drift":
            assert not success, name
    assert sum(sandbox.counters[s]["injected_faults"] for s in SOURCE_NAMES) > 20
    storage = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in storage), "no SQLite event log to search"

    hits = find_secrets(
        ALL_SECRETS,
        texts={
            "stdout": captured.out,
            "stderr": captured.err,
            "step failures": repr(outcomes),
        },
        paths=[home, debug_log, *warehouse.parent.glob("warehouse.duckdb*")],
    )
    assert hits == [], hits
    # And the log really had something to hide it from: requests and errors were logged.
    text = debug_log.read_text(encoding="utf-8")
    assert "retry" in text and "HTTP Request" in text
