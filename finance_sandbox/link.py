"""How the product's composition root plugs the sandbox in, without the product knowing it.

`definitions.py` (in sandbox mode, and only there) calls `sandbox_environment()` for the
variables every source is configured with, and `mount_sandbox()` so that requests to the
sandbox's origins are answered in process. The pipeline then runs exactly as in live mode: the
same validators check these values, the same client sends the requests.
"""

from __future__ import annotations

import importlib

import httpx

from finance_pipeline.http.transports import TransportFactory, mount
from finance_sandbox import get_sandbox
from finance_sandbox.core import (
    EMULATORS,
    SANDBOX_CREDENTIALS,
    SOURCES,
    ServerRateLimit,
    sandbox_base_url,
)


def sandbox_origin(source: str) -> str:
    return f"http://{source}.sandbox"


def sandbox_environment() -> dict[str, str]:
    """Every source's variables, with the values the in-process sandbox accepts."""
    salesman = SANDBOX_CREDENTIALS["salesman"]
    env = {
        "BITRIX24_WEBHOOK_URL": sandbox_base_url("bitrix24"),
        "SALESMAN_BASE_URL": sandbox_base_url("salesman"),
        "SALESMAN_LOGIN": salesman["login"],
        "SALESMAN_API_KEY": salesman["api_key"],
        "ADESK_API_TOKEN": SANDBOX_CREDENTIALS["adesk"]["api_token"],
        "ADESK_BASE_URL": sandbox_base_url("adesk"),
        "APIPAY_API_KEY": SANDBOX_CREDENTIALS["apipay"]["api_key"],
        "APIPAY_BASE_URL": sandbox_base_url("apipay"),
    }
    return env


# Sources whose vendor publishes no rate limit (SalesMan's API documentation names none; Adesk's
# "Ограничение частоты запросов", adesk-api.md l.33, names no numbers): their declared client
# defaults are guesses for an unknown server. Against the sandbox the server's limit IS known
# (its emulator's `default_rate_limit`), so the client keeps just below it instead of waiting
# for a limit no server has. Bitrix24 (2/s, burst 50) and ApiPay (60 a minute) document theirs:
# their declarations apply unchanged, in the sandbox as live.
UNPUBLISHED_LIMITS = ("salesman", "adesk")


def sandbox_rate_limits() -> dict[str, str]:
    """`<SOURCE>_RATE_LIMIT`/`_RATE_BURST`/`_RATE_START` for the sources above: 90 % of the
    sandbox server's rate, from the first request (nothing to learn: the limit is known), and its
    burst less two (the headroom the Bitrix24 declaration keeps), so a demo is not throttled by
    the sandbox nor slowed by a cautious first-run guess. A user's own values take precedence."""
    env = {}
    for source in UNPUBLISHED_LIMITS:
        server = emulator_limit(source)
        env[f"{source.upper()}_RATE_LIMIT"] = f"{server.rate * 0.9:g}"
        env[f"{source.upper()}_RATE_START"] = f"{server.rate * 0.9:g}"
        env[f"{source.upper()}_RATE_BURST"] = str(max(1, server.burst - 2))
    return env


def emulator_limit(source: str) -> ServerRateLimit:
    """The emulator's own limit, read from its class: loading the definitions must not build
    the sandbox's world."""
    module_name, class_name = EMULATORS[source].split(":")
    return getattr(importlib.import_module(module_name), class_name).default_rate_limit


def _transport_of(source: str) -> TransportFactory:
    def factory() -> httpx.BaseTransport:
        # The sandbox installed when the client is made: tests swap it with set_sandbox().
        return get_sandbox().transport(source)

    return factory


def mount_sandbox() -> None:
    """Answer every request to a sandbox origin in process, from the process-wide sandbox."""
    for source in SOURCES:
        mount(sandbox_origin(source), _transport_of(source))
