"""SalesMan CRM (API v3, method "invoice"): invoices and their details.

`SOURCE` declares everything the rest of the pipeline needs to know about this source.
"""

from __future__ import annotations

from finance_pipeline.http.ratelimit import RateLimit
from finance_pipeline.sources.declaration import (
    EnvVariable,
    SourceDeclaration,
    token_validator,
    url_validator,
)
from finance_pipeline.sources.salesman.entities import DETAILS, ENTITIES, INVOICES
from finance_pipeline.sources.salesman.resource import SalesmanResource, classify_salesman

__all__ = ["DETAILS", "ENTITIES", "INVOICES", "SOURCE", "SalesmanResource", "classify_salesman"]


SOURCE = SourceDeclaration(
    name="salesman",
    title="SalesMan",
    variables=(
        EnvVariable(
            "SALESMAN_BASE_URL",
            field="crm_base_url",
            validate=url_validator(
                "Give the CRM's address, e.g. https://crm.example.ru",
                refuse=lambda path: "/developer/" in path,
                problem="must be the CRM's address, not an API URL",
                fix="Drop /developer/v3/... from it; the pipeline adds the API path itself",
            ),
            description="Address of the SalesMan CRM, without /developer/v3.",
        ),
        EnvVariable(
            "SALESMAN_LOGIN",
            field="login",
            # Travels in an HTTP header: plain printable ASCII.
            validate=token_validator(
                "Use the user's login as shown in SalesMan, e.g. name@company.ru"
            ),
            secret=True,  # half of the credential pair: passed as an EnvVar like the key
            description="Login of the SalesMan user the API acts as.",
        ),
        EnvVariable(
            "SALESMAN_API_KEY",
            field="api_key",
            validate=token_validator("Copy the key again from Control panel > API"),
            secret=True,
            description="Account API key from the control panel.",
        ),
    ),
    # SalesMan publishes no limit: the limiter learns the account's rate (http/ratelimit.py),
    # from the old fixed guess of 3/s, never above this cap.
    rate_limit=RateLimit(rate=20.0, burst=20, start=3.0),
    resource_class=SalesmanResource,
    entities=ENTITIES,
)
