"""Issue 12 item 4: every incremental run ends exact. The sandbox's world changes its old history
too (`World.history_churn`: movements dated months back deleted, re-amounted, re-categorised,
late entries dated months back, old Bitrix24 invoices deleted with their product rows, old
SalesMan paid invoices deleted and corrected, old ApiPay invoices' statuses corrected), and
after EVERY incremental run the warehouse equals the sandbox's truth: raw live rows, the
movements' amounts and dates, account balances to the cent, marts.invoices/invoice_lines.
What no count or balance reveals (a re-categorised movement, a corrected contract number or
status) is right within FINANCE_REVERIFY_DAYS runs (the rolling re-read).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from reliability_kit import (
    assert_raw_matches_truth,
    build_models,
    entity_specs,
    environment,
    live_env,
    live_resources,
    make_sandbox,
    sync_source,
    with_overrides,
)

from finance_pipeline.sources.reconcile import UnrepairedDifferenceError, Verification
from finance_pipeline.warehouse.resource import WarehouseResource
from finance_sandbox.core import Sandbox, ServerVariant
from finance_sandbox.world.bitrix24_portal import legacy_invoices

pytestmark = pytest.mark.timeout(300)

REVERIFY_DAYS = 3


class Rig:
    def __init__(self, sandbox: Sandbox, resource: Any, path: Path) -> None:
        self.sandbox, self.resource, self.path = sandbox, resource, path
        self.warehouse = WarehouseResource(path=str(path))

    def sync(self, source: str, *, full: bool = False, run: str = "run") -> dict[str, Any]:
        return sync_source(self.resource, self.warehouse, source, full=full, run_id=run)


@contextlib.contextmanager
def rig_for(source: str, tmp_path: Path, **overrides: Any) -> Iterator[Rig]:
    sandbox = make_sandbox()
    sandbox.world.history_churn = True
    with sandbox.serve() as servers:
        env = {
            **live_env(servers),
            "FINANCE_RATE_LIMIT_DIR": str(tmp_path / "buckets"),
            "FINANCE_REVERIFY_DAYS": str(REVERIFY_DAYS),
        }
        with environment(env):
            resource = live_resources(env, max_attempts=2)[source]
            if overrides:
                resource = with_overrides(resource, **overrides)
            yield Rig(sandbox, resource, tmp_path / "w.duckdb")


def tables(source: str) -> list[str]:
    return [spec.table for spec in entity_specs(source)]


def landed_movements(path: Path) -> dict[int, tuple[str, str, str | None]]:
    """Live raw movements: id -> (amount, date, category id)."""
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute(
            "SELECT id, payload ->> '$.amount', payload ->> '$.date', payload ->> '$.category.id' "
            "FROM raw.adesk_transactions WHERE deleted_at IS NULL"
        ).fetchall()
    return {int(r[0]): (r[1], r[2], r[3]) for r in rows}


def latest_balances(path: Path) -> dict[int, Decimal]:
    build_models(path)
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute(
            "SELECT bank_account_id, closing_balance FROM marts.account_balances WHERE is_latest"
        ).fetchall()
    return {int(r[0]): r[1] for r in rows}


@pytest.mark.slow  # ~3 min on a loaded 2-core machine: a full sync, 5 incremental days, models
def test_adesk_incremental_runs_equal_the_truth_after_every_run(tmp_path: Path) -> None:
    with rig_for("adesk", tmp_path, page_length=1000) as rig:
        world = rig.sandbox.world
        rig.sync("adesk", full=True, run="full")
        recategorised: dict[int, int] = {}  # movement id -> the run that re-categorised it
        saw = {"old deletion": False, "late entry": False, "old edit": False}
        for day in range(1, 6):
            before = {tid: (t.amount, t.category_id) for tid, t in world.adesk_transactions.items()}
            change = world.advance(1)
            horizon = world.today().toordinal() - 62
            for tid in change.deleted.get(("adesk", "transactions"), []):
                saw["old deletion"] |= world.deleted[("adesk", "transactions")][tid].record.date.toordinal() < horizon
            for tid in change.created.get(("adesk", "transactions"), []):
                saw["late entry"] |= world.adesk_transactions[tid].date.toordinal() < horizon
            for tid in change.updated.get(("adesk", "transactions"), []):
                txn = world.adesk_transactions[tid]
                if tid in before and before[tid][1] != txn.category_id:
                    recategorised[tid] = day
                saw["old edit"] |= tid in before and before[tid][0] != txn.amount and txn.date.toordinal() < horizon

            meta = rig.sync("adesk", run=f"day-{day}")["adesk_transactions"]

            assert_raw_matches_truth(rig.path, world, tables("adesk"))
            landed = landed_movements(rig.path)
            for tid, txn in world.adesk_transactions.items():
                amount, dmy, _ = landed[tid]
                assert (Decimal(amount), dmy) == (txn.amount, txn.date.strftime("%d.%m.%Y")), (
                    f"day {day}: movement {tid} lands {amount} {dmy}, Adesk says "
                    f"{txn.amount} {txn.date}"
                )
            for tid, run in recategorised.items():
                txn = world.adesk_transactions.get(tid)
                if txn is not None and day - run >= REVERIFY_DAYS - 1:
                    assert landed[tid][2] == str(txn.category_id), (
                        f"day {day}: movement {tid} re-categorised on day {run} not re-read "
                        f"within {REVERIFY_DAYS} runs"
                    )
            assert latest_balances(rig.path) == world.truth.balances, f"day {day}: balances"
            assert meta["verification_compared"] != "nothing"
            assert meta["verification_requests"] >= 3
        assert all(saw.values()), f"the world did not play every change: {saw}"
        assert recategorised, "no movement was re-categorised"


@pytest.mark.slow  # ~35 s on a loaded 2-core machine (a full sync first)
def test_adesk_movement_deleted_months_back_balance_right_after_one_run(tmp_path: Path) -> None:
    """The issue's case: a movement dated months back deleted upstream; after one incremental
    run the account's balance is Adesk's to the cent, the movement is marked deleted, and the
    repair cost a bisection, not a re-read of the history."""
    with rig_for("adesk", tmp_path, page_length=1000) as rig:
        world = rig.sandbox.world
        world.history_churn = False
        rig.sync("adesk", full=True, run="full")
        world.advance(1)
        rig.sync("adesk", run="settle")  # a plain day first: the cursor and window settle
        horizon = world.today().toordinal() - 120
        old = next(
            t for t in sorted(world.adesk_transactions.values(), key=lambda t: t.id)
            if t.date.toordinal() < horizon and not t.is_transfer and not t.is_planned
            and t.id not in world._txn_invoice and t.id not in world._txn_refund
        )
        del world.adesk_transactions[old.id]
        world.steps += 1  # the sandbox's ledger index follows the world's version
        world._recompute_balances()  # Adesk's balance no longer counts it
        meta = rig.sync("adesk", run="after-delete")["adesk_transactions"]
        assert old.id not in landed_movements(rig.path)
        assert latest_balances(rig.path) == world.truth.balances
        assert "all time" in meta["verification_differed"]
        assert meta["verification_marked_deleted"] >= 1
        full_requests = meta["verification_requests"]
        assert full_requests < 80, f"repair cost {full_requests} requests"


@pytest.mark.slow  # ~35 s on a loaded 2-core machine (a full sync first)
def test_adesk_nothing_changed_costs_at_most_five_verification_requests(tmp_path: Path) -> None:
    with rig_for("adesk", tmp_path, page_length=1000) as rig:
        world = rig.sandbox.world
        world.history_churn = False
        rig.sync("adesk", full=True, run="full")
        meta = rig.sync("adesk", run="no-change")["adesk_transactions"]
        verification = meta["verification_requests"] - meta["verification_rolling_requests"]
        assert verification <= 5, meta
        assert meta["verification_differed"] == "nothing"


@pytest.mark.slow  # ~35 s on a loaded 2-core machine (a full sync first)
def test_a_difference_that_cannot_be_repaired_fails_loudly(tmp_path: Path) -> None:
    """A source whose figures disagree with its own lists (Adesk reports a balance no movement
    explains): the entity fails with UnrepairedDifferenceError naming the figure."""
    with rig_for("adesk", tmp_path, page_length=1000) as rig:
        world = rig.sandbox.world
        world.history_churn = False
        rig.sync("adesk", full=True, run="full")
        account = next(a for a in world.bank_accounts.values() if a.status == "open")
        account.amount += Decimal("150000.00")
        original = world._recompute_balances
        world._recompute_balances = lambda: {}  # keep the tampered balance
        try:
            with pytest.raises(UnrepairedDifferenceError) as info:
                rig.sync("adesk", run="tampered")
        finally:
            world._recompute_balances = original
        assert f"balance of account {account.id}" in str(info.value)
        # ...and the check on the entity fails too, naming the figure.
        from finance_pipeline.checks import run_check
        from finance_pipeline.checks.reconciliation import CHECKS

        check = next(c for c in CHECKS if c.table == "staging.adesk_transactions")
        with duckdb.connect(str(rig.path)) as conn:
            result = run_check(conn, check)
        assert not result.passed and f"account {account.id}" in str(result.metadata["sample"])


def invoice_keys(path: Path) -> tuple[set[str], set[str]]:
    build_models(path)
    with duckdb.connect(str(path), read_only=True) as conn:
        invoices = {r[0] for r in conn.execute(
            "SELECT source_id FROM marts.invoices WHERE source = 'bitrix24'").fetchall()}
        lines = {r[0] for r in conn.execute(
            "SELECT line_key FROM marts.invoice_lines WHERE source = 'bitrix24'").fetchall()}
    return invoices, lines


@pytest.mark.slow  # ~1.5 min loaded: a full sync, 3 incremental days, the models after each
def test_bitrix24_deletions_are_gone_after_every_incremental_run(tmp_path: Path) -> None:
    """The issue's case: an invoice deleted upstream is gone with its product rows from
    marts.invoices / marts.invoice_lines after the incremental run; companies and requisites
    deleted upstream likewise."""
    with rig_for("bitrix24", tmp_path) as rig:
        world = rig.sandbox.world
        rig.sync("bitrix24", full=True, run="full")
        deleted_invoices = 0
        for day in range(1, 4):
            change = world.advance(1)
            deleted_invoices += len(change.deleted.get(("bitrix24", "invoices"), []))
            meta = rig.sync("bitrix24", run=f"day-{day}")
            assert_raw_matches_truth(rig.path, world, tables("bitrix24"))
            invoices, lines = invoice_keys(rig.path)
            legacy = legacy_invoices(world)  # the portal's pre-2021 history, never deleted here
            assert invoices == {str(i) for i in world.bitrix_invoices} | {
                f"legacy:{i}" for i in legacy
            }, f"day {day}"
            assert lines == {
                f"bitrix24:{row.id}" for inv in world.bitrix_invoices.values() for row in inv.rows
            } | {
                f"bitrix24:legacy:{inv.id}:{row.id}" for inv in legacy.values() for row in inv.rows
            }, f"day {day}"
            assert meta["bitrix24_invoices"]["verification_compared"].startswith("invoices id list")
        assert deleted_invoices > 0, "the world deleted no invoice"


def test_periods_narrow_from_years_to_single_days() -> None:
    """The bisection's periods: calendar years over a span of years, then halves; children
    always cover their parent exactly, and every chain ends on single days."""
    from datetime import date, timedelta
    from itertools import pairwise

    from finance_pipeline.sources.adesk.reconcile import split

    parent = (date(2023, 3, 5), date(2025, 11, 20))
    years = split(parent)
    assert [p[0].year for p in years] == [2023, 2024, 2025]
    period, steps = years[1], 0
    while period[0] != period[1]:
        children = split(period)
        assert children[0][0] == period[0] and children[-1][1] == period[1]
        assert all(a[1] + timedelta(days=1) == b[0] for a, b in pairwise(children))
        period, steps = children[-1], steps + 1
    assert steps <= 9  # a leap year's 366 days in at most 9 halvings


# --- SalesMan and ApiPay: counts per creation period (sources/period_counts.py) ---------------


def live_payloads(path: Path, table: str) -> dict[str, dict[str, Any]]:
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute(f"SELECT id, payload FROM raw.{table} WHERE deleted_at IS NULL").fetchall()
    return {str(r[0]): json.loads(r[1]) for r in rows}


def verification_cost(meta: dict[str, dict[str, Any]]) -> int:
    """Verification requests of one source's run, the rolling re-read apart."""
    return sum(
        m.get("verification_requests", 0) - m.get("verification_rolling_requests", 0)
        for m in meta.values()
    )


