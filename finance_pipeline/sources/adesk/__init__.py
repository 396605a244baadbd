"""Adesk: the bank and cash ledger (movements, transfers, projects, contractors, references).

`build_resource(settings)` gives the resource for the current mode: the sandbox, the live API
with the token read from ADESK_API_TOKEN at run time (`dg.EnvVar`, never stored by Dagster), or
an unconfigured resource whose assets report "skipped".
"""

from __future__ import annotations

import dagster as dg

from finance_pipeline.config import Settings
from finance_pipeline.sources.adesk.assets import ENTITIES
from finance_pipeline.sources.adesk.resource import DEFAULT_BASE_URL, AdeskResource
from finance_pipeline.sources.resource_base import resource_for_settings

__all__ = ["ENTITIES", "AdeskResource", "build_resource"]


def build_resource(settings: Settings) -> AdeskResource:
    def sandbox() -> dict[str, str]:
        from finance_sandbox.core import SANDBOX_CREDENTIALS, sandbox_base_url

        return {
            "api_token": SANDBOX_CREDENTIALS["adesk"]["api_token"],
            "api_base_url": sandbox_base_url("adesk"),
        }

    return resource_for_settings(
        AdeskResource,
        settings,
        sandbox=sandbox,
        live=lambda live: {
            "api_token": dg.EnvVar("ADESK_API_TOKEN"),
            "api_base_url": live.base_url,
        },
        unconfigured={"api_token": "", "api_base_url": DEFAULT_BASE_URL},
    )
