"""ApiPay.kz: Kaspi Pay invoices and their refunds (KZT).

`SOURCE` declares everything the rest of the pipeline needs to know about this source.
"""

from __future__ import annotations

from finance_pipeline.http.ratelimit import RateLimit
from finance_pipeline.sources.apipay.assets import ENTITIES
from finance_pipeline.sources.apipay.resource import DEFAULT_BASE_URL, ApipayResource
from finance_pipeline.sources.declaration import (
    EnvVariable,
    SourceDeclaration,
    check_base_url,
    check_token,
)

__all__ = ["ENTITIES", "SOURCE", "ApipayResource"]


def validate_api_url(variable: str, value: str) -> str:
    return check_base_url(variable, value, f"Leave it unset for {DEFAULT_BASE_URL}")


def validate_api_key(variable: str, value: str) -> str:
    return check_token(variable, value, "Copy the key again")


SOURCE = SourceDeclaration(
    name="apipay",
    title="ApiPay",
    variables=(
        EnvVariable(
            "APIPAY_API_KEY",
            field="api_key",
            validate=validate_api_key,
            secret=True,
            description="API key (Settings > Connection), sent as X-API-Key.",
        ),
        EnvVariable(
            "APIPAY_BASE_URL",
            field="api_base_url",
            validate=validate_api_url,
            default=DEFAULT_BASE_URL,
            description="Base URL of the API, up to and including /api/v1.",
        ),
    ),
    # ApiPay documents 60 requests per minute per API key (errors.md, "Rate Limiting").
    rate_limit=RateLimit(rate=1.0, burst=50),
    resource_class=ApipayResource,
    entities=ENTITIES,
)
