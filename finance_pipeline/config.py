"""Configuration from the environment: the variable names here are a contract with the users.

`load_settings()` reads and validates everything once, when the definitions load, so a malformed
value fails early with a message that names the variable (and never prints a secret).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel

from finance_pipeline.errors import ConfigError
from finance_pipeline.http.ratelimit import RateLimit
from finance_pipeline.sources.declaration import SourceDeclaration, SourceSettings

log = logging.getLogger("finance_pipeline.config")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WAREHOUSE = "data/warehouse.duckdb"
SANDBOX_WAREHOUSE = "data/sandbox.duckdb"
RATE_LIMIT_DIR_VARIABLE = "FINANCE_RATE_LIMIT_DIR"
MEMORY_LIMIT_VARIABLE = "FINANCE_DUCKDB_MEMORY_LIMIT"
TEMP_DIRECTORY_VARIABLE = "FINANCE_DUCKDB_TEMP_DIRECTORY"
DEFAULT_MEMORY_LIMIT = "512MB"
_SIZE = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


class Mode(StrEnum):
    sandbox = "sandbox"
    live = "live"


class Settings(BaseModel):
    mode: Mode
    warehouse_path: str
    # Configured sources only; an absent source's assets report "skipped".
    sources: dict[str, SourceSettings] = {}
    duckdb_memory_limit: str | None = DEFAULT_MEMORY_LIMIT
    duckdb_temp_directory: str | None = None

    model_config = {"arbitrary_types_allowed": True}

    def source(self, name: str) -> SourceSettings | None:
        return self.sources.get(name)

    def configured(self, source: str) -> bool:
        return source in self.sources

    @property
    def secrets_from_environment(self) -> bool:
        """Live secrets reach runs as `dg.EnvVar`s; the sandbox's open only the fake APIs."""
        return self.mode is Mode.live

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


def _rate_limit(env: Mapping[str, str], source: SourceDeclaration) -> RateLimit:
    """Optional overrides of every source: <SOURCE>_RATE_LIMIT (req/s, the cap),
    <SOURCE>_RATE_BURST and <SOURCE>_RATE_START (req/s of a first run, before the limiter learned
    the account's rate; see http/ratelimit.py)."""
    prefix = source.name.upper()
    declared = source.rate_limit
    rate, burst, start = declared.rate, declared.burst, declared.start
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


def _source_settings(env: Mapping[str, str], source: SourceDeclaration) -> SourceSettings | None:
    """A source's validated values, or None when none of its required variables is set."""
    given = {v.name: _get(env, v.name) for v in source.variables}
    required = source.required_variables
    if not any(given[v.name] for v in required):
        return None
    missing = [v.name for v in required if not given[v.name]]
    if missing:
        names = ", ".join(v.name for v in required)
        raise ConfigError(", ".join(missing), f"missing: {source.title} needs {names}")
    values = {v.name: v.accept(given[v.name] or v.default or "") for v in source.variables}
    return SourceSettings(values=values, rate_limit=_rate_limit(env, source))


def declared_sources() -> tuple[SourceDeclaration, ...]:
    # Imported on use: the sources' modules import this one (Mode, the directories below).
    from finance_pipeline.sources.registry import SOURCES

    return SOURCES


def source_variables() -> list[str]:
    return [v.name for source in declared_sources() for v in source.variables]


def environment() -> dict[str, str]:
    """This process's environment: the one place the product reads it from."""
    return dict(os.environ)


