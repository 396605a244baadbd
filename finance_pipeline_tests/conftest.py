"""Shared fixtures: a fresh sandbox per test, real loopback servers, an empty warehouse.

Tests talk to the sandbox over real HTTP (SandboxServers on 127.0.0.1) unless they say
otherwise, so the code under test is the code that talks to the real services.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# The sandbox fixtures (`sandbox`, `servers`, `small_world_size` and the per-test client buckets)
# are shared with the sandbox's own tests; importing them here makes them fixtures of this tree.
from finance_sandbox.testing import (  # noqa: F401
    isolated_rate_limit_buckets,
    sandbox,
    servers,
    small_world_size,
)


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"
