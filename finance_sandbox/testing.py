"""Pytest fixtures for anything tested against the sandbox: a fresh sandbox per test and its four
APIs as real loopback servers.

Both test trees (the sandbox's own and the product's) import these into their conftest, so there is
one definition of "a fresh sandbox" for every test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from finance_sandbox import set_sandbox
from finance_sandbox.core import Sandbox, SandboxServers, SandboxSettings
from finance_sandbox.world import WorldSize


@pytest.fixture(autouse=True)
def isolated_rate_limit_buckets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests drive the pipeline's HTTP client against the sandbox. Client buckets are shared through
    # files; each test gets its own so tests never wait on each other's request history.
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
