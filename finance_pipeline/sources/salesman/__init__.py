"""SalesMan CRM (API v3, method "invoice"): invoices and their details.

`build_resource(settings)` gives the resource for the configured mode: the built-in sandbox,
the live CRM (credentials as `dg.EnvVar`s, so Dagster never stores them), or an unconfigured
resource whose assets skip themselves.
"""

from __future__ import annotations

import dagster as dg

from finance_pipeline.config import Settings
from finance_pipeline.sources.resource_base import resource_for_settings
from finance_pipeline.sources.salesman.assets import DETAILS, ENTITIES, INVOICES
from finance_pipeline.sources.salesman.resource import SalesmanResource, classify_salesman


def build_resource(settings: Settings) -> SalesmanResource:
    def sandbox() -> dict[str, str]:
        from finance_sandbox.core import SANDBOX_CREDENTIALS, sandbox_base_url

        creds = SANDBOX_CREDENTIALS["salesman"]
        return {
            "crm_base_url": sandbox_base_url("salesman"),
            "login": creds["login"],
            "api_key": creds["api_key"],
        }

    return resource_for_settings(
        SalesmanResource,
        settings,
        sandbox=sandbox,
        live=lambda live: {
            "crm_base_url": live.base_url,
            "login": dg.EnvVar("SALESMAN_LOGIN"),
            "api_key": dg.EnvVar("SALESMAN_API_KEY"),
        },
        unconfigured={"crm_base_url": "", "login": "", "api_key": ""},
    )


__all__ = [
    "DETAILS",
    "ENTITIES",
    "INVOICES",
    "SalesmanResource",
    "build_resource",
    "classify_salesman",
]
