"""Fixtures of the reliability suite: see reliability_kit.py for the tools themselves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_kit import canary_credentials


@pytest.fixture(scope="module")
def canaries() -> Iterator[None]:
    """Sandboxes made while this is active accept only the canary credentials."""
    with canary_credentials():
        yield


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
