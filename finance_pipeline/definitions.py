"""Everything Dagster loads: assets of the four sources and the models, resources, jobs.

Settings are read and validated here, at load time, so a malformed variable stops `dagster dev`
and `dagster job execute` with a message naming it instead of failing half-way through a run.
"""

from __future__ import annotations

import dagster as dg

from finance_pipeline.config import SOURCES, load_settings
from finance_pipeline.freshness import with_mart_freshness
from finance_pipeline.http.masking import install_log_masking
from finance_pipeline.models.assets import sql_models_asset
from finance_pipeline.report.assets import finance_report
from finance_pipeline.schedules import build_schedules, build_sensors
from finance_pipeline.sources import adesk, apipay, bitrix24, salesman
from finance_pipeline.sources.extraction import source_assets
from finance_pipeline.warehouse.resource import WarehouseResource

SOURCE_PACKAGES = {
    "bitrix24": bitrix24,
    "salesman": salesman,
    "adesk": adesk,
    "apipay": apipay,
}

# Each step runs in its own process; sources talk to independent APIs, so they may all run at
# once. DuckDB writes queue on the file lock (see warehouse/connection.py), and every source's
# requests share one cross-process rate-limit bucket (see http/ratelimit.py).
EXECUTOR = dg.multiprocess_executor.configured({"max_concurrent": 8})


def build_definitions() -> dg.Definitions:
    install_log_masking()
    settings = load_settings()
    resources: dict[str, object] = {
        "warehouse": WarehouseResource(path=str(settings.warehouse_file)),
    }
    raw_assets = []
    for source in SOURCES:
        package = SOURCE_PACKAGES[source]
        resources[source] = package.build_resource(settings)
        raw_assets.append(source_assets(source, package.ENTITIES))
    models = [*with_mart_freshness([sql_models_asset()]), finance_report]

    source_jobs = [
        dg.define_asset_job(
            f"sync_{source}",
            selection=dg.AssetSelection.groups(source),
            description=f"Sync every {source} entity into the raw layer.",
            executor_def=EXECUTOR,
        )
        for source in SOURCES
    ]
    refresh_all = dg.define_asset_job(
        "refresh_all",
        selection=dg.AssetSelection.all(),
        description="Sync every source, then rebuild every model.",
        executor_def=EXECUTOR,
    )
    return dg.Definitions(
        assets=[*raw_assets, *models],
        resources=resources,
        jobs=[refresh_all, *source_jobs],
        schedules=build_schedules([refresh_all, *source_jobs], [*raw_assets, *models]),
        sensors=build_sensors(),
    )


defs = build_definitions()
