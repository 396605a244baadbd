"""Freshness expectations on the marts, shown in the UI (asset page and asset health).

Dagster 1.13's `FreshnessPolicy` (the non-deprecated API; the older freshness checks are
superseded by it) is attached to each mart's asset spec. The daemon that `dagster dev` starts
evaluates it: PASS while the last materialization is recent, WARN after `MART_WARN_AFTER`,
FAIL after `MART_FAIL_AFTER`. The windows assume the daily refresh (05:00): a mart that has
not been rebuilt for a bit more than a day means that day's refresh did not happen or failed.

This measures when a table was *built*, not how recent its *data* is: a mart rebuilt this morning
from a source whose data stopped a month ago still passes. How recent the data is, per source, is
`marts.data_as_of` and its `source_data_is_recent` check (WARN when a source lags today by more
than its expected cadence); the as-of date is in every mart's metadata.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

import dagster as dg

MART_GROUP = "marts"
MART_WARN_AFTER = timedelta(hours=26)
MART_FAIL_AFTER = timedelta(hours=48)

MART_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=MART_FAIL_AFTER, warn_window=MART_WARN_AFTER
)


def with_mart_freshness(
    assets: Iterable[dg.AssetsDefinition], policy: dg.FreshnessPolicy = MART_FRESHNESS
) -> Sequence[dg.AssetsDefinition]:
    """The same assets, with `policy` on every asset of the marts group (others unchanged).

    A freshness policy set explicitly on an asset is kept.
    """

    def attach(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.group_name != MART_GROUP:
            return spec
        return dg.apply_freshness_policy(spec, policy, overwrite_existing=False)

    return dg.map_asset_specs(attach, list(assets))
