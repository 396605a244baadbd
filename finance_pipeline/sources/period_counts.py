"""A reconciliation plan (sources/reconcile.py) for lists the source can count per creation
period but that carry no balance: SalesMan invoices, ApiPay invoices and refunds.

Figures: the source's count of records created before a day (one request: a one-row page, or
the first page, of the list filtered on its creation date, its `total`/`count` read), for the
whole list and, where the source can filter on it under every reading of its docs, for a status
(`Figure`). A period's count is the difference of two such cumulative counts, so narrowing a
period to its halves asks one count, not two.

Cheap first: a no-change run asks one count per figure (all time). A figure that differs is
bisected like Adesk's movements (all time -> the years we hold -> halves), one request per new
boundary, only into periods whose count differs; a period is re-read whole once it is a day or
holds at most `REREAD_ROWS` records, with every status (a re-read filtered on a status would
miss a record that left it). The re-read asks one day more on each side, so it holds the
period's records under every reading of the source's days (a time zone, an End bound that is
inclusive or not); records we hold live in the period that it did not return were deleted
upstream and are marked so (`report_deleted`), records it returned are landed (late entries,
edits). If no part of a differing period differs (the readings of a day disagree at a boundary),
the period itself is re-read, so every round makes progress.

Our count of a period is taken under each reading of the source's day the plan declares
(`Ours.days`, e.g. UTC and Asia/Almaty): periods are split on days no record of ours straddles
(a record on one side under one reading and on the other under another), so our count of each
part is the same under every reading and compares exactly with the source's.

The rolling re-read (incremental runs) re-reads the days before the incremental window read
longest ago, 1/FINANCE_REVERIFY_DAYS of them a run, the same way: edits no count shows (an
amount, a contract number, a status among statuses not counted) are found within N runs.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from finance_pipeline.sources.reconcile import (
    ALL_TIME,
    Difference,
    Period,
    ReconcilePlan,
    Verification,
    period_label,
    rolling_slice,
    split,
)

# A period holding at most this many records is re-read rather than narrowed further: about one
# page of the lists concerned (SalesMan's documented 200 a page, ApiPay's 100).
REREAD_ROWS = 100

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Figure:
    """A count the source gives: every record (`status` None) or the records in a status."""

    name: str
    status: str | None = None


@dataclass(frozen=True)
class Ours:
    """A live raw record as the plan counts it."""

    id: str
    # Its creation day under each reading of the source's day (e.g. UTC and Asia/Almaty), or
    # () when its creation moment cannot be read.
    days: tuple[date, ...]
    status: str | None
    verified_at: datetime | None  # the raw row's extracted_at


@dataclass
class PeriodCountPlan(ReconcilePlan):
    """Counts per creation period vs ours, bisected; differing periods re-read whole."""

    label: str = ""
    figures: tuple[Figure, ...] = (Figure("count"),)
    counts: dict[tuple[Figure, date | None], int] = field(default_factory=dict)
    # Counts handed over by the entity's own read (asked before it landed): trusted once, asked
    # again when they differ.
    seeded: set[tuple[Figure, date | None]] = field(default_factory=set)
    ours: list[Ours] = field(default_factory=list)
    verification: Verification = field(default_factory=Verification)
    _straddled: set[date] | None = None  # days some record of ours straddles (see below)

    # --- what a source provides ---------------------------------------------------------------

    @abstractmethod
    def count_before(self, ctx: Any, figure: Figure, day: date | None) -> int:
        """The source's count of the figure's records created before `day` (None: all)."""

    @abstractmethod
    def our_records(self, ctx: Any) -> list[Ours]:
        """The live raw records."""

    @abstractmethod
    def read_period(self, ctx: Any, first: date, last: date, label: str) -> Iterator[Rows]:
        """Every record created from `first` to `last` (whole days, every status), proven
        complete by the source's count."""

    @abstractmethod
    def record_id(self, row: dict[str, Any]) -> str | None:
        """The id a raw row is landed under."""

    # --- figures ------------------------------------------------------------------------------

    def _before(self, ctx: Any, figure: Figure, day: date | None) -> int:
        if day is not None and day <= ALL_TIME[0]:
            return 0  # nothing is created before 1970: no request
        if day is not None and day > ALL_TIME[1]:
            day = None
        key = (figure, day)
        if key not in self.counts:
            self.counts[key] = self.count_before(ctx, figure, day)
        return self.counts[key]

    def _source(self, ctx: Any, figure: Figure, period: Period) -> int:
        lo, hi = period
        return self._before(ctx, figure, hi + timedelta(days=1)) - self._before(ctx, figure, lo)

    def _ours(self, figure: Figure, period: Period) -> set[int]:
        """Our count of the period under each reading of the day (all time: one number)."""
        rows = [r for r in self.ours if figure.status is None or r.status == figure.status]
        if period == ALL_TIME:
            return {len(rows)}
        lo, hi = period
        readings = max((len(r.days) for r in rows), default=1)
        return {
            sum(1 for r in rows if len(r.days) > i and lo <= r.days[i] <= hi)
            for i in range(readings)
        }

    def _agrees(self, ctx: Any, figure: Figure, period: Period) -> bool:
        return self._source(ctx, figure, period) in self._ours(figure, period)

    # --- plan ---------------------------------------------------------------------------------

    def differences(self, ctx: Any, verification: Verification) -> list[Difference]:
        self.verification = verification
        self.ours, self._straddled = self.our_records(ctx), None
        found: list[Difference] = []
        for figure in self.figures:
            source = self._before(ctx, figure, None)
            ours = next(iter(self._ours(figure, ALL_TIME)))
            if source != ours and (figure, None) in self.seeded:
                # Asked before the entity's read landed: ask again before calling it a difference.
                self.seeded.discard((figure, None))
                del self.counts[(figure, None)]
                source = self._before(ctx, figure, None)
            described = f"{self.label}: {figure.name} all time ({source})"
            if described not in verification.compared:
                verification.compared.append(described)
            if source != ours:
                found.append(Difference(f"{self.label}: {figure.name} all time",
                                        (figure, ALL_TIME), source, ours))
        return found

    def repair(self, ctx: Any, differences: list[Difference], round_: int) -> Iterator[Rows]:
        periods: list[Period] = []
        for difference in differences:
            figure, period = difference.scope
            for leaf in self._bisect(ctx, figure, period):
                if leaf not in periods:
                    periods.append(leaf)
        for period in periods:
            yield from self._reread(ctx, period)

    def rolling(self, ctx: Any, verification: Verification) -> Iterator[Rows]:
        if ctx.since is None or not self.ours:
            return
        from finance_pipeline.config import reverify_days

        verified: dict[date, Any] = {}
        for row in self.ours:
            if row.days and row.verified_at is not None:
                day = row.days[0]
                verified[day] = min(verified.get(day, row.verified_at), row.verified_at)
        runs = reverify_days()
        period = rolling_slice(verified, ctx.since.date(), runs)
        if period is None:
            return
        verification.compared.append(
            f"{self.label}: rolling re-read {period_label(period)} (1/{runs} of the history)"
        )
        yield from self._reread(ctx, period)

    # --- narrowing and re-reading -------------------------------------------------------------

    def _bisect(self, ctx: Any, figure: Figure, period: Period) -> Iterator[Period]:
        """The smallest periods whose counts differ (a day, or what one page reads whole)."""
        if period != ALL_TIME and self._agrees(ctx, figure, period):
            return
        source = self._source(ctx, figure, period)
        small = max(source, *self._ours(figure, period)) <= REREAD_ROWS
        if period != ALL_TIME and (period[0] == period[1] or small):
            yield period
            return
        leaves = [leaf for child in self._children(period) for leaf in self._bisect(ctx, figure, child)]
        # No part differs although the whole does (the readings of a day disagree at a
        # boundary): the whole is re-read, so the round still repairs.
        yield from leaves or [period]

    def _children(self, period: Period) -> list[Period]:
        """All time splits into the years we hold (plus before and after them), other periods
        by `split`; each boundary moved to the nearest day no record of ours straddles."""
        days = [r.days[0] for r in self.ours if r.days]
        if period != ALL_TIME or not days:
            children = split(period)
        else:
            first, last = min(days).year, max(max(days).year, date.today().year)
            children = [
                (ALL_TIME[0], date(first - 1, 12, 31)),
                *((date(y, 1, 1), date(y, 12, 31)) for y in range(first, last + 1)),
                (date(last + 1, 1, 1), ALL_TIME[1]),
            ]
        lo, hi = period
        starts = sorted({
            start for child in children[1:]
            if (start := self._clean_boundary(child[0], lo, hi)) is not None
        })
        edges = [lo, *starts]
        return [
            (start, (edges[i + 1] - timedelta(days=1)) if i + 1 < len(edges) else hi)
            for i, start in enumerate(edges)
        ] if starts else []

    def _clean_boundary(self, day: date, lo: date, hi: date) -> date | None:
        """The day nearest `day` in (lo, hi] that no record of ours straddles (its creation
        day before it under one reading and on or after it under another): our count on
        either side of it is then the same under every reading, and compares exactly."""
        if self._straddled is None:
            self._straddled = {max(r.days) for r in self.ours if len(set(r.days)) > 1}
        for offset in range((hi - lo).days + 1):
            for candidate in (day + timedelta(days=offset), day - timedelta(days=offset)):
                if lo < candidate <= hi and candidate not in self._straddled:
                    return candidate
        return None

    def _reread(self, ctx: Any, period: Period) -> Iterator[Rows]:
        """Every record of the period, with a day's margin on each side (see the module doc);
        ours in the period that it did not return are reported deleted."""
        label = period_label(period)
        ctx.progress(f"{self.label}: re-reading {label}")
        self.verification.reread.append(f"{self.label} {label}")
        lo, hi = period
        first = max(lo - timedelta(days=1), ALL_TIME[0])
        seen: set[str] = set()
        for rows in self.read_period(ctx, first, hi + timedelta(days=1), label):
            seen.update(key for row in rows if (key := self.record_id(row)) is not None)
            yield rows
        ctx.report_deleted(self._gone(period, seen))

    def _gone(self, period: Period, seen: Iterable[str]) -> list[str]:
        lo, hi = period
        returned = set(seen)
        return [
            r.id for r in self.ours
            if r.id not in returned and any(lo <= d <= hi for d in r.days)
        ]