def resolve_mode(env: Mapping[str, str]) -> Mode:
    """FINANCE_PIPELINE_MODE, or live as soon as any source variable is set."""
    raw_mode = (_get(env, "FINANCE_PIPELINE_MODE") or "").lower()
    if raw_mode and raw_mode not in ("sandbox", "live"):
        raise ConfigError("FINANCE_PIPELINE_MODE", f"{raw_mode!r} is neither 'sandbox' nor 'live'")
    if raw_mode:
        return Mode(raw_mode)
    required = [v.name for s in declared_sources() for v in s.required_variables]
    return Mode.live if any(_get(env, name) for name in required) else Mode.sandbox


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Every variable, validated once. Sources are read from `env` in either mode: in sandbox
    mode `definitions.py` adds the sandbox's own values before calling this."""
    env = os.environ if env is None else env
    mode = resolve_mode(env)
    if (_get(env, "FINANCE_PIPELINE_MODE") or "").lower() != "sandbox":
        # A variable that is set but empty is a mistake (a half-filled .env), not "no source".
        for name in source_variables():
            if name in env and _get(env, name) is None:
                raise ConfigError(
                    name, "is set but empty", "Remove it to skip the source, or give a value"
                )
    default_path = SANDBOX_WAREHOUSE if mode is Mode.sandbox else DEFAULT_WAREHOUSE
    warehouse = _get(env, "FINANCE_WAREHOUSE") or default_path
    settings = Settings(
        mode=mode,
        warehouse_path=warehouse,
        duckdb_memory_limit=duckdb_memory_limit(env),
        duckdb_temp_directory=_get(env, TEMP_DIRECTORY_VARIABLE),
    )
    _check_warehouse(settings)
    for source in declared_sources():
        configured = _source_settings(env, source)
        if configured is not None:
            settings.sources[source.name] = configured
    return settings


# --- FINANCE_* variables read at the moment of use (still only here) -------------------------


def rate_limit_directory(env: Mapping[str, str] | None = None) -> Path:
    """Where the cross-process rate-limit buckets live (FINANCE_RATE_LIMIT_DIR).

    Read at each use rather than at load, as before: tests and benchmarks point each run at
    its own directory by changing the environment of the running process.
    """
    env = os.environ if env is None else env
    base = _get(env, RATE_LIMIT_DIR_VARIABLE) or os.path.join(
        tempfile.gettempdir(), "finance_pipeline_ratelimits"
    )
    return Path(base)


def check_memory_limit(raw: str) -> str | None:
    """A DuckDB size (512MB, 2GB, 1.5GiB), or None for "none"/"default" (DuckDB's own)."""
    raw = raw.strip() or DEFAULT_MEMORY_LIMIT
    if raw.lower() in ("none", "default"):
        return None
    if not _SIZE.match(raw):
        raise ConfigError(
            MEMORY_LIMIT_VARIABLE,
            f"{raw!r} is not a size",
            "Give a number with a unit, e.g. 512MB or 2GB (or 'none' for DuckDB's default)",
        )
    return raw


def duckdb_memory_limit(env: Mapping[str, str] | None = None) -> str | None:
    """FINANCE_DUCKDB_MEMORY_LIMIT, validated (default 512MB)."""
    env = os.environ if env is None else env
    return check_memory_limit(env.get(MEMORY_LIMIT_VARIABLE, ""))


def duckdb_temp_directory(env: Mapping[str, str] | None = None) -> str | None:
    """FINANCE_DUCKDB_TEMP_DIRECTORY (default: DuckDB's `<database>.tmp`)."""
    env = os.environ if env is None else env
    return _get(env, TEMP_DIRECTORY_VARIABLE)


REVERIFY_DAYS_VARIABLE = "FINANCE_REVERIFY_DAYS"
DEFAULT_REVERIFY_DAYS = 7


def reverify_days(env: Mapping[str, str] | None = None) -> int:
    """FINANCE_REVERIFY_DAYS (default 7): every record is re-read by the rolling re-verification
    of incremental runs within this many daily runs (each run re-reads ~1/N of the history)."""
    env = os.environ if env is None else env
    raw = (_get(env, REVERIFY_DAYS_VARIABLE) or str(DEFAULT_REVERIFY_DAYS)).strip()
    if not raw.isdigit() or not 1 <= int(raw) <= 366:
        raise ConfigError(
            REVERIFY_DAYS_VARIABLE, f"{raw!r} is not a number of days", "Give 1..366, e.g. 7"
        )
    return int(raw)
