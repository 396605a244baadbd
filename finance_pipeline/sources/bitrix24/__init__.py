"""Bitrix24: smart invoices and their product rows, companies, requisites, catalog products.

`SOURCE` declares everything the rest of the pipeline needs to know about this source.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from finance_pipeline.errors import ConfigError
from finance_pipeline.http.masking import mask
from finance_pipeline.http.ratelimit import RateLimit
from finance_pipeline.sources.bitrix24.entities import ENTITIES
from finance_pipeline.sources.bitrix24.resource import Bitrix24Resource
from finance_pipeline.sources.declaration import EnvVariable, SourceDeclaration, check_base_url

__all__ = ["ENTITIES", "SOURCE", "Bitrix24Resource", "validate_webhook_url"]

_WEBHOOK_RE = re.compile(r"^/rest/(?P<user>\d+)/(?P<key>[A-Za-z0-9_\-]+)/?$")


def validate_webhook_url(variable: str, value: str) -> str:
    """A Bitrix24 inbound webhook: https://<portal>/rest/<user id>/<key>/ (trailing slash kept)."""
    base = check_base_url(variable, value)
    if not _WEBHOOK_RE.match(urlsplit(base).path + "/"):
        raise ConfigError(
            variable,
            f"{mask(value)!r} does not have the inbound webhook shape /rest/<user id>/<key>/",
            "Copy the URL from Bitrix24: Developer resources > Other > Inbound webhook",
        )
    return base + "/"


SOURCE = SourceDeclaration(
    name="bitrix24",
    title="Bitrix24",
    variables=(
        EnvVariable(
            "BITRIX24_WEBHOOK_URL",
            field="webhook_url",
            validate=validate_webhook_url,
            secret=True,
            description="Inbound webhook https://<portal>/rest/<user id>/<key>/ with the crm "
            "scope; the key inside it is the credential.",
        ),
    ),
    # Bitrix24 documents a leaky bucket of 50 with a drain of 2/s per webhook; we keep two
    # requests of headroom for clock skew and other tools on the portal.
    rate_limit=RateLimit(rate=2.0, burst=48),
    resource_class=Bitrix24Resource,
    entities=ENTITIES,
)
