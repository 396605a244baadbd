"""Refused credentials: a wrong token stops its source after the first refusal and says which
variable to fix, once, without printing the secret.

Each source's own job runs (the Definitions loaded from the environment, as `dagster` loads
them) against the sandbox served over HTTP, with one credential replaced by a wrong value. The
sandbox counts the requests it received: after the first refusal no other entity is requested
(before, each of a source's entities asked again and was refused again: 12 times for Adesk).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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

from finance_pipeline.sources.registry import BY_NAME, SOURCE_NAMES
from finance_sandbox.core import Sandbox, SandboxServers

pytestmark = pytest.mark.timeout(120)

# The credential made wrong per source, and the wrong value (a secret too: it must not leak).
WRONG = {
    "bitrix24": ("BITRIX24_WEBHOOK_URL", ""),  # the served URL with a wrong key, see wrong_value
    "salesman": ("SALESMAN_API_KEY", "wrong-salesman-key-7781"),
    "adesk": ("ADESK_API_TOKEN", "wrongAdeskToken7781"),
    "apipay": ("APIPAY_API_KEY", "wrong-apipay-key-7781"),
}
WRONG_WEBHOOK_KEY = "wrongBitrixKey7781"


@pytest.fixture(scope="module")
def served(canaries) -> Iterator[tuple[Sandbox, SandboxServers]]:
    sandbox = make_sandbox()
    with sandbox.serve() as servers:
        yield sandbox, servers


def wrong_value(source: str, env: dict[str, str]) -> tuple[str, str]:
    """(variable, wrong value): the webhook URL keeps its portal and user, with a wrong key."""
    variable, value = WRONG[source]
    if source == "bitrix24":
        right_key = CANARY_SECRETS["bitrix24"]
        value = env[variable].replace(right_key, WRONG_WEBHOOK_KEY)
        assert value != env[variable]
    return variable, value


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_a_refused_credential_stops_its_source_and_names_the_variable(
    served: tuple[Sandbox, SandboxServers], source: str, tmp_path: Path
) -> None:
    sandbox, servers = served
    env = live_env(servers, tmp_path / "warehouse.duckdb")
    env["FINANCE_RATE_LIMIT_DIR"] = str(tmp_path / "buckets")
    variable, value = wrong_value(source, env)
    env[variable] = value
    entities = len(BY_NAME[source].entities)
    assert entities > 1, "the scenario needs a source with several entities"

    before = sandbox.counters[source]["requests"]
    instance = dg.DagsterInstance.ephemeral()
    with environment(env):
        result = pipeline_definitions().resolve_job_def(f"sync_{source}").execute_in_process(
            instance=instance, raise_on_error=False
        )
    logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    requests = sandbox.counters[source]["requests"] - before

    # One refusal, then nothing more is asked of that API (not one refusal per entity).
    assert requests == 1, f"{requests} requests to {source} after a refused credential"
    assert not result.success
    failure = step_failures(result)[f"{source}_extract"]
    (event,) = result.get_step_failure_events()
    description = event.step_failure_data.user_failure_data.description
    title = BY_NAME[source].title
    assert f"refused by {title}" in failure, failure
    assert f"Set {variable} to a valid " in failure or f"and {variable} to a valid " in failure
    assert "not requested after the refusal" in failure, failure
    assert description.count("authentication failed") == 1, description

    # The refusal is logged once, not once per entity.
    refusals = [message for message in logs if "refused by" in message]
    assert len(refusals) == 1, refusals

    texts = {"failure": failure, **{f"log {i}": message for i, message in enumerate(logs)}}
    wrong_secret = WRONG_WEBHOOK_KEY if source == "bitrix24" else value
    assert find_secrets({"wrong": wrong_secret, **CANARY_SECRETS}, texts=texts) == []
    if source == "bitrix24":
        # The portal stays readable in the message; only the key is masked.
        host = env[variable].split("/rest/")[0]
        assert host in failure or "batch" in failure, failure
