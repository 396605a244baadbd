"""What a source declares about itself, once: its variables, rate limit, resource and entities.

Each `sources/<system>/__init__.py` exports one `SOURCE = SourceDeclaration(...)`; the registry
(`sources/registry.py`) lists the four. Configuration (`config.py`), the Definitions
(`definitions.py`) and the benchmarks loop over the registry, so adding a variable or a source
means editing the source's declaration and nothing else.

Every variable has ONE validator, and `EnvVariable.accept` is the one place a value meets it:
it validates the value, registers it for masking when it is a secret, and returns the value that
is then used. `config.load_settings` accepts each value when the definitions load (so a malformed
value stops `dagster dev` naming the variable); a resource accepts its fields once, at run start
(`SourceResource.accepted_values`), because in live mode a secret reaches the run as a `dg.EnvVar`
resolved by Dagster, not as the value accepted at load time. Requests use only accepted values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import dagster as dg

from finance_pipeline.errors import ConfigError
from finance_pipeline.http.errors import ApiError, AuthenticationError, PaymentRequiredError
from finance_pipeline.http.masking import mask, register_secret
from finance_pipeline.http.ratelimit import RateLimit

if TYPE_CHECKING:
    from finance_pipeline.config import Settings
    from finance_pipeline.sources.extraction import EntitySpec
    from finance_pipeline.sources.resource_base import SourceResource

# (variable name, stripped value) -> the normalised value; raises ConfigError naming the variable.
Validator = Callable[[str, str], str]


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


def check_token(variable: str, value: str, hint: str = "Copy it again") -> str:
    """A credential that travels in a header or query string: printable ASCII, no whitespace."""
    if not value or not value.isascii() or any(c.isspace() or not c.isprintable() for c in value):
        raise ConfigError(variable, "is empty or contains whitespace/non-ASCII characters", hint)
    return value


def url_validator(
    hint: str, *, refuse: Callable[[str], bool] | None = None, problem: str = "", fix: str = ""
) -> Validator:
    """A base URL's validator: `check_base_url`, then the source's own rule on the URL's path
    (`refuse(path)` true -> ConfigError(problem, fix))."""

    def validate(variable: str, value: str) -> str:
        url = check_base_url(variable, value, hint)
        if refuse is not None and refuse(urlsplit(url).path.rstrip("/") + "/"):
            raise ConfigError(variable, problem, fix)
        return url

    return validate


def token_validator(hint: str) -> Validator:
    """A credential's validator: `check_token` with the source's hint on where to copy it."""

    def validate(variable: str, value: str) -> str:
        return check_token(variable, value, hint)

    return validate


def _credential_noun(variable: str) -> str:
    """ADESK_API_TOKEN -> "API token", BITRIX24_WEBHOOK_URL -> "webhook URL"."""
    words = variable.split("_")[1:]
    spelled = {"API": "API", "URL": "URL"}
    return " ".join(spelled.get(word, word.lower()) for word in words)


def _joined(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


@dataclass(frozen=True)
class EnvVariable:
    """One environment variable of a source and the resource field it fills."""

    name: str
    field: str
    validate: Validator
    secret: bool = False
    # None: the source is configured only when the variable is set. Otherwise the value used
    # when the variable is unset.
    default: str | None = None
    description: str = ""

    @property
    def required(self) -> bool:
        return self.default is None

    def accept(self, raw: str) -> str:
        """`raw` through this variable's validator: the value to use from now on.

        A secret is registered for masking before it is validated, so not even a refusal of it
        can print it, and again as normalised (the webhook URL gains its trailing slash)."""
        if self.secret:
            register_secret(raw)
        value = self.validate(self.name, raw)
        if self.secret and value != raw:
            register_secret(value)
        return value


@dataclass(frozen=True)
class SourceSettings:
    """A configured source: each variable's validated value, and the rate limit to keep."""

    values: Mapping[str, str]
    rate_limit: RateLimit


@dataclass(frozen=True)
class SourceDeclaration:
    name: str
    title: str  # as the vendor spells it, for messages
    variables: tuple[EnvVariable, ...]
    # The default cap and first-run rate; <NAME>_RATE_LIMIT / _RATE_BURST / _RATE_START override it.
    rate_limit: RateLimit
    resource_class: type[SourceResource]
    entities: Sequence[EntitySpec]

    def __post_init__(self) -> None:
        # The resource accepts its fields at run start through this declaration's variables.
        self.resource_class.declaration = self

    @property
    def required_variables(self) -> tuple[EnvVariable, ...]:
        return tuple(v for v in self.variables if v.required)

    @property
    def credential_variables(self) -> tuple[EnvVariable, ...]:
        """The variables holding this source's credentials (the secret ones)."""
        return tuple(v for v in self.variables if v.secret)

    def refusal(self, error: ApiError) -> str | None:
        """What to say when the API refused the whole account, naming the variables to fix;
        None when `error` is not such a refusal (every further request would be refused too,
        so the caller stops the source after the first)."""
        # An error inside a 200 answer (SalesMan's "error 400" body) says its own code.
        status = f" (HTTP {error.status})" if error.status and error.status >= 400 else ""
        said = f"{status} on {error.endpoint}: {error.detail}"
        if isinstance(error, AuthenticationError):
            names = [v.name for v in self.credential_variables]
            fixes = " and ".join(f"{name} to a valid {_credential_noun(name)}" for name in names)
            verb = "was" if len(names) == 1 else "were"
            return mask(f"{_joined(names)} {verb} refused by {self.title}{said}. Set {fixes}")
        if isinstance(error, PaymentRequiredError):
            return mask(f"{self.title} refused the account{said}. {error.hint}")
        return None

    def resource(self, settings: Settings) -> SourceResource:
        """This source's resource for the loaded settings.

        Configured in live mode: secrets as `dg.EnvVar` (Dagster never stores or shows them),
        other values as validated. In sandbox mode the secrets only open the fake APIs and are
        passed as plain values. Unconfigured: empty fields, so the assets report "skipped"
        (an EnvVar of an unset variable would fail the run instead).
        """
        configured = settings.source(self.name)
        if configured is None:
            fields: dict[str, Any] = {v.field: v.default or "" for v in self.variables}
            limit = self.rate_limit
        else:
            fields = {
                v.field: (
                    dg.EnvVar(v.name)
                    if v.secret and settings.secrets_from_environment
                    else configured.values[v.name]
                )
                for v in self.variables
            }
            limit = configured.rate_limit
        return self.resource_class(
            **fields, rate_limit=limit.rate, rate_burst=limit.burst, rate_start=limit.start
        )
