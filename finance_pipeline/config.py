"""Configuration from the environment: the variable names here are a contract with the users.

`load_settings()` reads and validates everything once, when the definitions load, so a malformed
value fails early with a message that names the variable (and never prints a secret).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel

from finance_pipeline.http.errors import ConfigError
from finance_pipeline.http.masking import mask, register_secret
from finance_pipeline.http.ratelimit import RateLimit

log = logging.getLogger("finance_pipeline.config")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WAREHOUSE = "data/warehouse.duckdb"
SANDBOX_WAREHOUSE = "data/sandbox.duckdb"

# Client-side caps (<SOURCE>_RATE_LIMIT / <SOURCE>_RATE_BURST override them). Bitrix24 documents
# a leaky bucket of 50 with a drain of 2/s per webhook: that is its limit, never exceeded, with two
# requests of headroom for clock skew and other tools on the portal. The others publish no usable
# number: their limiter learns the account's limit (http/ratelimit.py), starting at START_RATES
# and never going above the cap.
DEFAULT_RATE_LIMITS: dict[str, RateLimit] = {
    "bitrix24": RateLimit(rate=2.0, burst=48),
    "salesman": RateLimit(rate=20.0, burst=20),
    "adesk": RateLimit(rate=20.0, burst=20),
    "apipay": RateLimit(rate=20.0, burst=20),
}

# Where learning starts on an account nothing was learned about yet: the fixed rates used before
# the limiter learned (SalesMan, Adesk), ApiPay's documented 60 requests per minute per API key
# (errors.md, "Rate Limiting").
START_RATES: dict[str, float] = {"salesman": 3.0, "adesk": 5.0, "apipay": 1.0}

SOURCES = ("bitrix24", "salesman", "adesk", "apipay")


class Mode(StrEnum):
    sandbox = "sandbox"
    live = "live"


_WEBHOOK_RE = re.compile(r"^/rest/(?P<user>\d+)/(?P<key>[A-Za-z0-9_\-]+)/?$")


def check_base_url(
    variable: str, value: str, hint: str = "Give the full address, e.g. https://host.example/..."
) -> str:
    """An http(s) URL without query or fragment; errors name the variable, never the secret."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(variable, f"{mask(value)!r} is not an http(s) URL", hint)
    if parts.query or parts.fragment:
        raise ConfigError(variable, "must not contain a query string or fragment")
    return value.rstrip("/")


def validate_webhook_url(value: str, variable: str = "BITRIX24_WEBHOOK_URL") -> str:
    """A Bitrix24 inbound webhook: https://<portal>/rest/<user id>/<key>/ (trailing slash kept)."""
    base = check_base_url(variable, value)
    path = urlsplit(base).path
    if not _WEBHOOK_RE.match(path + "/"):
        raise ConfigError(
            variable,
            f"{mask(value)!r} does not have the inbound webhook shape /rest/<user id>/<key>/",
            "Copy the URL from Bitrix24: Developer resources > Other > Inbound webhook",
        )
    return base + "/"


class Bitrix24Settings(BaseModel):
    webhook_url: str
    rate_limit: RateLimit = DEFAULT_RATE_LIMITS["bitrix24"]


class SalesmanSettings(BaseModel):
    base_url: str
    login: str
    api_key: str
    rate_limit: RateLimit = DEFAULT_RATE_LIMITS["salesman"]


class AdeskSettings(BaseModel):
    api_token: str
    base_url: str = "https://api.adesk.ru"
    rate_limit: RateLimit = DEFAULT_RATE_LIMITS["adesk"]


class ApipaySettings(BaseModel):
    api_key: str
    base_url: str = "https://bpapi.bazarbay.site/api/v1"
    rate_limit: RateLimit = DEFAULT_RATE_LIMITS["apipay"]


class Settings(BaseModel):
    mode: Mode
    warehouse_path: str
    bitrix24: Bitrix24Settings | None = None
    salesman: SalesmanSettings | None = None
    adesk: AdeskSettings | None = None
    apipay: ApipaySettings | None = None

    def configured(self, source: str) -> bool:
        return getattr(self, source) is not None

    @property
    def warehouse_file(self) -> Path:
        path = Path(self.warehouse_path)
        return path if path.is_absolute() or self.warehouse_path.startswith("md:") else PROJECT_ROOT / path


