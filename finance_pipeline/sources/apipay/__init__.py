"""ApiPay.kz: Kaspi Pay invoices and their refunds (KZT).

`SOURCE` declares everything the rest of the pipeline needs to know about this source.
"""

from __future__ import annotations

from finance_pipeline.http.ratelimit import RateLimit
from finance_pipeline.sources.apipay.entities import ENTITIES
from finance_pipeline.sources.apipay.resource import DEFAULT_BASE_URL, ApipayResource
from finance_pipeline.sources.declaration import (
    EnvVariable,
    SourceDeclaration,
    token_validator,
    url_validator,
)

__all__ = ["ENTITIES", "SOURCE", "ApipayResource"]


SOURCE = SourceDeclaration(
    name="apipay",
    title="ApiPay",
    variables=(
        EnvVariable(
            "APIPAY_API_KEY",
            field="api_key",
            validate=token_validator("Copy the key again"),
            secret=True,
            description="API key (Settings > Connection), sent as X-API-Key.",
        ),
        EnvVariable(
            "APIPAY_BASE_URL",
            field="api_base_url",
            validate=url_validator(f"Leave it unset for {DEFAULT_BASE_URL}"),
            default=DEFAULT_BASE_URL,
            description="Base URL of the API, up to and including /api/v1.",
        ),
    ),
    # ApiPay documents 60 requests per minute per API key (errors.md, "Rate Limiting") and its
    # answers announce X-RateLimit-*: start at the documented rate, follow what the server
    # announces, never above this cap.
    rate_limit=RateLimit(rate=20.0, burst=20, start=1.0),
    resource_class=ApipayResource,
    entities=ENTITIES,
)
