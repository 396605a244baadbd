"""What every source's Dagster resource has in common.

A source resource knows its credentials (given as `EnvVar`s so Dagster never stores or shows
them), how to authenticate, and how its API phrases errors. `client()` returns the shared
`ApiClient`, pointed either at the real service or at the built-in sandbox (`sandbox=True`): the
same code runs in both, only the transport differs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import dagster as dg
import httpx
from pydantic import Field

from finance_pipeline.config import DEFAULT_RATE_LIMITS, Mode, Settings
from finance_pipeline.http.client import (
    ApiClient,
    CalledMethods,
    Classifier,
    MethodLoads,
    RetryPolicy,
)
from finance_pipeline.http.masking import register_secret
from finance_pipeline.http.ratelimit import AdaptiveLimiter, LimiterPolicy, RateLimit
from finance_pipeline.http.stats import RequestStats


class SourceResource(dg.ConfigurableResource):
    source: ClassVar[str]

    rate_limit: float = Field(default=2.0, gt=0, description="Sustained requests per second.")
    rate_burst: int = Field(default=1, ge=1, description="Requests that may be sent back to back.")
    rate_start: float | None = Field(
        default=None,
        gt=0,
        description="Requests per second of a first run, before the account's rate is learned.",
    )
    timeout_seconds: float = Field(default=60.0, gt=0, description="Per-request timeout.")
    max_attempts: int = Field(default=6, ge=1, le=20, description="Attempts before giving up.")
    retry_base_delay: float = Field(default=0.5, ge=0, description="First backoff delay (s).")
    retry_max_delay: float = Field(default=30.0, ge=0, description="Longest backoff delay (s).")
    sandbox: bool = Field(default=False, description="Serve this source from the built-in sandbox.")

    # --- what each source defines ---------------------------------------------------------
    def is_configured(self) -> bool:
        raise NotImplementedError

    def not_configured_reason(self) -> str:
        raise NotImplementedError

    def validate_config(self) -> None:
        """Raise ConfigError naming the variable if a value is malformed."""

    def base_url(self) -> str:
        raise NotImplementedError

    def secrets(self) -> list[str]:
        """Every credential value, so masking knows them."""
        raise NotImplementedError

    def auth_headers(self) -> dict[str, str]:
        return {}

    def auth_params(self) -> dict[str, str]:
        return {}

    def account_key(self) -> str:
        """Identifies the account whose rate limit requests count against."""
        return self.base_url()

    classify: ClassVar[Classifier | None] = None
    # How the limiter learns this API's limit below the `rate_limit` cap (see ratelimit.py).
    limiter_policy: ClassVar[LimiterPolicy] = LimiterPolicy()
    called_methods: ClassVar[CalledMethods | None] = None
    method_loads: ClassVar[MethodLoads | None] = None

    # --- shared -----------------------------------------------------------------------------
    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        for secret in self.secrets():
            register_secret(secret)
        if self.is_configured():
            self.validate_config()

    def limiter(self) -> AdaptiveLimiter:
        cap = RateLimit(rate=self.rate_limit, burst=self.rate_burst, start=self.rate_start)
        return AdaptiveLimiter(
            self.source,
            self.account_key(),
            cap,
            type(self).limiter_policy,
            max_pause=self.retry_max_delay,
        )

    def transport(self) -> httpx.BaseTransport | None:
        if not self.sandbox:
            return None
        from finance_pipeline.sandbox import get_sandbox

        return get_sandbox().transport(self.source)

    def client(self, stats: RequestStats | None = None) -> ApiClient:
        for secret in self.secrets():
            register_secret(secret)
        return ApiClient(
            self.source,
            self.base_url(),
            limiter=self.limiter(),
            retry=RetryPolicy(
                max_attempts=self.max_attempts,
                base_delay=self.retry_base_delay,
                max_delay=self.retry_max_delay,
            ),
            timeout=self.timeout_seconds,
            auth_headers=self.auth_headers(),
            auth_params=self.auth_params(),
            classify=type(self).classify,
            called_methods=type(self).called_methods,
            method_loads=type(self).method_loads,
            transport=self.transport(),
            stats=stats,
        )


R = TypeVar("R", bound=SourceResource)


def resource_for_settings(
    resource_cls: type[R],
    settings: Settings,
    *,
    sandbox: Callable[[], Mapping[str, Any]],
    live: Callable[[Any], Mapping[str, Any]],
    unconfigured: Mapping[str, Any],
) -> R:
    """The one way every source turns settings into its resource.

    sandbox: fields pointing at the built-in sandbox (its fixed credentials);
    live: fields from the source's validated live settings, secrets as `dg.EnvVar` so Dagster
        never stores or shows them;
    unconfigured: plain empty fields, so the source's assets report "skipped" instead of failing
        (an EnvVar of an unset variable would fail the run).
    """
    source = resource_cls.source
    if settings.mode is Mode.sandbox:
        limit = DEFAULT_RATE_LIMITS[source]
        return resource_cls(
            **sandbox(),
            sandbox=True,
            rate_limit=limit.rate,
            rate_burst=limit.burst,
            rate_start=limit.start,
        )
    configured = getattr(settings, source)
    if configured is None:
        limit = DEFAULT_RATE_LIMITS[source]
        return resource_cls(
            **unconfigured, rate_limit=limit.rate, rate_burst=limit.burst, rate_start=limit.start
        )
    return resource_cls(
        **live(configured),
        rate_limit=configured.rate_limit.rate,
        rate_burst=configured.rate_limit.burst,
        rate_start=configured.rate_limit.start,
    )
