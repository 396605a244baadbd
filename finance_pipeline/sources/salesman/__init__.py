"""SalesMan CRM (API v3, method "invoice"): invoices and their details.

`SOURCE` declares everything the rest of the pipeline needs to know about this source.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from finance_pipeline.errors import ConfigError
from finance_pipeline.http.ratelimit import RateLimit
from finance_pipeline.sources.declaration import (
    EnvVariable,
    SourceDeclaration,
    check_base_url,
    check_token,
)
from finance_pipeline.sources.salesman.assets import DETAILS, ENTITIES, INVOICES
from finance_pipeline.sources.salesman.resource import SalesmanResource, classify_salesman

__all__ = ["DETAILS", "ENTITIES", "INVOICES", "SOURCE", "SalesmanResource", "classify_salesman"]


def validate_crm_url(variable: str, value: str) -> str:
    """The CRM's own address: the pipeline adds /developer/v3/... itself."""
    url = check_base_url(variable, value, "Give the CRM's address, e.g. https://crm.example.ru")
    if "/developer/" in urlsplit(url).path.rstrip("/") + "/":
        raise ConfigError(
            variable,
            "must be the CRM's address, not an API URL",
            "Drop /developer/v3/... from it; the pipeline adds the API path itself",
        )
    return url


def validate_login(variable: str, value: str) -> str:
    """The login travels in an HTTP header: plain printable ASCII."""
    return check_token(
        variable, value, "Use the user's login as shown in SalesMan, e.g. name@company.ru"
    )


def validate_api_key(variable: str, value: str) -> str:
    return check_token(variable, value, "Copy the key again from Control panel > API")


SOURCE = SourceDeclaration(
    name="salesman",
    title="SalesMan",
    variables=(
        EnvVariable(
            "SALESMAN_BASE_URL",
            field="crm_base_url",
            validate=validate_crm_url,
            description="Address of the SalesMan CRM, without /developer/v3.",
        ),
        EnvVariable(
            "SALESMAN_LOGIN",
            field="login",
            validate=validate_login,
            secret=True,  # half of the credential pair: passed as an EnvVar like the key
            description="Login of the SalesMan user the API acts as.",
        ),
        EnvVariable(
            "SALESMAN_API_KEY",
            field="api_key",
            validate=validate_api_key,
            secret=True,
            description="Account API key from the control panel.",
        ),
    ),
    # SalesMan publishes no limit; we stay well below what such APIs usually tolerate.
    rate_limit=RateLimit(rate=3.0, burst=5),
    resource_class=SalesmanResource,
    entities=ENTITIES,
)
