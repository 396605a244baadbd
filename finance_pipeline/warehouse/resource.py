"""The Dagster resource for the DuckDB warehouse."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field

from finance_pipeline.warehouse.connection import connect


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB file every asset writes to (one writer at a time; others wait their turn)."""

    path: str = Field(description="DuckDB database file (or an md: MotherDuck path).")
    lock_wait_seconds: float = Field(
        default=600.0, description="How long a writer waits for another process's lock."
    )

    @contextlib.contextmanager
    def connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(self.path, read_only=read_only, wait_seconds=self.lock_wait_seconds) as conn:
            yield conn

    def exists(self) -> bool:
        return self.path.startswith("md:") or Path(self.path).exists()
