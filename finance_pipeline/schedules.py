"""When things run on their own: schedules for the jobs, and the sensor that keeps models fresh.

Schedules (every one is OFF until someone switches it on in the UI, Automation tab, or with
`dagster schedule start <name>`; nothing calls an API just because the code was deployed):

- `daily_refresh` (05:00 every day): `refresh_all`, incremental. Every source reads what changed
  since its stored cursor (plus its lookback window), then every model is rebuilt.
- `apipay_every_15_minutes`: `sync_apipay`, incremental. Payments move fast; the models that read
  ApiPay follow through the automation sensor below.
- `weekly_full_refresh` (Sunday 03:00): `refresh_all` with `full_refresh: true` on every
  extraction asset, so records deleted upstream are marked deleted (an incremental sync cannot see
  a deletion). The run config is built from the job's asset selection when the definitions load,
  so an entity added to a source is part of it without touching this file.

Times are in `SCHEDULE_TIMEZONE`. A tick is skipped (with the reason shown on the tick) while a
run that writes the same tables is still queued or running, so a slow run never piles up
duplicates behind it.

Sensor (ON by default, because it only reacts to runs that already happened and makes no API
call): `models_follow_sources` evaluates the models' declarative automation conditions
(`AutomationCondition.eager()` in models/assets.py), so a source-only run such as the ApiPay sync
rebuilds exactly the staging tables and marts downstream of what it landed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import dagster as dg

SCHEDULE_TIMEZONE = "Europe/Moscow"
DAILY_REFRESH_CRON = "0 5 * * *"
APIPAY_SYNC_CRON = "*/15 * * * *"
WEEKLY_FULL_REFRESH_CRON = "0 3 * * 0"

REFRESH_ALL = "refresh_all"
APIPAY_JOB = "sync_apipay"
# The run config field that asks an extraction asset to re-read everything (ExtractConfig).
FULL_REFRESH_FIELD = "full_refresh"
# Tags on scheduled runs, so the runs list can be filtered by what started them and how.
SYNC_MODE_TAG = "finance_pipeline/sync_mode"

_ACTIVE_RUN_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]

# A job as `define_asset_job` returns it (unresolved: a name and an asset selection) or resolved.
AnyJob = Any


def _takes_full_refresh(assets_def: dg.AssetsDefinition) -> bool:
    """Does this asset's op accept `full_refresh` in its run config (i.e. it is an extraction)?"""
    config_type = assets_def.op.config_schema.config_type if assets_def.op.config_schema else None
    fields = getattr(config_type, "fields", None) or {}
    return FULL_REFRESH_FIELD in fields


def _selected_assets(
    job: AnyJob, assets: Sequence[dg.AssetsDefinition]
) -> list[dg.AssetsDefinition]:
    if isinstance(job, dg.JobDefinition):
        keys = set(job.asset_layer.selected_asset_keys)
    else:  # define_asset_job's result: resolve its selection against the assets
        keys = set(job.selection.resolve(assets))
    return [a for a in assets if set(a.keys) & keys]


def full_refresh_op_names(job: AnyJob, assets: Sequence[dg.AssetsDefinition]) -> list[str]:
    """Op names of the extraction assets `job` selects (those whose config has full_refresh)."""
    return sorted({a.op.name for a in _selected_assets(job, assets) if _takes_full_refresh(a)})


def full_refresh_run_config(job: AnyJob, assets: Sequence[dg.AssetsDefinition]) -> dict[str, Any]:
    """Run config that sets `full_refresh: true` on every extraction asset the job selects."""
    ops = {
        name: {"config": {FULL_REFRESH_FIELD: True}} for name in full_refresh_op_names(job, assets)
    }
    if not ops:
        raise dg.DagsterInvariantViolationError(
            f"job {job.name!r} selects no extraction asset: a full refresh would do nothing"
        )
    return {"ops": ops}


