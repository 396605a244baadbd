"""What a correct warehouse must contain, recomputed from the world's current state."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from finance_sandbox.world.bitrix24_portal import portal_stage
from finance_sandbox.world.records import (
    ALMATY,
    APIPAY_PAID_STATUSES,
    ENTITIES,
    MSK,
    STAGE_PAID,
    ZERO,
    money,
    to_cents,
)


@dataclass(slots=True)
class InvoiceStat:
    count: int = 0
    amount: Decimal = ZERO


@dataclass(slots=True)
class PaidInvoice:
    """A paid invoice as the ledger should see it (see `World.iter_paid_invoices`)."""

    source: str
    invoice_id: int
    number: str  # what a payer writes: account number, SalesMan number, ApiPay id
    amount: Decimal  # the amount paid (ApiPay: before refunds)
    currency: str  # "RUR" | "KZT"
    paid_date: date  # local date of payment (Moscow; Almaty for ApiPay)
    counterparty: str | None


@dataclass(slots=True)
class Truth:
    """Facts recomputed from the current state; what a correct pipeline must reproduce."""

    now: datetime
    counts: dict[tuple[str, str], int]  # live records per (source, entity)
    deleted_counts: dict[tuple[str, str], int]
    # (source, native status) -> count and amount. Native status: Bitrix stage id, SalesMan
    # "paid"/"unpaid" (its "do" flag), ApiPay status.
    invoices: dict[tuple[str, str], InvoiceStat]
    balances: dict[int, Decimal]  # bank account id -> initial + completed movements up to now
    # Completed movements per account currency ("RUR"/"KZT"/"USD"), without transfers and owner
    # transfers.
    income_total: dict[str, Decimal]
    outcome_total: dict[str, Decimal]
    planned_count: int
    actual_count: int
    transfers_count: int
    paid_invoices: int
    paid_invoices_matched: int  # paid invoices with a live income movement for them
    paid_unrecorded: frozenset[tuple[str, int]]  # paid invoices without one: (source, id)
    # Completed sales incomes (category Продажи) that belong to no paid invoice.
    unmatched_incoming: frozenset[int]
    refunds_count: int
    refunds_total: Decimal
    distinct_counterparties: int  # real companies with a live record in at least one system
    products_count: int


class WorldTruth:
    """Part of `World`: the facts a correct pipeline must reproduce."""

    def paid_date(self, source: str, invoice: Any) -> date | None:
        """The local payment date of a paid invoice record, None when it is not paid."""
        if source == "bitrix24":
            return (
                invoice.moved_time.astimezone(MSK).date()
                if invoice.stage_id == STAGE_PAID
                else None
            )
        if source == "salesman":
            return invoice.date_fact if invoice.paid else None
        if source == "apipay":
            if invoice.status in APIPAY_PAID_STATUSES and invoice.paid_at is not None:
                return invoice.paid_at.astimezone(ALMATY).date()
            return None
        raise ValueError(f"unknown invoicing source {source!r}")

    def iter_paid_invoices(self) -> Iterator[PaidInvoice]:
        """Every live paid invoice of the three invoicing systems."""
        for inv in self.bitrix_invoices.values():
            if inv.stage_id == STAGE_PAID:
                yield PaidInvoice(
                    "bitrix24",
                    inv.id,
                    inv.account_number,
                    inv.opportunity,
                    "RUR",
                    inv.moved_time.astimezone(MSK).date(),
                    self.counterparty_of("bitrix24", "invoices", inv.id),
                )
        for sinv in self.salesman_invoices.values():
            if sinv.paid and sinv.date_fact is not None:
                yield PaidInvoice(
                    "salesman",
                    sinv.id,
                    sinv.invoice,
                    sinv.summa,
                    "RUR",
                    sinv.date_fact,
                    self.counterparty_of("salesman", "invoices", sinv.id),
                )
        for ainv in self.apipay_invoices.values():
            if ainv.status in APIPAY_PAID_STATUSES and ainv.paid_at is not None:
                yield PaidInvoice(
                    "apipay",
                    ainv.id,
                    str(ainv.id),
                    ainv.amount,
                    "KZT",
                    ainv.paid_at.astimezone(ALMATY).date(),
                    self.counterparty_of("apipay", "invoices", ainv.id),
                )

    @property
    def truth(self) -> Truth:
        return self._compute_truth()

    def _compute_truth(self) -> Truth:
        today = self.today()
        counts = {key: len(getattr(self, attr)) for key, attr in ENTITIES.items()}
        deleted_counts = {key: len(v) for key, v in self.deleted.items()}
        stats: dict[tuple[str, str], InvoiceStat] = {}

        def add(source: str, status: str, amount: Decimal) -> None:
            stat = stats.setdefault((source, status), InvoiceStat())
            stat.count += 1
            stat.amount += amount

        for inv in self.bitrix_invoices.values():
            # the native status is the stage the portal shows (the invoice's funnel, custom too)
            add("bitrix24", portal_stage(inv).status_id, inv.opportunity)
        for sinv in self.salesman_invoices.values():
            add("salesman", "paid" if sinv.paid else "unpaid", sinv.summa)
        for ainv in self.apipay_invoices.values():
            add("apipay", ainv.status, ainv.amount)

        live_txns = self.adesk_transactions
        paid_total = matched = 0
        unrecorded: set[tuple[str, int]] = set()
        paying: set[int] = set()
        for paid in self.iter_paid_invoices():
            paid_total += 1
            key = (paid.source, paid.invoice_id)
            txn_id = self._invoice_payment.get(key)
            if txn_id is not None and txn_id in live_txns:
                matched += 1
                paying.add(txn_id)
            else:
                unrecorded.add(key)

        sales = self._cat["sales"]
        owner = {c.id for c in self.categories.values() if c.is_owner_transfer}
        currency = {a.id: a.currency for a in self.bank_accounts.values()}
        # One total per currency the business holds money in (USD: the currency account).
        income = dict.fromkeys(sorted(set(currency.values())), 0)
        outcome = dict.fromkeys(sorted(set(currency.values())), 0)
        balances = {acc_id: to_cents(a.initial_amount) for acc_id, a in self.bank_accounts.items()}
        planned = actual = 0
        unmatched: list[int] = []
        for txn in live_txns.values():
            if txn.is_planned:
                planned += 1
                continue
            actual += 1
            if txn.date > today:
                continue
            value = to_cents(txn.amount)
            balances[txn.bank_account_id] += value if txn.type == 1 else -value
            if txn.is_transfer or txn.category_id in owner:
                continue
            if txn.type == 1:
                income[currency[txn.bank_account_id]] += value
                if txn.category_id == sales and txn.id not in paying:
                    unmatched.append(txn.id)
            else:
                outcome[currency[txn.bank_account_id]] += value

        refunds_total = sum(
            (r.amount for r in self.apipay_refunds.values() if r.status == "completed"), ZERO
        )
        seen: set[str] = set()
        for (source, entity, record_id), key in self._cp_index.items():
            if entity in ("companies", "clients", "contractors") and record_id in self.table(
                source, entity
            ):
                seen.add(key)
        for ainv in self.apipay_invoices.values():
            key = self._cp_by_apipay_phone.get(ainv.phone_number)
            if key is not None:
                seen.add(key)
        return Truth(
            now=self.now,
            counts=counts,
            deleted_counts=deleted_counts,
            invoices=stats,
            balances={acc_id: money(c) for acc_id, c in balances.items()},
            income_total={c: money(v) for c, v in income.items()},
            outcome_total={c: money(v) for c, v in outcome.items()},
            planned_count=planned,
            actual_count=actual,
            transfers_count=len(self.adesk_transfers),
            paid_invoices=paid_total,
            paid_invoices_matched=matched,
            paid_unrecorded=frozenset(unrecorded),
            unmatched_incoming=frozenset(unmatched),
            refunds_count=sum(1 for r in self.apipay_refunds.values() if r.status == "completed"),
            refunds_total=refunds_total,
            distinct_counterparties=len(seen),
            products_count=len(self.products),
        )
