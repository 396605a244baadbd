"""ApiPay.kz: Kaspi Pay invoices and their refunds (KZT).

`build_resource(settings)` gives the resource for the current mode: the sandbox, the live API
with the key read from APIPAY_API_KEY at run time (`dg.EnvVar`, never stored by Dagster), or an
unconfigured resource whose assets report "skipped".
"""

from __future__ import annotations

import dagster as dg

from finance_pipeline.config import DEFAULT_RATE_LIMITS, Mode, Settings
from finance_pipeline.sources.apipay.assets import ENTITIES
from finance_pipeline.sources.apipay.resource import DEFAULT_BASE_URL, ApipayResource

__all__ = ["ENTITIES", "ApipayResource", "build_resource"]


def build_resource(settings: Settings) -> ApipayResource:
    if settings.mode == Mode.sandbox:
        from finance_pipeline.sandbox.core import SANDBOX_BASE_PATHS, SANDBOX_CREDENTIALS

        limit = DEFAULT_RATE_LIMITS["apipay"]
        return ApipayResource(
            api_key=SANDBOX_CREDENTIALS["apipay"]["api_key"],
            api_base_url="http://apipay.sandbox" + SANDBOX_BASE_PATHS["apipay"],
            sandbox=True,
            rate_limit=limit.rate,
            rate_burst=limit.burst,
        )
    live = settings.apipay
    if live is None:
        limit = DEFAULT_RATE_LIMITS["apipay"]
        return ApipayResource(
            api_key="",
            api_base_url=DEFAULT_BASE_URL,
            rate_limit=limit.rate,
            rate_burst=limit.burst,
        )
    return ApipayResource(
        api_key=dg.EnvVar("APIPAY_API_KEY"),
        api_base_url=live.base_url,
        rate_limit=live.rate_limit.rate,
        rate_burst=live.rate_limit.burst,
    )
