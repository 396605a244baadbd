"""Freshness expectations on the marts (Dagster 1.13 FreshnessPolicy, shown in the UI)."""

from __future__ import annotations

import warnings
from datetime import timedelta

import dagster as dg

from finance_pipeline.freshness import MART_FRESHNESS, MART_GROUP, with_mart_freshness


def _asset(key: list[str], group: str, policy: dg.FreshnessPolicy | None = None):
    @dg.asset(key=key, group_name=group, freshness_policy=policy)
    def _a() -> None:
        return None

    return _a


def test_policy_on_marts_only_and_without_warnings() -> None:
    own = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=2))
    assets = [
        _asset(["raw", "x"], "apipay"),
        _asset(["staging", "y"], "staging"),
        _asset(["marts", "z"], "marts"),
        _asset(["marts", "own"], "marts", own),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no beta/deprecation/supersession warning
        mapped = with_mart_freshness(assets)
        graph = dg.Definitions(assets=mapped).get_repository_def().asset_graph
    policy = {
        key.to_user_string(): graph.get(key).freshness_policy for key in graph.get_all_asset_keys()
    }
    assert policy == {"raw/x": None, "staging/y": None, "marts/z": MART_FRESHNESS, "marts/own": own}


def test_window_matches_the_daily_refresh() -> None:
    assert MART_FRESHNESS.warn_window.to_timedelta() > timedelta(hours=24)
    assert MART_FRESHNESS.fail_window.to_timedelta() > MART_FRESHNESS.warn_window.to_timedelta()


def test_every_mart_in_the_definitions_has_the_policy() -> None:
    from finance_pipeline.definitions import defs

    graph = defs.get_repository_def().asset_graph
    marts = [k for k in graph.get_all_asset_keys() if graph.get(k).group_name == MART_GROUP]
    assert marts, "no marts in the definitions"
    missing = [k.to_user_string() for k in marts if graph.get(k).freshness_policy is None]
    assert not missing, f"marts without a freshness policy (wire with_mart_freshness): {missing}"
