"""Reconciliation: after every run (incremental included) the warehouse is compared with the
source's own figures, what differs is re-read and landed in the same run, and a difference that
survives the repair fails the entity loudly.

Written once for every source. A source declares, beside its entities, a `ReconcilePlan` per
entity (`EntitySpec.reconcile`, a factory: a plan keeps the source's figures of one run):

- `differences()` compares the source's cheap figures (counts per period, balances, id lists)
  with the warehouse. The source's figures are asked for once per run and kept; later calls
  compare them with the warehouse again at no request cost.
- `repair()` re-reads what differs, narrowing first (bisecting periods) so that the cost grows
  with what changed, not with the history; a re-read period is declared complete for its scope
  (`ExtractContext.declare_complete_for`), so deletions inside it are marked.
- `rolling()` re-reads a slice of the history on incremental runs so that an edit no count or
  balance reveals (an old record re-categorised) is found within FINANCE_REVERIFY_DAYS runs.

`reconcile()` runs the rounds after the entity's own landing: compare, repair and land (the
cursor stays where the entity's run put it), compare again; after `MAX_ROUNDS` repairs a
remaining difference raises `UnrepairedDifferenceError`, naming source, figure, expected and
ours. Every round's reads go through the same paginators and landing as the entity's own read,
so an unproven repair read changes nothing either.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from finance_pipeline.http.errors import BadResponseError
from finance_pipeline.http.stats import RequestStats
from finance_pipeline.warehouse.landing import PageStager, land
from finance_pipeline.warehouse.state import STATE_DDL

if TYPE_CHECKING:
    from finance_pipeline.sources.extraction import EntitySpec, ExtractContext
    from finance_pipeline.sources.resource_base import SourceResource
    from finance_pipeline.warehouse.resource import WarehouseResource

MAX_ROUNDS = 3

# Periods of days (inclusive) that the plans counting per period bisect (adesk/reconcile.py,
# sources/period_counts.py).
Period = tuple[date, date]
ALL_TIME: Period = (date(1970, 1, 1), date(2099, 12, 31))


def split(period: Period) -> list[Period]:
    """Children of a period: calendar years while it spans several, then halves (a change is
    found in about 2·log2(days) counts, ~18 for a year, where months and days would ask ~43)."""
    lo, hi = period
    if hi.year > lo.year and hi.year - lo.year + 1 <= 12:
        return [
            (max(lo, date(y, 1, 1)), min(hi, date(y, 12, 31))) for y in range(lo.year, hi.year + 1)
        ]
    mid = lo + (hi - lo) // 2
    return [(lo, mid), (mid + timedelta(days=1), hi)]


def period_label(period: Period) -> str:
    lo, hi = period
    if period == ALL_TIME:
        return "all time"
    if lo == hi:
        return lo.isoformat()
    return f"{lo.isoformat()}..{hi.isoformat()}"


def rolling_slice(verified_by_day: dict[date, Any], window: date, runs: int) -> Period | None:
    """The days before `window` that this run re-reads so that every day is re-read within
    `runs` runs: ceil(days / runs) days from the day whose records were read longest ago
    (`verified_by_day`: the oldest `extracted_at` per day; landing refreshes it for every row
    read, changed or not, so the slice rotates by itself)."""
    old = {d: t for d, t in verified_by_day.items() if d < window}
    if not old:
        return None
    length = -(-((window - min(old)).days) // runs)
    start = min(old, key=lambda d: (old[d], d))
    return start, min(window - timedelta(days=1), start + timedelta(days=length - 1))


@dataclass(frozen=True)
class Difference:
    """One figure on which the source and the warehouse disagree."""

    figure: str  # e.g. "movements 2025-03" or "balance of account 12"
    scope: Any  # what the plan re-reads for it (a period, an account, ids)
    source: Any
    ours: Any

    def __str__(self) -> str:
        return f"{self.figure}: source {self.source}, warehouse {self.ours}"


@dataclass
class Verification:
    """What a run compared, what differed, what it re-read and what that cost (metadata)."""

    compared: list[str] = field(default_factory=list)
    differed: list[str] = field(default_factory=list)
    reread: list[str] = field(default_factory=list)
    unrepaired: list[str] = field(default_factory=list)
    requests: int = 0  # comparisons and repairs
    rolling_requests: int = 0  # the rolling re-read's share of `requests`
    repaired_rows: int = 0
    marked_deleted: int = 0

    def as_metadata(self) -> dict[str, Any]:
        def text(items: list[str]) -> str:
            shown = items[:20]
            more = f" (+{len(items) - 20} more)" if len(items) > 20 else ""
            return "; ".join(shown) + more

        return {
            "verification_compared": text(self.compared) or "nothing",
            "verification_differed": text(self.differed) or "nothing",
            "verification_reread": text(self.reread) or "nothing",
            "verification_requests": self.requests,
            "verification_rolling_requests": self.rolling_requests,
            "verification_repaired_rows": self.repaired_rows,
            "verification_marked_deleted": self.marked_deleted,
        }


class UnrepairedDifferenceError(BadResponseError):
    """The warehouse still disagrees with the source's own figures after the repair reads."""

    kind = "reconciliation failed"
    default_hint = (
        "Run a full refresh of this entity (full_refresh: true); if the difference stays, the "
        "source's figures and its lists disagree: report it to the vendor"
    )