@pytest.mark.parametrize("active", ["ignored", "default_unpaid"])  # the vendor's code; the doc
def test_salesman_incremental_runs_equal_the_truth_after_every_run(
    tmp_path: Path, active: str
) -> None:
    """Old paid invoices deleted upstream are gone (with their details) after the run that
    follows; an old paid invoice's contract corrected is right within FINANCE_REVERIFY_DAYS
    runs; a run with nothing changed asks SalesMan nothing more than before."""
    with rig_for("salesman", tmp_path) as rig:
        rig.sandbox.set_variant("salesman", ServerVariant(salesman_active=active))
        world = rig.sandbox.world
        rig.sync("salesman", full=True, run="full")
        meta = rig.sync("salesman", run="no-change")
        assert verification_cost(meta) <= 5, meta
        assert meta["salesman_invoices"].get("verification_differed", "nothing") == "nothing"
        edited: dict[int, int] = {}  # invoice id -> the day its contract was corrected
        old_paid_deleted = 0
        for day in range(1, REVERIFY_DAYS + 1):
            contracts = {i: inv.contract for i, inv in world.salesman_invoices.items()}
            horizon = world.today() - timedelta(days=world.OLD_AFTER_DAYS)
            change = world.advance(1)
            for sid in change.deleted.get(("salesman", "invoices"), []):
                gone = world.deleted[("salesman", "invoices")][sid].record
                old_paid_deleted += gone.paid and gone.date_create.date() < horizon
            for sid in change.updated.get(("salesman", "invoices"), []):
                if sid in contracts and contracts[sid] != world.salesman_invoices[sid].contract:
                    edited[sid] = day

            rig.sync("salesman", run=f"day-{day}")

            assert_raw_matches_truth(rig.path, world, tables("salesman"))
            invoices = live_payloads(rig.path, "salesman_invoices")
            details = live_payloads(rig.path, "salesman_invoice_details")
            for sid, run in edited.items():
                if day - run >= REVERIFY_DAYS - 1:
                    contract = world.salesman_invoices[sid].contract
                    assert invoices[str(sid)]["contract"] == contract, f"day {day}: invoice {sid}"
                    assert details[str(sid)]["contractnum"] == contract, f"day {day}: details {sid}"
        assert old_paid_deleted, "the world deleted no old paid invoice"
        assert edited, "the world corrected no old paid invoice"


