"""Adesk: the bank and cash ledger (movements, transfers, projects, contractors, references).

`SOURCE` declares everything the rest of the pipeline needs to know about this source.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from finance_pipeline.errors import ConfigError
from finance_pipeline.http.ratelimit import RateLimit
from finance_pipeline.sources.adesk.assets import ENTITIES
from finance_pipeline.sources.adesk.resource import DEFAULT_BASE_URL, AdeskResource
from finance_pipeline.sources.declaration import (
    EnvVariable,
    SourceDeclaration,
    check_base_url,
    check_token,
)

__all__ = ["ENTITIES", "SOURCE", "AdeskResource"]


def validate_api_host(variable: str, value: str) -> str:
    """The API's host: the client adds /v1/... itself."""
    url = check_base_url(variable, value, f"Leave it unset for {DEFAULT_BASE_URL}")
    if urlsplit(url).path.rstrip("/").endswith(("/v1", "/v2")):
        raise ConfigError(
            variable,
            "must not include the API version (/v1 or /v2)",
            f"Give the host only, e.g. {DEFAULT_BASE_URL}",
        )
    return url


def validate_api_token(variable: str, value: str) -> str:
    return check_token(variable, value, "Copy the token again")


SOURCE = SourceDeclaration(
    name="adesk",
    title="Adesk",
    variables=(
        EnvVariable(
            "ADESK_API_TOKEN",
            field="api_token",
            validate=validate_api_token,
            secret=True,
            description="API token (Settings > Profile > API).",
        ),
        EnvVariable(
            "ADESK_BASE_URL",
            field="api_base_url",
            validate=validate_api_host,
            default=DEFAULT_BASE_URL,
            description="Base URL of the API, without /v1.",
        ),
    ),
    # Adesk publishes no limit; we stay well below what such APIs usually tolerate.
    rate_limit=RateLimit(rate=5.0, burst=10),
    resource_class=AdeskResource,
    entities=ENTITIES,
)
