"""The Dagster UI, checked as a person would: `dagster dev` on the sandbox, a real browser.

Starts `dagster dev -w workspace.yaml` from the repository root (what `make dev` runs) on a free
port, with the sandbox, a fresh warehouse and a fresh DAGSTER_HOME (deploy/dagster.local.yaml),
then:
1. opens the global asset graph in headless Chromium (Playwright driving Debian's
   /usr/bin/chromium) and checks that the four source groups and the staging/marts groups are
   listed; a screenshot goes to test-artifacts/;
2. checks that the schedules are stopped and the automation sensor is running;
3. launches `refresh_all` through the webserver's GraphQL API, as the Launchpad does, and waits
   until the run succeeds (screenshots of the run page and of the graph afterwards), then opens a
   mart's page and checks that its freshness policy is shown.
(What the automation sensor requests after a source-only run is tested without a browser, in
finance_pipeline_tests/ops/test_automation.py.)

Marked `browser`; skipped with the reason when Chromium or the playwright package is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SOURCE_GROUPS = ("bitrix24", "salesman", "adesk", "apipay")
MODEL_GROUPS = ("staging", "intermediate", "marts", "report")
STARTUP_TIMEOUT = 180.0
RUN_TIMEOUT = 1200.0


def _missing_browser() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    return None


pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(_missing_browser() is not None, reason=_missing_browser() or ""),
    pytest.mark.timeout(RUN_TIMEOUT + STARTUP_TIMEOUT + 120),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class DagsterDev:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    location: str
    repository: str

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return _graphql(self.url, query, variables)


def _graphql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = httpx.post(
        f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
    )
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


WORKSPACE_QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { repositories { name } }
          ... on PythonError { message stack }
        }
      }
    }
  }
}
"""


def _wait_until_loaded(url: str, process: subprocess.Popen[bytes], log: Path) -> tuple[str, str]:
    """Wait for the webserver to answer and the code location to load; return its names."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster dev exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            httpx.get(f"{url}/server_info", timeout=5).raise_for_status()
            data = _graphql(url, WORKSPACE_QUERY)["workspaceOrError"]
            entries = data.get("locationEntries") or []
            for entry in entries:
                loaded = entry["locationOrLoadError"]
                if loaded and loaded["__typename"] == "PythonError":
                    pytest.fail(f"code location {entry['name']} failed to load:\n{loaded['stack']}")
                if entry["loadStatus"] == "LOADED" and loaded:
                    return entry["name"], loaded["repositories"][0]["name"]
            last = f"locations: {[(e['name'], e['loadStatus']) for e in entries]}"
        except (httpx.HTTPError, AssertionError, KeyError, TypeError) as exc:
            last = repr(exc)
        time.sleep(1.0)
    pytest.fail(
        f"dagster dev did not load in {STARTUP_TIMEOUT:.0f}s ({last}):\n{log.read_text()[-4000:]}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop dagster dev, then anything left of what it started (its own process group, by id)."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # dagster dev shuts its children down itself
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterDev]:
    tmp = tmp_path_factory.mktemp("dagster_ui")
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.local.yaml", home / "dagster.yaml")
    with (home / "dagster.yaml").open("a") as instance_yaml:
        # No "join the community" dialog over the pages under test.
        instance_yaml.write("\nnux:\n  enabled: false\n")
    env = {
        **os.environ,
        "FINANCE_PIPELINE_MODE": "sandbox",
        "FINANCE_WAREHOUSE": str(tmp / "warehouse.duckdb"),
        "FINANCE_RATE_LIMIT_DIR": str(tmp / "buckets"),
        "DAGSTER_HOME": str(home),
        "PYTHONUNBUFFERED": "1",
    }
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # `dg dev` (what `make dev` runs; Dagster 1.13 supersedes `dagster dev`) on workspace.yaml.
    dg = Path(sys.executable).with_name("dg")
    command = [str(dg), "dev", "-w", "workspace.yaml", "--host", "127.0.0.1", "--port", str(port)]
    log_path = tmp / "dagster_dev.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        location, repository = _wait_until_loaded(url, process, log_path)
        yield DagsterDev(url, process, log_path, location, repository)
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium_profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1000},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            yield page
        finally:
            context.close()


def test_asset_graph_lists_source_and_model_groups(
    dagster_dev: DagsterDev, browser_page: Any
) -> None:
    page = browser_page
    page.goto(f"{dagster_dev.url}/asset-groups", wait_until="load")
    for group in (*SOURCE_GROUPS, *MODEL_GROUPS):
        # The graph draws each group as a labelled box, and the sidebar lists the groups.
        page.get_by_text(group, exact=True).first.wait_for(state="visible", timeout=60_000)
    from playwright.sync_api import expect

    expect(page.get_by_text("fetching statuses")).to_have_count(0, timeout=60_000)
    page.wait_for_timeout(1000)  # let the layout settle before the picture
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "asset_graph.png"), full_page=True)

    visible_text = page.inner_text("body")
    missing = [g for g in (*SOURCE_GROUPS, *MODEL_GROUPS) if g not in visible_text]
    assert not missing, f"groups not listed in the asset graph page: {missing}"


INSTIGATORS_QUERY = """
query Instigators($repo: RepositorySelector!) {
  schedulesOrError(repositorySelector: $repo) {
    ... on Schedules { results { name scheduleState { status } } }
  }
  sensorsOrError(repositorySelector: $repo) {
    ... on Sensors { results { name sensorState { status } } }
  }
}
"""

LAUNCH_MUTATION = """
mutation Launch($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}
"""

RUN_QUERY = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status }
    ... on Error { message }
  }
}
"""

