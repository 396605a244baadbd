"""Shared fixtures: a fresh sandbox per test, real loopback servers, an empty warehouse.

Tests talk to the sandbox over real HTTP (SandboxServers on 127.0.0.1) unless they say
otherwise, so the code under test is the code that talks to the real services.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from finance_pipeline.sandbox import set_sandbox
from finance_pipeline.sandbox.core import Sandbox, SandboxServers, SandboxSettings
from finance_pipeline.sandbox.world import WorldSize


@pytest.fixture(autouse=True)
def _isolated_rate_limit_buckets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Client buckets are shared through files; each test gets its own so tests never wait on
    # each other's request history.
    monkeypatch.setenv("FINANCE_RATE_LIMIT_DIR", str(tmp_path / "buckets"))


@pytest.fixture
def small_world_size() -> WorldSize:
    return WorldSize()


@pytest.fixture
def sandbox(small_world_size: WorldSize) -> Iterator[Sandbox]:
    """A fresh sandbox (default small world), also installed as the process-wide one."""
    box = Sandbox(SandboxSettings(size=small_world_size))
    set_sandbox(box)
    yield box
    set_sandbox(None)


@pytest.fixture
def servers(sandbox: Sandbox) -> Iterator[SandboxServers]:
    """The sandbox's four APIs as real HTTP servers on 127.0.0.1 (free ports)."""
    with sandbox.serve() as running:
        yield running


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"
