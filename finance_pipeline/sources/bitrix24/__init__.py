"""Bitrix24: smart invoices and their product rows, companies, requisites, catalog products.

`build_resource(settings)` gives the resource for the current mode: the sandbox, the live portal
with the webhook URL read from BITRIX24_WEBHOOK_URL at run time (`dg.EnvVar`, never stored by
Dagster), or an unconfigured resource whose assets report "skipped".
"""

from __future__ import annotations

import dagster as dg

from finance_pipeline.config import DEFAULT_RATE_LIMITS, Mode, Settings
from finance_pipeline.sources.bitrix24.assets import (
    ENTITIES,
    InvoiceSyncStats,
    run_invoice_sync_benchmark,
)
from finance_pipeline.sources.bitrix24.resource import Bitrix24Resource

__all__ = [
    "ENTITIES",
    "Bitrix24Resource",
    "InvoiceSyncStats",
    "build_resource",
    "run_invoice_sync_benchmark",
    "sandbox_webhook_url",
]


def sandbox_webhook_url(origin: str = "http://bitrix24.sandbox") -> str:
    """The sandbox's webhook URL (same shape as a real one), without building the sandbox."""
    from finance_pipeline.sandbox.core import SANDBOX_BASE_PATHS, SANDBOX_CREDENTIALS

    return origin + SANDBOX_BASE_PATHS["bitrix24"].format(**SANDBOX_CREDENTIALS["bitrix24"])


def build_resource(settings: Settings) -> Bitrix24Resource:
    if settings.mode == Mode.sandbox:
        limit = DEFAULT_RATE_LIMITS["bitrix24"]
        return Bitrix24Resource(
            webhook_url=sandbox_webhook_url(),
            sandbox=True,
            rate_limit=limit.rate,
            rate_burst=limit.burst,
        )
    live = settings.bitrix24
    if live is None:
        limit = DEFAULT_RATE_LIMITS["bitrix24"]
        return Bitrix24Resource(webhook_url="", rate_limit=limit.rate, rate_burst=limit.burst)
    return Bitrix24Resource(
        webhook_url=dg.EnvVar("BITRIX24_WEBHOOK_URL"),
        rate_limit=live.rate_limit.rate,
        rate_burst=live.rate_limit.burst,
    )
