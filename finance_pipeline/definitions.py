"""Everything Dagster loads: assets of the four sources and the models, resources, jobs.

Settings are read and validated here, at load time, so a malformed variable stops `dagster dev`
and `dagster job execute` with a message naming it instead of failing half-way through a run.

This is the composition root, and the one product module that knows the sandbox exists: in
sandbox mode it mounts the sandbox's in-process transports and configures every source with the
sandbox's values; from there on the pipeline runs exactly as in live mode.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from finance_pipeline.config import Mode, Settings, environment, load_settings, resolve_mode
from finance_pipeline.freshness import with_mart_freshness
from finance_pipeline.http.masking import install_log_masking
from finance_pipeline.models.assets import sql_models_asset
from finance_pipeline.report.assets import finance_report
from finance_pipeline.schedules import build_schedules, build_sensors
from finance_pipeline.sources.extraction import source_assets
from finance_pipeline.sources.registry import SOURCES
from finance_pipeline.warehouse.resource import WarehouseResource

# Each step runs in its own process; sources talk to independent APIs, so they may all run at
# once. DuckDB writes queue on the file lock (see warehouse/connection.py), and every source's
# requests share one cross-process rate-limit bucket (see http/ratelimit.py).
EXECUTOR = dg.multiprocess_executor.configured({"max_concurrent": 8})


def load_environment(env: Mapping[str, str] | None = None) -> Settings:
    """The settings for this process; in sandbox mode, with the sandbox plugged in first."""
    env = dict(environment() if env is None else env)
    if resolve_mode(env) is Mode.sandbox:
        # Imported here only: live deployments never load the sandbox.
        from finance_sandbox.link import mount_sandbox, sandbox_environment

        mount_sandbox()
        env = {**env, **sandbox_environment(), "FINANCE_PIPELINE_MODE": Mode.sandbox.value}
    return load_settings(env)


def build_definitions() -> dg.Definitions:
    install_log_masking()
    settings = load_environment()
    resources: dict[str, object] = {
        "warehouse": WarehouseResource(path=str(settings.warehouse_file)),
    }
    raw_assets = []
    for source in SOURCES:
        resources[source.name] = source.resource(settings)
        raw_assets.append(source_assets(source.name, list(source.entities)))
    models = [*with_mart_freshness([sql_models_asset()]), finance_report]

    source_jobs = [
        dg.define_asset_job(
            f"sync_{source.name}",
            selection=dg.AssetSelection.groups(source.name),
            description=f"Sync every {source.name} entity into the raw layer.",
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
