"""Bitrix24: smart invoices and their product rows, companies, requisites, catalog products.

`build_resource(settings)` gives the resource for the current mode: the sandbox, the live portal
with the webhook URL read from BITRIX24_WEBHOOK_URL at run time (`dg.EnvVar`, never stored by
Dagster), or an unconfigured resource whose assets report "skipped".
"""

from __future__ import annotations

import dagster as dg

from finance_pipeline.config import Settings
from finance_pipeline.sources.bitrix24.assets import (
    ENTITIES as INVOICE_ENTITIES,
)
from finance_pipeline.sources.bitrix24.assets import (
    InvoiceSyncStats,
    run_invoice_sync_benchmark,
)
from finance_pipeline.sources.bitrix24.portal import PORTAL_ENTITIES
from finance_pipeline.sources.bitrix24.resource import Bitrix24Resource
from finance_pipeline.sources.resource_base import resource_for_settings

# Invoices, product rows, companies, requisites, products; then stages, contacts and the
# legacy invoices around them (portal.py).
ENTITIES = [*INVOICE_ENTITIES, *PORTAL_ENTITIES]

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
    from finance_sandbox.core import sandbox_base_url

    return sandbox_base_url("bitrix24", origin)


def build_resource(settings: Settings) -> Bitrix24Resource:
    return resource_for_settings(
        Bitrix24Resource,
        settings,
        sandbox=lambda: {"webhook_url": sandbox_webhook_url()},
        live=lambda _live: {"webhook_url": dg.EnvVar("BITRIX24_WEBHOOK_URL")},
        unconfigured={"webhook_url": ""},
    )
