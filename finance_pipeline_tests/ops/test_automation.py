"""A source-only run keeps the marts fresh: what the automation sensor requests after a sync.

Evaluates the real definitions' automation conditions the way the `models_follow_sources`
sensor does (same selection), in process: no daemon, no run, a few seconds.
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest

from finance_pipeline.sources.registry import SOURCE_NAMES

MODEL_GROUPS = ("staging", "intermediate", "marts", "report")


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    from finance_pipeline.definitions import defs

    return defs


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def _materialized(instance: dg.DagsterInstance, keys: set[dg.AssetKey]) -> None:
    for key in sorted(keys, key=lambda k: k.to_user_string()):
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key))


def _downstream_models(graph, keys: set[dg.AssetKey]) -> set[dg.AssetKey]:
    found: set[dg.AssetKey] = set()
    frontier = list(keys)
    while frontier:
        for child in graph.get(frontier.pop()).child_keys:
            node = graph.get(child)
            if child not in found and node.group_name in MODEL_GROUPS and node.is_materializable:
                found.add(child)
                frontier.append(child)
    return found


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_sync_of_one_source_requests_exactly_its_downstream_models(
    source: str, defs: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    selection = repo.get_sensor_def("models_follow_sources").asset_selection
    materializable = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}

    # Everything built once (e.g. by refresh_all), then a first tick: nothing to do.
    _materialized(instance, materializable)
    first = dg.evaluate_automation_conditions(defs, instance, asset_selection=selection)
    assert first.total_requested == 0

    # The source's sync lands new data: its downstream models, and only those, are requested.
    raw = {k for k in materializable if graph.get(k).group_name == source}
    _materialized(instance, raw)
    second = dg.evaluate_automation_conditions(
        defs, instance, asset_selection=selection, cursor=first.cursor
    )
    requested = {k for k in materializable if second.get_num_requested(k)}
    expected = _downstream_models(graph, raw)
    assert expected, f"no model reads {source}"
    assert requested == expected

    # Once they are rebuilt, the next tick is quiet again.
    _materialized(instance, requested)
    third = dg.evaluate_automation_conditions(
        defs, instance, asset_selection=selection, cursor=second.cursor
    )
    assert third.total_requested == 0