FAILURES_QUERY = """
query Failures($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message level stepKey }
      }
    }
  }
}
"""

ASSET_NODES_QUERY = """
{
  assetNodes {
    assetKey { path }
    groupName
  }
}
"""

FINISHED = ("SUCCESS", "FAILURE", "CANCELED")


def _repo_selector(dev: DagsterDev) -> dict[str, str]:
    return {"repositoryLocationName": dev.location, "repositoryName": dev.repository}


def _run_errors(dev: DagsterDev, run_id: str) -> str:
    events = dev.graphql(FAILURES_QUERY, {"runId": run_id})["logsForRun"].get("events") or []
    errors = [
        f"{e.get('stepKey') or 'run'}: {e['message']}"
        for e in events
        if e.get("level") in ("ERROR", "CRITICAL")
    ]
    return "\n".join(errors[-20:]) or "(no error events)"


def _launch(dev: DagsterDev, job_name: str) -> str:
    params = {"selector": {**_repo_selector(dev), "jobName": job_name}, "runConfigData": {}}
    launched = dev.graphql(LAUNCH_MUTATION, {"executionParams": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def _wait_for_run(dev: DagsterDev, run_id: str, timeout: float = RUN_TIMEOUT) -> str:
    deadline = time.monotonic() + timeout
    status = "UNKNOWN"
    while time.monotonic() < deadline:
        status = dev.graphql(RUN_QUERY, {"runId": run_id})["runOrError"]["status"]
        if status in FINISHED:
            break
        time.sleep(2.0)
    return status


def _assert_succeeded(dev: DagsterDev, run_id: str, status: str, what: str) -> None:
    assert status == "SUCCESS", (
        f"{what} run {run_id} ended {status} (or did not end in time):\n"
        f"{_run_errors(dev, run_id)}\n--- dagster dev log ---\n{dev.log_tail()}"
    )


def test_schedules_are_stopped_and_the_automation_sensor_runs(dagster_dev: DagsterDev) -> None:
    data = dagster_dev.graphql(INSTIGATORS_QUERY, {"repo": _repo_selector(dagster_dev)})
    schedules = {
        s["name"]: s["scheduleState"]["status"] for s in data["schedulesOrError"]["results"]
    }
    sensors = {s["name"]: s["sensorState"]["status"] for s in data["sensorsOrError"]["results"]}
    assert schedules == {
        "daily_refresh": "STOPPED",
        "apipay_every_15_minutes": "STOPPED",
        "weekly_full_refresh": "STOPPED",
    }
    assert sensors == {"models_follow_sources": "RUNNING"}


def test_refresh_all_launched_through_graphql_succeeds(
    dagster_dev: DagsterDev, browser_page: Any
) -> None:
    run_id = _launch(dagster_dev, "refresh_all")
    status = _wait_for_run(dagster_dev, run_id)

    page = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{dagster_dev.url}/runs/{run_id}", wait_until="load")
    page.get_by_text("refresh_all").first.wait_for(state="visible", timeout=60_000)
    page.wait_for_timeout(2000)
    page.screenshot(path=str(ARTIFACTS / "refresh_all_run.png"))
    _assert_succeeded(dagster_dev, run_id, status, "refresh_all")

    from playwright.sync_api import expect

    page.goto(f"{dagster_dev.url}/asset-groups", wait_until="load")
    page.get_by_text("marts", exact=True).first.wait_for(state="visible", timeout=60_000)
    expect(page.get_by_text("fetching statuses")).to_have_count(0, timeout=60_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(ARTIFACTS / "asset_graph_after_refresh.png"))


def test_mart_page_shows_every_column_with_its_meaning(
    dagster_dev: DagsterDev, browser_page: Any
) -> None:
    """The contract beside the SQL reaches the UI: columns with their meaning, the table name."""
    from finance_pipeline.models import MODELS_DIR, load_model

    model = load_model(MODELS_DIR / "marts" / "receivables.sql")
    page = browser_page
    page.goto(f"{dagster_dev.url}/assets/marts/receivables", wait_until="load")
    for column in model.columns:
        page.get_by_text(column.meaning, exact=True).first.wait_for(
            state="attached", timeout=60_000
        )
    page.get_by_text("marts.receivables").first.wait_for(state="attached", timeout=30_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "mart_columns.png"), full_page=True)


def test_mart_page_shows_its_freshness_policy(dagster_dev: DagsterDev, browser_page: Any) -> None:
    nodes = dagster_dev.graphql(ASSET_NODES_QUERY)["assetNodes"]
    marts = sorted("/".join(n["assetKey"]["path"]) for n in nodes if n["groupName"] == "marts")
    assert marts, "no marts in the definitions"
    page = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{dagster_dev.url}/assets/{marts[0]}", wait_until="load")
    page.get_by_text("Freshness policy").first.wait_for(state="visible", timeout=60_000)
    page.get_by_text("Warns if more than 26 hours").first.wait_for(state="visible", timeout=30_000)
    # Just rebuilt by refresh_all: the freshness daemon (every 30 s) marks it as passing.
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + 240
    while True:
        try:
            page.get_by_text("Passing").first.wait_for(state="visible", timeout=20_000)
            break
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                page.screenshot(path=str(ARTIFACTS / "mart_freshness.png"))
                pytest.fail("the mart's freshness policy never showed as passing")
            page.reload(wait_until="load")
    page.wait_for_timeout(1000)
    page.screenshot(path=str(ARTIFACTS / "mart_freshness.png"))
