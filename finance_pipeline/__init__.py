"""finance_pipeline: Bitrix24, SalesMan, Adesk and ApiPay into one DuckDB finance warehouse.

`dagster job execute -m finance_pipeline -j refresh_all` loads this module and looks for a
Definitions object in it. `defs` is resolved lazily (PEP 562) so that importing a sub-package
(the sandbox server, the HTTP layer) does not load and validate the whole Dagster project.
"""

from __future__ import annotations

from typing import Any

__all__ = ["defs"]


def __getattr__(name: str) -> Any:
    if name == "defs":
        from finance_pipeline.definitions import defs

        return defs
    raise AttributeError(f"module 'finance_pipeline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "defs"])