def _check_warehouse(settings: Settings) -> None:
    """FINANCE_WAREHOUSE must be a file DuckDB can create or open (or an md: path)."""
    if settings.warehouse_path.startswith("md:"):
        return
    path = settings.warehouse_file
    if path.is_dir():
        raise ConfigError(
            "FINANCE_WAREHOUSE", f"{settings.warehouse_path!r} is a directory, not a DuckDB file"
        )
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(
                    "FINANCE_WAREHOUSE",
                    f"{settings.warehouse_path!r} lies inside {str(parent)!r}, which is a file",
                )
            break


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _rate_limit(env: Mapping[str, str], source: str) -> RateLimit:
    """Optional overrides: <SOURCE>_RATE_LIMIT (req/s, the cap), <SOURCE>_RATE_BURST and
    <SOURCE>_RATE_START (req/s of a first run, before the limiter learned the account's rate)."""
    default = DEFAULT_RATE_LIMITS[source]
    prefix = source.upper()
    rate, burst, start = default.rate, default.burst, default.start
    raw_rate, raw_burst = _get(env, f"{prefix}_RATE_LIMIT"), _get(env, f"{prefix}_RATE_BURST")
    raw_start = _get(env, f"{prefix}_RATE_START")
    try:
        if raw_rate is not None:
            rate = float(raw_rate)
        if raw_burst is not None:
            burst = int(raw_burst)
        if raw_start is not None:
            start = float(raw_start)
        return RateLimit(rate=rate, burst=burst, start=start)
    except ValueError as exc:
        raise ConfigError(
            f"{prefix}_RATE_LIMIT/{prefix}_RATE_BURST/{prefix}_RATE_START",
            "must be positive numbers of requests per second and a positive whole burst",
        ) from exc


def _secret(env: Mapping[str, str], name: str) -> str | None:
    value = _get(env, name)
    if name in env and value is None:
        raise ConfigError(name, "is set but empty", "Remove it to skip the source, or give a value")
    register_secret(value)
    return value


CREDENTIAL_VARIABLES = {
    "bitrix24": ("BITRIX24_WEBHOOK_URL",),
    "salesman": ("SALESMAN_BASE_URL", "SALESMAN_LOGIN", "SALESMAN_API_KEY"),
    "adesk": ("ADESK_API_TOKEN",),
    "apipay": ("APIPAY_API_KEY",),
}


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    any_credentials = any(_get(env, v) for vs in CREDENTIAL_VARIABLES.values() for v in vs)
    raw_mode = (_get(env, "FINANCE_PIPELINE_MODE") or "").lower()
    if raw_mode and raw_mode not in ("sandbox", "live"):
        raise ConfigError("FINANCE_PIPELINE_MODE", f"{raw_mode!r} is neither 'sandbox' nor 'live'")
    mode = Mode(raw_mode) if raw_mode else (Mode.live if any_credentials else Mode.sandbox)
    if raw_mode != "sandbox":
        # A credential that is set but empty is a mistake (a half-filled .env), not "no source".
        for names in CREDENTIAL_VARIABLES.values():
            for name in names:
                if name in env and _get(env, name) is None:
                    raise ConfigError(
                        name, "is set but empty", "Remove it to skip the source, or give a value"
                    )
    default_path = SANDBOX_WAREHOUSE if mode is Mode.sandbox else DEFAULT_WAREHOUSE
    warehouse = _get(env, "FINANCE_WAREHOUSE") or default_path
    settings = Settings(mode=mode, warehouse_path=warehouse)
    _check_warehouse(settings)
    if mode is Mode.sandbox:
        return settings

    webhook = _secret(env, "BITRIX24_WEBHOOK_URL")
    if webhook:
        settings.bitrix24 = Bitrix24Settings(
            webhook_url=validate_webhook_url(webhook), rate_limit=_rate_limit(env, "bitrix24")
        )

    sm_url = _get(env, "SALESMAN_BASE_URL")
    sm_login = _get(env, "SALESMAN_LOGIN")
    sm_key = _secret(env, "SALESMAN_API_KEY")
    if sm_url or sm_login or sm_key:
        missing = [
            name
            for name, value in (
                ("SALESMAN_BASE_URL", sm_url),
                ("SALESMAN_LOGIN", sm_login),
                ("SALESMAN_API_KEY", sm_key),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                ", ".join(missing), "missing: SalesMan needs its base URL, login and API key"
            )
        settings.salesman = SalesmanSettings(
            base_url=check_base_url("SALESMAN_BASE_URL", sm_url or ""),
            login=sm_login or "",
            api_key=sm_key or "",
            rate_limit=_rate_limit(env, "salesman"),
        )

    adesk_token = _secret(env, "ADESK_API_TOKEN")
    if adesk_token:
        settings.adesk = AdeskSettings(
            api_token=adesk_token,
            base_url=check_base_url("ADESK_BASE_URL", _get(env, "ADESK_BASE_URL") or AdeskSettings.model_fields["base_url"].default),
            rate_limit=_rate_limit(env, "adesk"),
        )

    apipay_key = _secret(env, "APIPAY_API_KEY")
    if apipay_key:
        settings.apipay = ApipaySettings(
            api_key=apipay_key,
            base_url=check_base_url("APIPAY_BASE_URL", _get(env, "APIPAY_BASE_URL") or ApipaySettings.model_fields["base_url"].default),
            rate_limit=_rate_limit(env, "apipay"),
        )
    return settings
