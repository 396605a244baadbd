"""A warehouse built once per test session from the default sandbox: every source, every model.

Uses the sandbox's in-process transport (same client code, no sockets) to stay fast; the raw
layer's network path is covered by the extraction tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from finance_pipeline.models.assets import build_all_models
from finance_pipeline.sources.extraction import ExtractConfig, run_extraction
from finance_pipeline.sources.registry import SOURCES
from finance_pipeline.warehouse.resource import WarehouseResource
from finance_sandbox import set_sandbox
from finance_sandbox.core import Sandbox, SandboxSettings
from finance_sandbox.world import World


def sync_everything(warehouse: WarehouseResource, *, full_refresh: bool = False) -> None:
    from finance_pipeline.definitions import load_environment

    settings = load_environment({"FINANCE_PIPELINE_MODE": "sandbox"})
    for source in SOURCES:
        resource = source.resource(settings)
        for spec in source.entities:
            run_extraction(
                spec,
                resource=resource,
                warehouse=warehouse,
                config=ExtractConfig(full_refresh=full_refresh),
                run_id="test-session",
                log=lambda _message: None,
            )


@pytest.fixture(scope="session")
def model_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = Sandbox(SandboxSettings())
    set_sandbox(box)
    yield box
    set_sandbox(None)


@pytest.fixture(scope="session")
def built_warehouse(
    model_sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    import os

    path = tmp_path_factory.mktemp("models") / "warehouse.duckdb"
    buckets = tmp_path_factory.mktemp("buckets")
    os.environ["FINANCE_RATE_LIMIT_DIR"] = str(buckets)
    warehouse = WarehouseResource(path=str(path))
    sync_everything(warehouse)
    with duckdb.connect(str(path)) as conn:
        build_all_models(conn)
    return path


@pytest.fixture(scope="session")
def world(model_sandbox: Sandbox) -> World:
    return model_sandbox.world


@pytest.fixture
def wh(built_warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the built warehouse."""
    with duckdb.connect(str(built_warehouse), read_only=True) as conn:
        yield conn