def _active_runs(instance: dg.DagsterInstance, job_names: Iterable[str]) -> list[str]:
    active = []
    for job_name in job_names:
        records = instance.get_run_records(
            dg.RunsFilter(job_name=job_name, statuses=_ACTIVE_RUN_STATUSES), limit=1
        )
        active += [f"{job_name} ({r.dagster_run.run_id[:8]})" for r in records]
    return active


def _schedule(
    *,
    name: str,
    cron: str,
    job: AnyJob,
    description: str,
    run_config: Mapping[str, Any],
    tags: Mapping[str, str],
    wait_for_jobs: Sequence[str],
) -> dg.ScheduleDefinition:
    """A schedule that is off by default and skips its tick while an overlapping run is active."""

    @dg.schedule(
        name=name,
        cron_schedule=cron,
        job=job,
        execution_timezone=SCHEDULE_TIMEZONE,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=description,
        metadata={"run_config": dg.MetadataValue.json(dict(run_config))},
    )
    def _evaluate(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        busy = _active_runs(context.instance, wait_for_jobs)
        if busy:
            return dg.SkipReason(
                f"still queued or running: {', '.join(busy)}; the next tick will catch up"
            )
        return dg.RunRequest(run_config=dict(run_config), tags=dict(tags))

    return _evaluate


def _job_named(jobs: Sequence[AnyJob], name: str) -> AnyJob:
    for job in jobs:
        if job.name == name:
            return job
    raise dg.DagsterInvariantViolationError(f"no job named {name!r} to schedule")


def build_schedules(
    jobs: Sequence[AnyJob], assets: Sequence[dg.AssetsDefinition]
) -> list[dg.ScheduleDefinition]:
    """The three schedules (all stopped by default), for the jobs and assets of the definitions."""
    refresh_all = _job_named(jobs, REFRESH_ALL)
    apipay = _job_named(jobs, APIPAY_JOB)
    return [
        _schedule(
            name="daily_refresh",
            cron=DAILY_REFRESH_CRON,
            job=refresh_all,
            description=(
                "Every day at 05:00 (Europe/Moscow): incremental sync of every source, then every "
                "model. Off by default: start it in the UI (Automation) when the credentials are "
                "set."
            ),
            run_config={},
            tags={SYNC_MODE_TAG: "incremental"},
            wait_for_jobs=[REFRESH_ALL],
        ),
        _schedule(
            name="apipay_every_15_minutes",
            cron=APIPAY_SYNC_CRON,
            job=apipay,
            description=(
                "Every 15 minutes: incremental ApiPay sync (payments and refunds move fast); the "
                "automation sensor then rebuilds the models that read ApiPay. Off by default."
            ),
            run_config={},
            tags={SYNC_MODE_TAG: "incremental"},
            wait_for_jobs=[APIPAY_JOB, REFRESH_ALL],
        ),
        _schedule(
            name="weekly_full_refresh",
            cron=WEEKLY_FULL_REFRESH_CRON,
            job=refresh_all,
            description=(
                "Sundays at 03:00 (Europe/Moscow): full refresh of every extraction asset, which "
                "re-reads everything and marks records deleted upstream as deleted, then rebuilds "
                "every model. Off by default."
            ),
            run_config=full_refresh_run_config(refresh_all, assets),
            tags={SYNC_MODE_TAG: "full_refresh"},
            wait_for_jobs=[REFRESH_ALL],
        ),
    ]


def build_sensors() -> list[dg.SensorDefinition]:
    """The automation sensor for the models' declarative conditions (running by default)."""
    return [
        dg.AutomationConditionSensorDefinition(
            "models_follow_sources",
            target=dg.AssetSelection.all(),
            default_status=dg.DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=30,
            description=(
                "Rebuilds staging tables and marts when the raw tables they read were updated "
                "by any run (e.g. the 15-minute ApiPay sync), per each model's automation "
                "condition. Running by default: it makes no API call, it only follows runs."
            ),
        )
    ]
