"""Adesk: the bank and cash ledger (movements, transfers, projects, contractors, references).

`SOURCE` declares everything the rest of the pipeline needs to know about this source.
"""

from __future__ import annotations

from finance_pipeline.http.ratelimit import RateLimit
from finance_pipeline.sources.adesk.entities import ENTITIES
from finance_pipeline.sources.adesk.resource import DEFAULT_BASE_URL, AdeskResource
from finance_pipeline.sources.declaration import (
    EnvVariable,
    SourceDeclaration,
    token_validator,
    url_validator,
)

__all__ = ["ENTITIES", "SOURCE", "AdeskResource"]


SOURCE = SourceDeclaration(
    name="adesk",
    title="Adesk",
    variables=(
        EnvVariable(
            "ADESK_API_TOKEN",
            field="api_token",
            validate=token_validator("Copy the token again"),
            secret=True,
            description="API token (Settings > Profile > API).",
        ),
        EnvVariable(
            "ADESK_BASE_URL",
            field="api_base_url",
            # The client adds /v1/... itself.
            validate=url_validator(
                f"Leave it unset for {DEFAULT_BASE_URL}",
                refuse=lambda path: path.endswith(("/v1/", "/v2/")),
                problem="must not include the API version (/v1 or /v2)",
                fix=f"Give the host only, e.g. {DEFAULT_BASE_URL}",
            ),
            default=DEFAULT_BASE_URL,
            description="Base URL of the API, without /v1.",
        ),
    ),
    # Adesk publishes no number, only that an over-used method "gets blocked": the limiter learns
    # the account's rate per method (http/ratelimit.py), from the old fixed 5/s, never above
    # this cap.
    rate_limit=RateLimit(rate=20.0, burst=20, start=5.0),
    resource_class=AdeskResource,
    entities=ENTITIES,
)
