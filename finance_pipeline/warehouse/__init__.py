"""The DuckDB warehouse: connections, raw landing, sync state."""

from finance_pipeline.warehouse.connection import connect
from finance_pipeline.warehouse.landing import LandingResult, PageStager, land
from finance_pipeline.warehouse.state import SyncState, read_state

__all__ = ["LandingResult", "PageStager", "SyncState", "connect", "land", "read_state"]