class ReconcilePlan(ABC):
    """How one entity is compared with its source and repaired (see the module doc)."""

    @abstractmethod
    def differences(self, ctx: ExtractContext, verification: Verification) -> list[Difference]:
        """Compare the source's figures (asked once per run) with the warehouse."""

    @abstractmethod
    def repair(
        self, ctx: ExtractContext, differences: list[Difference], round_: int
    ) -> Iterator[list[dict[str, Any]]]:
        """Re-read what differs (narrowest first); yield the records, declare scopes/deletes."""

    def rolling(self, ctx: ExtractContext, verification: Verification) -> Iterator[list[dict[str, Any]]]:
        """The slice of history this run re-reads for what no figure shows (default: none)."""
        return iter(())


def reconcile(
    spec: EntitySpec,
    plan: ReconcilePlan,
    *,
    make_context: Callable[..., ExtractContext],
    resource: SourceResource,
    warehouse: WarehouseResource,
    run_id: str,
    cursor: str | None,
    incremental: bool,
) -> Verification:
    """Compare, repair and land until the warehouse agrees with the source (see module doc)."""
    verification = Verification()
    stats = RequestStats()
    with resource.client(stats) as client:
        for round_ in range(MAX_ROUNDS + 1):
            with PageStager(spec.id_paths) as stager:
                ctx = make_context(client, stager)
                differences = plan.differences(ctx, verification)
                before = stats.requests
                if round_ == 0 and incremental:
                    for rows in plan.rolling(ctx, verification):
                        stager.add(rows)
                    verification.rolling_requests += stats.requests - before
                if not differences and stager.rows == 0 and stager.scope_ids == 0:
                    break
                if differences and round_ == MAX_ROUNDS:
                    verification.unrepaired = [str(d) for d in differences]
                    break
                verification.differed.extend(str(d) for d in differences)
                for rows in plan.repair(ctx, differences, round_):
                    stager.add(rows)
                with warehouse.connection() as conn:
                    result = land(
                        conn,
                        table=spec.table,
                        stager=stager,
                        run_id=run_id,
                        entity=spec.table,
                        new_cursor=cursor,
                        complete_snapshot=False,
                        scope_json_path=spec.scope_json_path,
                        deleted_ids=ctx.deleted_ids,
                    )
                verification.repaired_rows += result.inserted + result.updated + result.undeleted
                verification.marked_deleted += result.deleted
    verification.requests = stats.requests
    record(warehouse, spec.table, run_id, verification)
    if verification.unrepaired:
        raise UnrepairedDifferenceError(
            spec.source,
            spec.table,
            f"{len(verification.unrepaired)} figure(s) still differ after {MAX_ROUNDS} repair "
            f"rounds: {'; '.join(verification.unrepaired[:10])}",
        )
    return verification


def record(warehouse: WarehouseResource, entity: str, run_id: str, verification: Verification) -> None:
    """Keep the outcome for the `reconciled_with_source` check (checks/reconciliation.py)."""
    meta = verification.as_metadata()
    with warehouse.connection() as conn:
        conn.execute(STATE_DDL)
        conn.execute(
            """
            INSERT OR REPLACE INTO raw._reconciliation
            VALUES (?, now(), ?, ?, ?, ?, ?, ?)
            """,
            [entity, run_id, meta["verification_compared"], meta["verification_differed"],
             meta["verification_reread"], "; ".join(verification.unrepaired), verification.requests],
        )
