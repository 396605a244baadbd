"""Adesk: the bank and cash ledger (movements, transfers, projects, contractors, references).

`build_resource(settings)` gives the resource for the current mode: the sandbox, the live API
with the token read from ADESK_API_TOKEN at run time (`dg.EnvVar`, never stored by Dagster), or
an unconfigured resource whose assets report "skipped".
"""

from __future__ import annotations

import dagster as dg

from finance_pipeline.config import DEFAULT_RATE_LIMITS, Mode, Settings
from finance_pipeline.sources.adesk.assets import ENTITIES
from finance_pipeline.sources.adesk.resource import DEFAULT_BASE_URL, AdeskResource

__all__ = ["ENTITIES", "AdeskResource", "build_resource"]


def build_resource(settings: Settings) -> AdeskResource:
    if settings.mode == Mode.sandbox:
        from finance_pipeline.sandbox.core import SANDBOX_BASE_PATHS, SANDBOX_CREDENTIALS

        limit = DEFAULT_RATE_LIMITS["adesk"]
        creds = SANDBOX_CREDENTIALS["adesk"]
        return AdeskResource(
            api_token=creds["api_token"],
            api_base_url="http://adesk.sandbox" + SANDBOX_BASE_PATHS["adesk"].format(**creds),
            sandbox=True,
            rate_limit=limit.rate,
            rate_burst=limit.burst,
        )
    live = settings.adesk
    if live is None:
        limit = DEFAULT_RATE_LIMITS["adesk"]
        return AdeskResource(
            api_token="",
            api_base_url=DEFAULT_BASE_URL,
            rate_limit=limit.rate,
            rate_burst=limit.burst,
        )
    return AdeskResource(
        api_token=dg.EnvVar("ADESK_API_TOKEN"),
        api_base_url=live.base_url,
        rate_limit=live.rate_limit.rate,
        rate_burst=live.rate_limit.burst,
    )
