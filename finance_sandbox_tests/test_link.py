"""The sandbox's limits in sandbox mode: the client keeps just below the sandbox server's own
limit where the vendor publishes none, and keeps the documented limit where there is one."""

from __future__ import annotations

from finance_pipeline.definitions import load_environment
from finance_pipeline.sources.registry import BY_NAME, SOURCE_NAMES
from finance_sandbox.link import UNPUBLISHED_LIMITS, emulator_limit


def test_sandbox_mode_keeps_below_the_sandbox_servers_and_within_documented_limits() -> None:
    settings = load_environment({"FINANCE_PIPELINE_MODE": "sandbox"})
    for source in SOURCE_NAMES:
        client, server = settings.sources[source].rate_limit, emulator_limit(source)
        first_run_rate = client.start or client.rate
        if source in UNPUBLISHED_LIMITS:
            # Not the live guess: the demo must not wait for a limit no server has, nor learn one
            # the sandbox already knows.
            assert client.rate <= server.rate and client.burst <= server.burst, source
            assert client.rate >= 0.8 * server.rate, source
            assert first_run_rate == client.rate, source
            assert first_run_rate > (BY_NAME[source].rate_limit.start or 0), source
        else:
            # Bitrix24 (2/s, burst 50) and ApiPay (60 a minute, announced in X-RateLimit-*)
            # document theirs: the declarations apply unchanged and a first run keeps to them.
            assert client == BY_NAME[source].rate_limit, source
            assert first_run_rate <= server.rate, source


def test_a_users_own_limit_wins_in_sandbox_mode() -> None:
    settings = load_environment(
        {"FINANCE_PIPELINE_MODE": "sandbox", "SALESMAN_RATE_LIMIT": "1.5", "SALESMAN_RATE_BURST": "2"}
    )
    limit = settings.sources["salesman"].rate_limit
    assert (limit.rate, limit.burst) == (1.5, 2)
