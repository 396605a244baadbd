"""The schedules and the automation sensor of the real definitions.

Each schedule is evaluated as the daemon would (build_schedule_context on a test instance) and
the run config it produces is validated against its job.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pytest

from finance_pipeline import schedules
from finance_pipeline.sources.extraction import EntitySpec, source_assets
from finance_pipeline.sources.registry import SOURCE_NAMES

EXPECTED = {
    "daily_refresh": ("refresh_all", "0 5 * * *"),
    "apipay_every_15_minutes": ("sync_apipay", "*/15 * * * *"),
    "weekly_full_refresh": ("refresh_all", "0 3 * * 0"),
}


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    from finance_pipeline.definitions import defs

    return defs


@pytest.fixture(scope="module")
def repo(defs: dg.Definitions) -> dg.RepositoryDefinition:
    return defs.get_repository_def()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def _extraction_op_names(repo: dg.RepositoryDefinition) -> set[str]:
    graph = repo.asset_graph
    return {
        graph.get(key).assets_def.op.name
        for key in graph.get_all_asset_keys()
        if graph.get(key).group_name in SOURCE_NAMES
    }


def _tick(
    schedule: dg.ScheduleDefinition, instance: dg.DagsterInstance
) -> dg.RunRequest | dg.SkipReason:
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=datetime(2025, 3, 2, 3, 0, tzinfo=UTC)
    )
    result = schedule.evaluate_tick(context)
    if result.skip_message:
        return dg.SkipReason(result.skip_message)
    (request,) = result.run_requests or []
    return request


def test_schedules_exist_and_are_stopped_by_default(repo: dg.RepositoryDefinition) -> None:
    by_name = {s.name: s for s in repo.schedule_defs}
    assert set(by_name) == set(EXPECTED)
    for name, (job_name, cron) in EXPECTED.items():
        schedule = by_name[name]
        assert schedule.job_name == job_name
        assert schedule.cron_schedule == cron
        assert schedule.execution_timezone == schedules.SCHEDULE_TIMEZONE
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
        assert schedule.description  # documented in the UI


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_schedule_run_config_is_valid_for_its_job(
    name: str,
    defs: dg.Definitions,
    repo: dg.RepositoryDefinition,
    instance: dg.DagsterInstance,
) -> None:
    schedule = repo.get_schedule_def(name)
    request = _tick(schedule, instance)
    assert isinstance(request, dg.RunRequest), request
    job = defs.resolve_job_def(schedule.job_name)
    # Raises DagsterInvalidConfigError if any op name or field were wrong.
    validated = dg.validate_run_config(job, request.run_config)
    assert validated["ops"] is not None
    mode = "full_refresh" if name == "weekly_full_refresh" else "incremental"
    assert request.tags[schedules.SYNC_MODE_TAG] == mode


def test_weekly_full_refresh_covers_every_extraction_asset(
    repo: dg.RepositoryDefinition, instance: dg.DagsterInstance
) -> None:
    request = _tick(repo.get_schedule_def("weekly_full_refresh"), instance)
    assert isinstance(request, dg.RunRequest)
    ops: dict[str, Any] = request.run_config["ops"]
    expected = _extraction_op_names(repo)
    assert expected, "no extraction assets in the definitions"
    assert set(ops) == expected
    assert all(op == {"config": {"full_refresh": True}} for op in ops.values())
    # Every source's every entity is covered: its op is the one that gets full_refresh.
    from finance_pipeline.sources.registry import SOURCES

    for source in SOURCES:
        for spec in source.entities:
            assert repo.asset_graph.get(spec.key).assets_def.op.name in ops, spec.key


def test_incremental_schedules_leave_extraction_config_at_defaults(
    repo: dg.RepositoryDefinition, instance: dg.DagsterInstance
) -> None:
    for name in ("daily_refresh", "apipay_every_15_minutes"):
        request = _tick(repo.get_schedule_def(name), instance)
        assert isinstance(request, dg.RunRequest)
        assert "ops" not in request.run_config  # full_refresh false, no start_date


def test_full_refresh_config_follows_the_assets(defs: dg.Definitions) -> None:
    """Built from the assets, not a list: a new source's extraction op is in it, models are not."""
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    assets = list(
        {
            graph.get(k).assets_def
            for k in graph.get_all_asset_keys()
            if graph.get(k).is_materializable
        }
    )
    spec = EntitySpec("newsource", "things", "test", lambda ctx: iter([]))
    new_source = source_assets("newsource", [spec])
    refresh_all = dg.define_asset_job("refresh_all", selection=dg.AssetSelection.all())
    config = schedules.full_refresh_run_config(refresh_all, [*assets, new_source])
    assert config["ops"][new_source.op.name] == {"config": {"full_refresh": True}}
    model_ops = {
        graph.get(k).assets_def.op.name
        for k in graph.get_all_asset_keys()
        if graph.get(k).group_name in ("staging", "marts")
    }
    assert model_ops and not model_ops & set(config["ops"])
    # A job over one source gets only that source's extraction op.
    apipay_only = dg.define_asset_job("sync_apipay", selection=dg.AssetSelection.groups("apipay"))
    names = schedules.full_refresh_op_names(apipay_only, [*assets, new_source])
    assert names == [graph.get(dg.AssetKey(["raw", "apipay_invoices"])).assets_def.op.name]


def _add_run(instance: dg.DagsterInstance, job_name: str, status: dg.DagsterRunStatus) -> None:
    instance.add_run(dg.DagsterRun(job_name=job_name, run_id=str(uuid.uuid4()), status=status))


def test_tick_is_skipped_while_an_overlapping_run_is_active(
    repo: dg.RepositoryDefinition, instance: dg.DagsterInstance
) -> None:
    daily = repo.get_schedule_def("daily_refresh")
    apipay = repo.get_schedule_def("apipay_every_15_minutes")
    _add_run(instance, "refresh_all", dg.DagsterRunStatus.SUCCESS)
    _add_run(instance, "sync_apipay", dg.DagsterRunStatus.FAILURE)
    assert isinstance(_tick(daily, instance), dg.RunRequest)
    assert isinstance(_tick(apipay, instance), dg.RunRequest)

    _add_run(instance, "sync_apipay", dg.DagsterRunStatus.STARTING)
    skipped = _tick(apipay, instance)
    assert isinstance(skipped, dg.SkipReason)
    assert "sync_apipay" in (skipped.skip_message or "")
    assert isinstance(_tick(daily, instance), dg.RunRequest)  # other tables: not blocked

    _add_run(instance, "refresh_all", dg.DagsterRunStatus.STARTED)
    assert isinstance(_tick(daily, instance), dg.SkipReason)
    assert isinstance(_tick(repo.get_schedule_def("weekly_full_refresh"), instance), dg.SkipReason)


def test_models_follow_sources_sensor(repo: dg.RepositoryDefinition) -> None:
    sensor = repo.get_sensor_def("models_follow_sources")
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    graph = repo.asset_graph
    targeted = sensor.asset_selection.resolve(graph)
    automated = {k for k in graph.get_all_asset_keys() if graph.get(k).automation_condition}
    # Every asset with an automation condition (the models) is evaluated by this sensor, so no
    # stopped `default_automation_condition_sensor` is created next to it.
    assert automated <= targeted
    assert "default_automation_condition_sensor" not in {s.name for s in repo.sensor_defs}
