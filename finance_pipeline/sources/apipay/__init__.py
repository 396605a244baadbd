"""ApiPay.kz: Kaspi Pay invoices and their refunds (KZT).

`build_resource(settings)` gives the resource for the current mode: the sandbox, the live API
with the key read from APIPAY_API_KEY at run time (`dg.EnvVar`, never stored by Dagster), or an
unconfigured resource whose assets report "skipped".
"""

from __future__ import annotations

import dagster as dg

from finance_pipeline.config import Settings
from finance_pipeline.sources.apipay.assets import ENTITIES
from finance_pipeline.sources.apipay.resource import DEFAULT_BASE_URL, ApipayResource
from finance_pipeline.sources.resource_base import resource_for_settings

__all__ = ["ENTITIES", "ApipayResource", "build_resource"]


def build_resource(settings: Settings) -> ApipayResource:
    def sandbox() -> dict[str, str]:
        from finance_sandbox.core import SANDBOX_CREDENTIALS, sandbox_base_url

        return {
            "api_key": SANDBOX_CREDENTIALS["apipay"]["api_key"],
            "api_base_url": sandbox_base_url("apipay"),
        }

    return resource_for_settings(
        ApipayResource,
        settings,
        sandbox=sandbox,
        live=lambda live: {"api_key": dg.EnvVar("APIPAY_API_KEY"), "api_base_url": live.base_url},
        unconfigured={"api_key": "", "api_base_url": DEFAULT_BASE_URL},
    )
