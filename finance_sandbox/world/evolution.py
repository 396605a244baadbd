"""Advancing the world's clock: new invoices, payments, edits and deletions over time, and the
change log of what one step did.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import accumulate
from typing import Any

from finance_sandbox.world.names import RANDOM_SPECS
from finance_sandbox.world.records import (
    HISTORY_START,
    INITIAL_NOW,
    MSK,
    STAGE_DECLINED,
    STAGE_NEW,
    STAGE_SENT,
    ZERO,
    money,
    round_div,
    to_cents,
)


@dataclass(slots=True)
class Deleted:
    record: Any
    deleted_at: datetime


@dataclass(slots=True)
class ChangeLog:
    """What one `World.advance()` did, as ids per (source, entity)."""

    since: datetime
    until: datetime
    created: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    updated: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    deleted: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def add(self, kind: str, source: str, entity: str, record_id: int) -> None:
        getattr(self, kind).setdefault((source, entity), []).append(record_id)

    def total(self, kind: str) -> int:
        return sum(len(ids) for ids in getattr(self, kind).values())

    def _finalize(self) -> None:
        # An id is reported once, under its strongest change: deleted > created > updated.
        for key, ids in list(self.deleted.items()):
            self.deleted[key] = sorted(set(ids))
        for key, ids in list(self.created.items()):
            gone = set(self.deleted.get(key, ()))
            self.created[key] = sorted(set(ids) - gone)
        for key, ids in list(self.updated.items()):
            skip = set(self.deleted.get(key, ())) | set(self.created.get(key, ()))
            self.updated[key] = sorted(set(ids) - skip)
        for bucket in (self.created, self.updated, self.deleted):
            for key in [k for k, v in bucket.items() if not v]:
                del bucket[key]


class Evolution:
    """Part of `World`: `advance()` and what it changes."""

    # Old history changes too (issue 12): movements dated months back deleted, re-categorised
    # and re-amounted, late entries dated months back, old Bitrix24 invoices deleted with their
    # product rows, old SalesMan paid invoices deleted and edited, old ApiPay invoices'
    # statuses corrected. Off by default so worlds other tests pin keep their sequence; on, it draws
    # from its own generator (seed, step), so the rest of a step is the same either way.
    history_churn: bool = False
    # How far back "old" starts: beyond the 62-day window incremental Adesk reads re-read.
    OLD_AFTER_DAYS = 70

    def advance(self, days: int = 7) -> ChangeLog:
        """Move `now` forward and let the business happen: new invoices and payments, stage
        changes, edits and deletions. Deterministic for a seed and a sequence of calls."""
        if days < 1:
            raise ValueError("days must be at least 1")
        start = self.now
        end = start + timedelta(days=days)
        log = ChangeLog(since=start, until=end)
        self.now = end
        self.steps += 1
        self._period_start = start
        self._period_weeks = days / 7
        rng = self._rng
        before_refunds = set(self.apipay_refunds)

        # New customers now and then.
        for _ in range(sum(1 for _ in range(max(1, days // 7)) if rng.random() < 0.3)):
            when = self._between(start, end).astimezone(MSK)
            cp = self._new_counterparty(
                False, when, "RU" if rng.random() < 0.7 else "KZ", role="customer"
            )
            for cid in cp.bitrix_company_ids:
                log.add("created", "bitrix24", "companies", cid)
                for rid, req in self.bitrix_requisites.items():
                    if req.entity_id == cid:
                        log.add("created", "bitrix24", "requisites", rid)
            for cid in cp.adesk_contractor_ids:
                log.add("created", "adesk", "contractors", cid)
                for rid, areq in self.adesk_contractor_requisites.items():
                    if areq.contractor_id == cid:
                        log.add("created", "adesk", "contractor_requisites", rid)
            for clid in cp.salesman_client_ids:
                log.add("created", "salesman", "clients", clid)

        self._advance_open_invoices(start, end, log)
        self._advance_new_invoices(start, end, days, log)
        self._advance_ledger(start, end, days, log)
        self._advance_edits(start, end, days, log)
        self._advance_deletions(end, days, log)
        if self.history_churn:
            self._advance_old_history(end, log)
        self._commit_pending(log)
        for rid in self.apipay_refunds:
            if rid not in before_refunds:
                log.add("created", "apipay", "refunds", rid)
        old = {acc_id: acc.amount for acc_id, acc in self.bank_accounts.items()}
        for acc_id, amount in self._recompute_balances().items():
            if amount != old[acc_id]:
                log.add("updated", "adesk", "bank_accounts", acc_id)
        log._finalize()
        return log

    def _advance_open_invoices(self, start: datetime, end: datetime, log: ChangeLog) -> None:
        for inv in list(self.bitrix_invoices.values()):
            if inv.stage_id in (STAGE_NEW, STAGE_SENT) and self._settle_bitrix(inv, end, False):
                log.add("updated", "bitrix24", "invoices", inv.id)
        for sinv in list(self.salesman_invoices.values()):
            if not sinv.paid:
                extra = self._settle_salesman(sinv, end, fresh=False)
                if sinv.paid:
                    log.add("updated", "salesman", "invoices", sinv.id)
                for rid in extra:
                    log.add("created", "salesman", "invoices", rid)
        refunds = []
        for ainv in list(self.apipay_invoices.values()):
            status = ainv.status
            if status in ("pending", "cancelling", "paid", "partially_refunded"):
                refunds.extend(self._settle_apipay(ainv, end, fresh=False))
                if ainv.status != status:
                    log.add("updated", "apipay", "invoices", ainv.id)
        for rid in self._apply_refunds(refunds):
            log.add("updated", "apipay", "invoices", self.apipay_refunds[rid].invoice_id)

    def _advance_new_invoices(
        self, start: datetime, end: datetime, days: int, log: ChangeLog
    ) -> None:
        size = self.size
        span = max(1, (INITIAL_NOW.date() - HISTORY_START).days)

        def count(total: int) -> int:
            expected = total * days / span
            return int(expected) + (1 if self._rng.random() < expected - int(expected) else 0)

        for inv_id in self._generate_bitrix_invoices(count(size.bitrix_invoices), start, end):
            log.add("created", "bitrix24", "invoices", inv_id)
        for inv_id in self._generate_salesman_invoices(count(size.salesman_invoices), start, end):
            log.add("created", "salesman", "invoices", inv_id)
        for inv_id in self._generate_apipay_invoices(count(size.apipay_invoices), start, end):
            log.add("created", "apipay", "invoices", inv_id)

    def _advance_ledger(self, start: datetime, end: datetime, days: int, log: ChangeLog) -> None:
        rng = self._rng
        today = self.today()
        # Planned movements whose day has come are confirmed (they now count in balances).
        confirmed = 0
        for txn in self.adesk_transactions.values():
            if txn.is_planned and txn.date <= today:
                txn.is_planned = False
                txn.updated = self._between(start, end).astimezone(MSK)
                log.add("updated", "adesk", "transactions", txn.id)
                confirmed += 1
        span = max(1, (INITIAL_NOW.date() - HISTORY_START).days)
        expected = self.size.extra_transactions * 0.6 * days / span
        n = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
        pools = self._supplier_pools()
        specs = RANDOM_SPECS
        cum = list(accumulate(s[1] for s in specs))
        factor = self._expense_factor
        first = start.astimezone(MSK).date() + timedelta(days=1)
        self._random_movements(
            n, specs, cum, factor, pools, planned=False, lo=min(first, today), hi=today
        )
        # The planning horizon rolls forward: what got confirmed is planned again further on.
        planned = confirmed + round(n * 0.1)
        if rng.random() < 0.15 * days / 7:  # now and then money arrives without an invoice
            self._generate_unmatched_incomes(start, end, count=1)
        self._random_movements(planned, specs, cum, factor, pools, planned=True)
        self._rebalance(min(first, today))

    def _rebalance(self, d: date) -> None:
        """The treasurer's weekly look at the balances: even out a pair of bank accounts when
        one runs low, restock the cash desk."""
        balances = {acc_id: to_cents(amount) for acc_id, amount in self._balances().items()}
        for t in self._pending:
            if not t.is_planned:
                value = to_cents(t.amount)
                balances[t.bank_account_id] += value if t.type == 1 else -value
        acc = self._acc
        for a, b, text in (
            (acc["ru_main"], acc["ru_tbank"], "Перевод собственных средств между счетами"),
            (acc["kz_kaspi"], acc["kz_halyk"], "Вывод средств Kaspi Pay на расчетный счет"),
        ):
            src, dst = (a, b) if balances[a] >= balances[b] else (b, a)
            if balances[dst] < balances[src] * 0.3:
                cents = (balances[src] - balances[dst]) // 2 // 1000_00 * 1000_00
                if cents > 0:
                    self._transfer(src, dst, cents, d, text)
                    balances[src] -= cents
                    balances[dst] += cents
        cash = acc["ru_cash"]
        if balances[cash] < 20_000_00 and balances[acc["ru_main"]] > 100_000_00:
            topup = -(-(50_000_00 - balances[cash]) // 10_000_00) * 10_000_00
            self._transfer(acc["ru_main"], cash, topup, d, "Снятие наличных для подкрепления кассы")

    def _advance_edits(self, start: datetime, end: datetime, days: int, log: ChangeLog) -> None:
        rng = self._rng
        weeks = days / 7

        def moment() -> datetime:
            return self._between(start, end)

        def sample(ids: list[int], share: float, minimum: int = 1) -> list[int]:
            k = min(len(ids), max(minimum, round(len(ids) * share * weeks)))
            return sorted(rng.sample(ids, k)) if ids else []

        open_bitrix = [
            i
            for i, inv in self.bitrix_invoices.items()
            if inv.stage_id in (STAGE_NEW, STAGE_SENT) and inv.created_time < start
        ]
        for inv_id in sample(open_bitrix, 0.05):
            inv = self.bitrix_invoices[inv_id]
            when = moment().astimezone(MSK)
            if inv.rows and rng.random() < 0.5:
                # The manager changes a quantity: totals follow the rows.
                row = rng.choice(inv.rows)
                row.quantity += 1
                inv.opportunity += row.price
                inv.tax_value += money(
                    round_div(to_cents(row.price) * row.tax_rate, 100 + row.tax_rate)
                )
            elif rng.random() < 0.5:
                inv.title = f"{inv.title} (уточнено)"
            else:
                inv.closedate += timedelta(days=7)
            inv.updated_time = max(inv.updated_time, when)
            log.add("updated", "bitrix24", "invoices", inv_id)
        for cid in sample(list(self.bitrix_companies), 0.01):
            company = self.bitrix_companies[cid]
            if "«" in company.title:
                company.title = company.title.replace("«", '"').replace("»", '"')
            elif '"' in company.title:
                company.title = company.title.replace('"', "«", 1).replace('"', "»", 1)
            else:
                company.title = company.title + " "
            company.updated_time = max(company.updated_time, moment().astimezone(MSK))
            log.add("updated", "bitrix24", "companies", cid)
        unpaid = [i for i, s in self.salesman_invoices.items() if not s.paid]
        for sid in sample(unpaid, 0.03):
            sinv = self.salesman_invoices[sid]
            if rng.random() < 0.5:
                sinv.date_plan += timedelta(days=rng.choice((3, 7, 14)))
            else:  # the deal was renegotiated: a new amount, VAT in proportion
                old = to_cents(sinv.summa)
                new = max(1000_00, old + rng.choice((-1, 1)) * rng.randint(1, 20) * 1000_00)
                sinv.nds = money(round_div(to_cents(sinv.nds) * new, old)) if old else ZERO
                sinv.summa = money(new)
            sinv.date_update = max(sinv.date_update, moment().astimezone(MSK).replace(tzinfo=None))
            log.add("updated", "salesman", "invoices", sid)
        editable = self._plain_transactions(limit=400)
        for tid in sample(editable, 0.01, minimum=2):
            txn = self.adesk_transactions[tid]
            if rng.random() < 0.5:
                txn.description = f"{txn.description} (уточнено)"
            else:
                txn.amount = money(to_cents(txn.amount) + rng.randint(1, 50) * 100)
            txn.updated = max(txn.updated, moment().astimezone(MSK))
            log.add("updated", "adesk", "transactions", tid)
        for cid in sample(list(self.adesk_contractors), 0.01):
            contractor = self.adesk_contractors[cid]
            contractor.email = contractor.email or "buh@example.ru"
            contractor.contact_person = " ".join(self._fake.person("RU"))
            contractor.updated = max(contractor.updated, moment().astimezone(MSK))
            log.add("updated", "adesk", "contractors", cid)

    def _plain_transactions(self, limit: int) -> list[int]:
        """Up to `limit` ids of ordinary movements (no invoice, refund or transfer behind them),
        sampled without walking a million-row table in Python more than once."""
        ids = list(self.adesk_transactions)
        if not ids:
            return []
        picks = set()
        for _ in range(limit * 3):
            tid = ids[self._rng.randrange(len(ids))]
            txn = self.adesk_transactions[tid]
            if txn.is_transfer or tid in self._txn_invoice or tid in self._txn_refund:
                continue
            if self.bank_accounts[txn.bank_account_id].status == "closed":
                continue  # a closed account's history is frozen (its balance stays zero)
            if tid in self.deliberate_unmatched_incoming:
                continue
            picks.add(tid)
            if len(picks) >= limit:
                break
        return sorted(picks)

    def _delete(
        self, source: str, entity: str, record_id: int, when: datetime, log: ChangeLog
    ) -> None:
        record = self.table(source, entity).pop(record_id)
        if hasattr(record, "deleted"):
            record.deleted = True
        self.deleted[(source, entity)][record_id] = Deleted(record=record, deleted_at=when)
        log.add("deleted", source, entity, record_id)

    def _advance_deletions(self, end: datetime, days: int, log: ChangeLog) -> None:
        rng = self._rng
        weeks = days / 7
        when = end - timedelta(hours=rng.randint(1, 20))
        # Junk Bitrix invoices: drafts and declined ones.
        junk = [
            i
            for i, inv in self.bitrix_invoices.items()
            if inv.stage_id in (STAGE_NEW, STAGE_DECLINED)
        ]
        for inv_id in sorted(rng.sample(junk, min(len(junk), max(1, round(2 * weeks))))):
            self._delete("bitrix24", "invoices", inv_id, when, log)
        # Bitrix companies nobody invoices (often duplicates), with their requisites.
        used = {inv.company_id for inv in self.bitrix_invoices.values()}
        idle = [cid for cid in self.bitrix_companies if cid not in used]
        if idle and rng.random() < min(1.0, 0.7 * weeks):
            cid = rng.choice(idle)
            for rid in [r for r, req in self.bitrix_requisites.items() if req.entity_id == cid]:
                self._delete("bitrix24", "requisites", rid, when, log)
            self._delete("bitrix24", "companies", cid, when, log)
        # Ordinary movements entered twice or by mistake.
        plain = self._plain_transactions(limit=50)
        for tid in sorted(rng.sample(plain, min(len(plain), max(1, round(3 * weeks))))):
            self._delete("adesk", "transactions", tid, when, log)
        # Adesk contractors without movements or commitments.
        if rng.random() < min(1.0, 0.5 * weeks):
            busy = {t.contractor_id for t in self.adesk_transactions.values()}
            busy |= {c.contractor_id for c in self.adesk_commitments.values()}
            busy |= {p.deal_contractor_id for p in self.projects.values()}
            idle_contractors = [cid for cid in self.adesk_contractors if cid not in busy]
            if idle_contractors:
                cid = rng.choice(idle_contractors)
                for rid in [
                    r
                    for r, req in self.adesk_contractor_requisites.items()
                    if req.contractor_id == cid
                ]:
                    self._delete("adesk", "contractor_requisites", rid, when, log)
                self._delete("adesk", "contractors", cid, when, log)

    def _advance_old_history(self, end: datetime, log: ChangeLog) -> None:
        """Changes to records dated months back, which no change marker announces."""
        main_rng = self._rng
        self._rng = random.Random(f"{self.seed}:{self.steps}:old-history")
        try:
            self._churn_old_history(end, log)
        finally:
            self._rng = main_rng

    def _churn_old_history(self, end: datetime, log: ChangeLog) -> None:
        rng = self._rng
        when = end - timedelta(hours=rng.randint(1, 20))
        today = self.today()
        horizon = today - timedelta(days=self.OLD_AFTER_DAYS)
        old = [t for t in self._plain_transactions(limit=200)
               if self.adesk_transactions[t].date < horizon
               and not self.adesk_transactions[t].is_planned]
        rng.shuffle(old)
        # A movement dated months back deleted (a duplicate import found at the audit).
        if old:
            self._delete("adesk", "transactions", old.pop(), when, log)
        # One re-amounted, one re-categorised: neither moves a count; the first moves a balance.
        if old:
            txn = self.adesk_transactions[old.pop()]
            txn.amount = money(to_cents(txn.amount) + rng.randint(1, 500) * 100)
            txn.updated = max(txn.updated, when.astimezone(MSK))
            log.add("updated", "adesk", "transactions", txn.id)
        if old:
            txn = self.adesk_transactions[old.pop()]
            choices = [
                c.id for c in self.categories.values()
                if c.type == txn.type and c.id != txn.category_id and not c.is_system
                and not c.is_archived and not c.is_owner_transfer and "налог" not in c.name.lower()
            ]
            if choices:
                txn.category_id = rng.choice(sorted(choices))
                txn.updated = max(txn.updated, when.astimezone(MSK))
                log.add("updated", "adesk", "transactions", txn.id)
        # A late entry: an old bank statement imported now, dated two to eight months back.
        first = max(HISTORY_START, today - timedelta(days=240))
        late = today - timedelta(days=rng.randint(60, 240))
        if late >= first:
            specs = RANDOM_SPECS
            self._random_movements(
                1, specs, list(accumulate(s[1] for s in specs)), self._expense_factor,
                self._supplier_pools(), planned=False, lo=late, hi=late,
            )
        # An old Bitrix24 invoice deleted, its product rows with it.
        stale = [
            i for i, inv in self.bitrix_invoices.items()
            if inv.rows and inv.created_time.date() < horizon
            and inv.stage_id in (STAGE_NEW, STAGE_DECLINED)
        ]
        if stale:
            self._delete("bitrix24", "invoices", rng.choice(sorted(stale)), when, log)
        # Drawn last, so the changes above stay what they were before these were added.
        self._churn_old_invoices(horizon, when, log)

    def _churn_old_invoices(self, horizon: date, when: datetime, log: ChangeLog) -> None:
        """Old SalesMan paid invoices and ApiPay invoices changed, which their lists' change
        filters (creation and payment dates, open statuses) never show."""
        rng = self._rng
        parts: dict[tuple[str, int], int] = {}
        for inv in self.salesman_invoices.values():
            parts[(inv.invoice, inv.did)] = parts.get((inv.invoice, inv.did), 0) + 1
        paid = sorted(
            i for i, inv in self.salesman_invoices.items()
            if inv.paid and inv.date_create.date() < horizon and parts[(inv.invoice, inv.did)] == 1
        )
        rng.shuffle(paid)
        # A paid invoice issued twice, found at the audit and deleted (the SalesMan doc: the
        # "invoice" method adds, updates and deletes).
        if paid:
            self._delete("salesman", "invoices", paid.pop(), when, log)
        # A paid invoice's paperwork corrected: its contract number (no count moves).
        if paid:
            sinv = self.salesman_invoices[paid.pop()]
            sinv.contract = f"Д-{rng.randint(401, 800)}/{sinv.date_create.year}"
            sinv.date_update = max(sinv.date_update, when.astimezone(MSK).replace(tzinfo=None))
            log.add("updated", "salesman", "invoices", sinv.id)
        # ApiPay publishes no way to delete an invoice (apipay-docs invoices.md: cancel, refund
        # and a status check only): an old `expired` invoice is corrected to `cancelled` by a
        # status check (POST /invoices/status/check, "useful when webhooks are delayed").
        expired = sorted(
            i for i, inv in self.apipay_invoices.items()
            if inv.status == "expired" and inv.created_at.date() < horizon
        )
        if expired:
            ainv = self.apipay_invoices[rng.choice(expired)]
            ainv.status = "cancelled"
            ainv.updated_at = max(ainv.updated_at, when)
            log.add("updated", "apipay", "invoices", ainv.id)