def test_apipay_incremental_runs_equal_the_truth_after_every_run(tmp_path: Path) -> None:
    """Old ApiPay invoices whose status a status check corrected are right within
    FINANCE_REVERIFY_DAYS runs; an old invoice and an old refund that vanish from ApiPay's lists
    are marked deleted by the very next run; a run with nothing changed costs at most 5
    verification requests."""
    with rig_for("apipay", tmp_path) as rig:
        world = rig.sandbox.world
        rig.sync("apipay", full=True, run="full")
        meta = rig.sync("apipay", run="no-change")
        assert verification_cost(meta) <= 5, meta
        assert all(m.get("verification_differed", "nothing") == "nothing" for m in meta.values())
        corrected: dict[int, int] = {}  # invoice id -> the day its status was corrected
        for day in range(1, REVERIFY_DAYS + 1):
            statuses = {i: inv.status for i, inv in world.apipay_invoices.items()}
            change = world.advance(1)
            for aid in change.updated.get(("apipay", "invoices"), []):
                if statuses.get(aid) == "expired" and world.apipay_invoices[aid].status == "cancelled":
                    corrected[aid] = day
            vanished: list[str] = []
            if day == 2:  # records that leave the lists with no change marker
                vanished = vanish_old_apipay_records(world)

            meta = rig.sync("apipay", run=f"day-{day}")

            assert_raw_matches_truth(rig.path, world, tables("apipay"))
            invoices = live_payloads(rig.path, "apipay_invoices")
            for aid, run in corrected.items():
                if day - run >= REVERIFY_DAYS - 1:
                    assert invoices[str(aid)]["status"] == "cancelled", f"day {day}: invoice {aid}"
            if vanished:
                differed = meta["apipay_invoices"]["verification_differed"]
                assert "apipay invoices: count all time" in differed, differed
                differed = meta["apipay_refunds"]["verification_differed"]
                assert "apipay refunds: count all time" in differed, differed
        assert corrected, "the world corrected no old invoice's status"


