"""The sandbox business has the shape of a real small company's (world/behaviour.py): most
invoices paid within their terms, a thin tail paid late, a few never paid and now over 90 days
overdue; sales that vary month to month with the season, little at weekends and at New Year."""

from __future__ import annotations

from collections import Counter
from datetime import date
from statistics import mean, pstdev

import pytest

from finance_sandbox.world import World, WorldSize
from finance_sandbox.world.records import STAGE_PAID, STAGE_SENT


@pytest.fixture(scope="module")
def world() -> World:
    # Larger than the default so that the shares below are not luck of a few invoices.
    return World(WorldSize(bitrix_invoices=2000, salesman_invoices=600))


def settled(world: World) -> tuple[list[int], list[int]]:
    """(days late of each paid invoice, 0 when on time; days overdue of each open invoice)
    for the two systems with payment terms (Bitrix24 `closedate`, SalesMan `date_plan`)."""
    today: date = world.today()
    late: list[int] = []
    overdue: list[int] = []
    for inv in world.bitrix_invoices.values():
        if inv.stage_id == STAGE_PAID:
            late.append(max(0, (inv.moved_time.date() - inv.closedate).days))
        elif inv.stage_id == STAGE_SENT:
            overdue.append((today - inv.closedate).days)
    for sm in world.salesman_invoices.values():
        if sm.paid and sm.date_fact is not None:
            late.append(max(0, (sm.date_fact - sm.date_plan).days))
        elif not sm.paid:
            overdue.append((today - sm.date_plan).days)
    return late, overdue


def test_most_invoices_are_paid_within_terms_and_a_tail_is_late(world: World) -> None:
    late, _ = settled(world)
    on_time = sum(1 for days in late if days == 0) / len(late)
    assert 0.7 < on_time < 0.97, on_time
    paid_late = [days for days in late if days > 0]
    # Late payers: mostly within a month, a few much later.
    assert paid_late and sorted(paid_late)[len(paid_late) // 2] <= 30
    assert max(paid_late) > 30


def test_a_few_invoices_are_never_paid_and_drift_past_90_days(world: World) -> None:
    late, overdue = settled(world)
    tail = [days for days in overdue if days > 90]
    assert tail, "no invoice over 90 days overdue"
    # A tail, not the bulk: bad debts are a few per cent of the invoices issued.
    assert len(tail) < 0.08 * (len(late) + len(overdue)), (len(tail), len(late), len(overdue))


def test_sales_follow_the_season_and_the_working_week(world: World) -> None:
    issued = [inv.begindate for inv in world.bitrix_invoices.values()] + [
        sm.date_create.date() for sm in world.salesman_invoices.values() if sm.part == 1
    ]
    full_months = Counter(
        (d.year, d.month) for d in issued if (d.year, d.month) < (world.today().year,
                                                                  world.today().month)
    )
    counts = list(full_months.values())
    assert pstdev(counts) / mean(counts) > 0.15, "sales do not vary month to month"
    # Per calendar month, averaged over the years the history covers it in full.
    by_month = {
        month: mean(n for (_, m), n in full_months.items() if m == month) for month in range(1, 13)
    }
    assert by_month[12] > 1.5 * by_month[1]  # December's rush, January's holidays
    assert mean(by_month[m] for m in (10, 11, 12)) > 1.2 * mean(by_month[m] for m in (6, 7, 8))
    weekend = sum(1 for d in issued if d.weekday() >= 5) / len(issued)
    assert weekend < 0.05, weekend
    january = [d for d in issued if d.month == 1]
    assert sum(1 for d in january if d.day <= 8) < 0.1 * len(january)


def test_the_same_seed_makes_the_same_business() -> None:
    size = WorldSize(bitrix_invoices=200, salesman_invoices=60, seed=7)
    first, second = World(size), World(size)
    assert settled(first) == settled(second)
    assert first.digest() == second.digest()
