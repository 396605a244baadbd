"""How the product's composition root plugs the sandbox in, without the product knowing it.

`definitions.py` (in sandbox mode, and only there) calls `sandbox_environment()` for the
variables every source is configured with, and `mount_sandbox()` so that requests to the
sandbox's origins are answered in process. The pipeline then runs exactly as in live mode: the
same validators check these values, the same client sends the requests.
"""

from __future__ import annotations

import httpx

from finance_pipeline.http.transports import TransportFactory, mount
from finance_sandbox import get_sandbox
from finance_sandbox.core import SANDBOX_CREDENTIALS, SOURCES, sandbox_base_url


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


def _transport_of(source: str) -> TransportFactory:
    def factory() -> httpx.BaseTransport:
        # The sandbox installed when the client is made: tests swap it with set_sandbox().
        return get_sandbox().transport(source)

    return factory


def mount_sandbox() -> None:
    """Answer every request to a sandbox origin in process, from the process-wide sandbox."""
    for source in SOURCES:
        mount(sandbox_origin(source), _transport_of(source))
