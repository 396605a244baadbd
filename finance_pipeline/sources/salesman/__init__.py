"""SalesMan CRM (API v3, method "invoice"): invoices and their details.

`build_resource(settings)` gives the resource for the configured mode: the built-in sandbox,
the live CRM (credentials as `dg.EnvVar`s, so Dagster never stores them), or an unconfigured
resource whose assets skip themselves.
"""

from __future__ import annotations

import dagster as dg

from finance_pipeline.config import DEFAULT_RATE_LIMITS, Mode, Settings
from finance_pipeline.sources.salesman.assets import DETAILS, ENTITIES, INVOICES
from finance_pipeline.sources.salesman.resource import SalesmanResource, classify_salesman

SANDBOX_ORIGIN = "http://salesman.sandbox"


def build_resource(settings: Settings) -> SalesmanResource:
    default = DEFAULT_RATE_LIMITS["salesman"]
    if settings.mode == Mode.sandbox:
        from finance_pipeline.sandbox.core import SANDBOX_BASE_PATHS, SANDBOX_CREDENTIALS

        creds = SANDBOX_CREDENTIALS["salesman"]
        return SalesmanResource(
            crm_base_url=SANDBOX_ORIGIN + SANDBOX_BASE_PATHS["salesman"].format(**creds),
            login=creds["login"],
            api_key=creds["api_key"],
            sandbox=True,
            rate_limit=default.rate,
            rate_burst=default.burst,
        )
    configured = settings.salesman
    if configured is None:
        return SalesmanResource(crm_base_url="", login="", api_key="")
    return SalesmanResource(
        crm_base_url=configured.base_url,
        login=dg.EnvVar("SALESMAN_LOGIN"),
        api_key=dg.EnvVar("SALESMAN_API_KEY"),
        rate_limit=configured.rate_limit.rate,
        rate_burst=configured.rate_limit.burst,
    )


__all__ = [
    "DETAILS",
    "ENTITIES",
    "INVOICES",
    "SalesmanResource",
    "build_resource",
    "classify_salesman",
]