def vanish_old_apipay_records(world: Any) -> list[str]:
    """An old invoice without refunds and an old refund leave ApiPay's lists."""
    horizon = world.now - timedelta(days=world.OLD_AFTER_DAYS)
    refunded = {r.invoice_id for r in world.apipay_refunds.values()}
    invoice = next(
        inv for inv in sorted(world.apipay_invoices.values(), key=lambda i: i.id)
        if inv.created_at < horizon and inv.id not in refunded
    )
    del world.apipay_invoices[invoice.id]
    refund = min(world.apipay_refunds.values(), key=lambda r: r.created_at)
    del world.apipay_refunds[refund.id]
    world.steps += 1
    return [f"invoice {invoice.id}", f"refund {refund.id}"]


class _Ctx:
    """What PeriodCountPlan asks of an ExtractContext."""

    def __init__(self) -> None:
        self.deleted: list[str] = []

    def progress(self, _message: str) -> None:
        pass

    def report_deleted(self, ids: Any) -> None:
        self.deleted.extend(ids)


@pytest.mark.parametrize("zone", [0, 1])  # the source counts days in UTC, or in Asia/Almaty
def test_period_counts_find_the_deleted_record_under_either_reading_of_the_day(zone: int) -> None:
    """A source that counts its days in either of two zones: the bisection narrows to the
    period holding the record deleted upstream, re-reads it, and reports exactly that record
    deleted, asking a few dozen counts, not one per day."""
    from datetime import date

    from finance_pipeline.sources.period_counts import Figure, Ours, PeriodCountPlan

    start = date(2024, 1, 1)
    # id -> (UTC day, Almaty day): every 7th record is created after 19:00 UTC (the next
    # Almaty day), so the two readings disagree at many period boundaries.
    source = {
        str(i): (start + timedelta(days=i // 3), start + timedelta(days=i // 3 + (i % 7 == 0)))
        for i in range(1500)
    }

    class Plan(PeriodCountPlan):
        asked = 0

        def count_before(self, ctx: Any, figure: Figure, day: Any) -> int:
            self.asked += 1
            return sum(1 for d in source.values() if day is None or d[zone] < day)

        def our_records(self, ctx: Any) -> list[Ours]:
            return ours

        def read_period(self, ctx: Any, first: Any, last: Any, label: str) -> Any:
            yield [{"id": i} for i, d in source.items() if first <= d[zone] <= last]

        def record_id(self, row: dict[str, Any]) -> str | None:
            return str(row["id"])

    deleted = "700"
    ours = [Ours(i, d, None, None) for i, d in source.items()]
    del source[deleted]
    plan, ctx = Plan(label="test", figures=(Figure("count"),)), _Ctx()
    differences = plan.differences(ctx, Verification())
    assert [d.figure for d in differences] == ["test: count all time"]
    rows = [row for rows in plan.repair(ctx, differences, 0) for row in rows]
    assert ctx.deleted == [deleted]
    assert 0 < len(rows) <= 2 * 100 and plan.asked <= 30
