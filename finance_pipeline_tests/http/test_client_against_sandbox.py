"""The shared HTTP layer against all four emulated APIs over real HTTP on loopback.

Each source is configured the way a user configures it (environment variables -> settings ->
the source's resource, EnvVar secrets resolved by Dagster), then made to face every kind of
fault: the client must recover from transient ones and fail clearly on persistent ones, without
ever printing a secret.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from finance_pipeline.config import load_settings
from finance_pipeline.http.client import ApiClient
from finance_pipeline.http.errors import ApiError, AuthenticationError, ServerError
from finance_sandbox.core import SANDBOX_CREDENTIALS, FaultPlan, Sandbox, SandboxServers

SECRETS = {
    "bitrix24": SANDBOX_CREDENTIALS["bitrix24"]["webhook_key"],
    "salesman": SANDBOX_CREDENTIALS["salesman"]["api_key"],
    "adesk": SANDBOX_CREDENTIALS["adesk"]["api_token"],
    "apipay": SANDBOX_CREDENTIALS["apipay"]["api_key"],
}

# One documented list call per API: (method, path, request kwargs, rows in the answer).
PROBES: dict[str, tuple[str, str, dict[str, Any], Callable[[Any], list[Any]]]] = {
    "bitrix24": (
        "POST",
        "crm.item.list",
        {"json_body": {"entityTypeId": 31, "start": -1, "order": {"id": "ASC"}}},
        lambda body: body["result"]["items"],
    ),
    "salesman": (
        "GET",
        "developer/v3/invoice/list",
        {"json_body": {"offset": 0}},
        lambda body: body["data"],
    ),
    "adesk": ("GET", "v1/tags", {}, lambda body: body["tags"]),
    "apipay": (
        "GET",
        "invoices",
        {"params": {"page": 1, "per_page": 100}},
        lambda body: body["data"],
    ),
}


def live_env(servers: SandboxServers, **overrides: str) -> dict[str, str]:
    urls = servers.base_urls
    creds = SANDBOX_CREDENTIALS
    env = {
        "FINANCE_PIPELINE_MODE": "live",
        "BITRIX24_WEBHOOK_URL": urls["bitrix24"],
        "SALESMAN_BASE_URL": urls["salesman"],
        "SALESMAN_LOGIN": creds["salesman"]["login"],
        "SALESMAN_API_KEY": creds["salesman"]["api_key"],
        "ADESK_API_TOKEN": creds["adesk"]["api_token"],
        "ADESK_BASE_URL": urls["adesk"],
        "APIPAY_API_KEY": creds["apipay"]["api_key"],
        "APIPAY_BASE_URL": urls["apipay"],
    }
    env.update(overrides)
    return env


def make_client(source: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, **fields: Any) -> ApiClient:
    from finance_pipeline.sources.registry import BY_NAME

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    resource = BY_NAME[source].resource(load_settings(env))
    resource = resource.model_copy(update={"retry_base_delay": 0.01, "retry_max_delay": 0.05, **fields})
    # Resolves the EnvVar secrets exactly as a Dagster run does.
    return resource.process_config_and_initialize().client()


def probe(client: ApiClient, source: str) -> list[Any]:
    method, path, kwargs, rows = PROBES[source]
    return rows(client.request(method, path, **kwargs))


@pytest.mark.parametrize("source", list(PROBES))
@pytest.mark.parametrize("fault", ["server_error", "throttle", "drop", "truncate", "html"])
def test_retries_recover_from_each_transient_fault(
    source: str, fault: str, sandbox: Sandbox, servers: SandboxServers, monkeypatch, caplog
) -> None:
    baseline = probe(make_client(source, live_env(servers), monkeypatch), source)
    sandbox.set_faults(source, FaultPlan(rate=0.5, kinds=(fault,), seed=3))
    client = make_client(source, live_env(servers), monkeypatch, max_attempts=12)
    with caplog.at_level(logging.WARNING):
        rows = [probe(client, source) for _ in range(4)]
    assert all(r == baseline for r in rows)
    assert client.stats.retries > 0
    if fault == "throttle":
        assert client.stats.throttled > 0
    assert SECRETS[source] not in caplog.text


@pytest.mark.parametrize("source", list(PROBES))
def test_persistent_failure_ends_in_a_typed_error_naming_source_and_endpoint(
    source: str, sandbox: Sandbox, servers: SandboxServers, monkeypatch, caplog
) -> None:
    sandbox.set_faults(source, FaultPlan(always={"/": 503}))
    client = make_client(source, live_env(servers), monkeypatch, max_attempts=3)
    with caplog.at_level(logging.WARNING), pytest.raises(ServerError) as info:
        probe(client, source)
    text = str(info.value)
    assert f"[{source}]" in text and PROBES[source][1] in text and "after 3 attempts" in text
    assert SECRETS[source] not in text and SECRETS[source] not in caplog.text


@pytest.mark.parametrize("source", list(PROBES))
def test_wrong_credentials_are_an_authentication_error_without_the_secret(
    source: str, servers: SandboxServers, monkeypatch, caplog
) -> None:
    wrong = {
        "bitrix24": {"BITRIX24_WEBHOOK_URL": servers.base_urls["bitrix24"].replace(SECRETS["bitrix24"], "WrongKey99887766")},
        "salesman": {"SALESMAN_API_KEY": "wrong-salesman-key-99887766"},
        "adesk": {"ADESK_API_TOKEN": "wrongadesktoken99887766"},
        "apipay": {"APIPAY_API_KEY": "wrong-apipay-key-99887766"},
    }[source]
    secret = next(iter(wrong.values())).split("/")[-2] if source == "bitrix24" else next(iter(wrong.values()))
    client = make_client(source, live_env(servers, **wrong), monkeypatch, max_attempts=2)
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthenticationError) as info:
        probe(client, source)
    assert f"[{source}]" in str(info.value)
    assert secret not in str(info.value) and secret not in caplog.text
    assert isinstance(info.value, ApiError) and info.value.attempts == 1  # never retried


def test_client_rate_limit_keeps_the_emulated_bitrix24_from_ever_throttling(
    sandbox: Sandbox, servers: SandboxServers, monkeypatch
) -> None:
    import concurrent.futures

    client = make_client("bitrix24", live_env(servers), monkeypatch, rate_limit=20.0, rate_burst=10)
    from finance_sandbox.core import ServerRateLimit

    sandbox.settings.rate_limits["bitrix24"] = ServerRateLimit(rate=20.0, burst=12)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: probe(client, "bitrix24"), range(60)))
    assert client.stats.requests == 60
    assert client.stats.throttled == 0
    assert sandbox.counters["bitrix24"]["throttled"] == 0
