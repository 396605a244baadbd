"""What every source's Dagster resource has in common.

A source resource knows its credentials (given as `EnvVar`s so Dagster never stores or shows
them), how to authenticate, and how its API phrases errors. Which variables fill which fields,
and how each is validated, is the source's declaration (`sources/<system>/__init__.py`). The
resource accepts its fields once, through the declaration (`accepted_values`: validated, secrets
registered for masking), and builds every request from those accepted values only.
`client()` returns the shared `ApiClient`; whether a URL is served by the real service or by a
transport mounted for it (`http/transports.py`) is not the resource's business.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import dagster as dg
from pydantic import Field, PrivateAttr

from finance_pipeline.config import rate_limit_directory
from finance_pipeline.http.client import (
    ApiClient,
    CalledMethods,
    Classifier,
    MethodLoads,
    RetryPolicy,
)
from finance_pipeline.http.concurrent import DEFAULT_WORKERS
from finance_pipeline.http.ratelimit import AdaptiveLimiter, LimiterPolicy, RateLimit
from finance_pipeline.http.stats import RequestStats

if TYPE_CHECKING:
    from finance_pipeline.sources.declaration import SourceDeclaration


class SourceResource(dg.ConfigurableResource):
    source: ClassVar[str]
    # Set by the source's SourceDeclaration, which holds the variables and the default limit.
    declaration: ClassVar[SourceDeclaration]

    rate_limit: float | None = Field(
        default=None,
        gt=0,
        description="Sustained requests per second (unset: the source's declared default).",
    )
    rate_burst: int | None = Field(
        default=None,
        ge=1,
        description="Requests sent back to back (unset: the source's declared default).",
    )
    rate_start: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Requests per second of a first run, before the account's rate is learned (unset: "
            "the source's declared start)."
        ),
    )
    concurrent_requests: int = Field(
        default=DEFAULT_WORKERS,
        ge=1,
        le=16,
        description=(
            "Independent requests of one read in flight at once (one per contractor, per "
            "invoice): they overlap waiting for answers; the rate limiter still paces them."
        ),
    )
    timeout_seconds: float = Field(default=60.0, gt=0, description="Per-request timeout.")
    max_attempts: int = Field(default=6, ge=1, le=20, description="Attempts before giving up.")
    retry_base_delay: float = Field(default=0.5, ge=0, description="First backoff delay (s).")
    retry_max_delay: float = Field(default=30.0, ge=0, description="Longest backoff delay (s).")

    # Each declared field as its variable accepted it; filled once, at run start or first use.
    _accepted: dict[str, str] | None = PrivateAttr(default=None)

    # --- from the declaration -----------------------------------------------------------------
    def _field_value(self, field: str) -> str:
        return str(getattr(self, field) or "").strip()

    def missing_variables(self) -> list[str]:
        return [
            v.name for v in self.declaration.required_variables if not self._field_value(v.field)
        ]

    def is_configured(self) -> bool:
        return not self.missing_variables()

    def not_configured_reason(self) -> str:
        missing = self.missing_variables()
        return f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set"

    def accepted_values(self) -> dict[str, str]:
        """Each declared field as its variable accepted it (`EnvVariable.accept`: validated and,
        when secret, registered for masking), once per resource; what every request is built
        from. A source that is not configured is never asked for a request: its fields are
        only stripped."""
        if self._accepted is None:
            configured = self.is_configured()
            self._accepted = {
                v.field: v.accept(self._field_value(v.field))
                if configured
                else self._field_value(v.field)
                for v in self.declaration.variables
            }
        return self._accepted

    def value(self, field: str) -> str:
        """The accepted value of one declared field."""
        return self.accepted_values()[field]

    def effective_rate_limit(self) -> RateLimit:
        default = self.declaration.rate_limit
        return RateLimit(
            rate=self.rate_limit or default.rate,
            burst=self.rate_burst or default.burst,
            start=self.rate_start or default.start,
        )

    # --- what each source defines ---------------------------------------------------------
    # The declared field holding the URL requests are sent to.
    base_url_field: ClassVar[str]
    # The declared field naming the account the API counts requests against, together with the
    # base URL (None: the base URL alone, e.g. a Bitrix24 webhook is one portal's).
    account_field: ClassVar[str | None] = None

    def base_url(self) -> str:
        return self.value(self.base_url_field)

    def auth_headers(self) -> dict[str, str]:
        return {}

    def auth_params(self) -> dict[str, str]:
        return {}

    def account_key(self) -> str:
        """Identifies the account whose rate limit requests count against (the limiter hashes
        it into a bucket name; it is never written in clear)."""
        if self.account_field is None:
            return self.base_url()
        return f"{self.base_url()}\0{self.value(self.account_field)}"

    classify: ClassVar[Classifier | None] = None
    # How the limiter learns this API's limit below the `rate_limit` cap (see ratelimit.py).
    limiter_policy: ClassVar[LimiterPolicy] = LimiterPolicy()
    called_methods: ClassVar[CalledMethods | None] = None
    method_loads: ClassVar[MethodLoads | None] = None

    # --- shared -----------------------------------------------------------------------------
    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # At run start, so a malformed value fails the run before any asset, naming its variable.
        self.accepted_values()

    def limiter(self) -> AdaptiveLimiter:
        return AdaptiveLimiter(
            self.source,
            self.account_key(),
            self.effective_rate_limit(),
            type(self).limiter_policy,
            rate_limit_directory(),
            max_pause=self.retry_max_delay,
        )

    def client(self, stats: RequestStats | None = None) -> ApiClient:
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
            stats=stats,
        )
