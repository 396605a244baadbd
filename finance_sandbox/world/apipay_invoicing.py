"""ApiPay.kz invoices: issuing them, status transitions, expiry, refunds, and their ledger
records.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from finance_sandbox.world.names import FAST_SALE_NAMES, REFUND_REASONS
from finance_sandbox.world.records import (
    ALMATY,
    APIPAY_LIFETIME,
    APIPAY_TRANSITIONS,
    ZERO,
    ApipayCartItem,
    ApipayInvoice,
    ApipayRefund,
    money,
    to_cents,
)


class ApipayInvoicing:
    """Part of `World`: ApiPay.kz invoices and refunds."""

    def _generate_apipay_invoices(
        self, n: int, lo: datetime, hi: datetime, recent: bool = False
    ) -> list[int]:
        pool, cum = self._customer_pool("apipay")
        if not pool or n <= 0:
            return []
        created = []
        refunds: list[tuple[datetime, ApipayInvoice, int, str, bool]] = []
        moments = self._moments(n, lo, hi, ALMATY)
        if recent:
            # Today's invoices: some are still waiting for the payer when the clock stops.
            n_recent = min(n, max(3, n // 50))
            moments = sorted(
                moments[n_recent:]
                + self._moments(n_recent, max(lo, hi - timedelta(hours=36)), hi, ALMATY)
            )
        for moment in moments:
            inv = self._new_apipay_invoice(moment.astimezone(UTC), self._pick(pool, cum))
            refunds.extend(self._settle_apipay(inv, hi, fresh=True))
            created.append(inv.id)
        self._apply_refunds(refunds)
        return created

    def _new_apipay_invoice(self, moment: datetime, phone: str) -> ApipayInvoice:
        rng = self._rng
        items: list[ApipayCartItem] = []
        if self._kz_nomenclature and rng.random() < 0.55:
            for _ in range(rng.choices((1, 2, 3, 4), (40, 30, 20, 10))[0]):
                if rng.random() < 0.85:
                    nom = self.apipay_nomenclature[rng.choice(self._kz_nomenclature)]
                    items.append(
                        ApipayCartItem(
                            name=nom.name,
                            price=nom.price,
                            count=rng.randint(1, 5),
                            nomenclature_id=nom.id,
                            type="CATALOGUE",
                            unit_id=nom.unit_id,
                            nomenclature_history_id=nom.history_id,
                        )
                    )
                else:
                    items.append(
                        ApipayCartItem(
                            name=rng.choice(FAST_SALE_NAMES),
                            price=money(rng.randint(5, 300) * 100_00),
                            count=1,
                            nomenclature_id=-2,
                            type="FAST_SALE",
                            unit_id=1,
                            nomenclature_history_id=None,
                        )
                    )
            amount = sum((it.price * it.count for it in items), ZERO)
        else:
            cents = rng.randint(200, 50_000) * 10_00
            if rng.random() < 0.05:
                cents += 50
            amount = money(cents)
        order_no = self._next("apipay_order", gap=0.2)
        has_order = rng.random() < 0.7
        if items:
            description = rng.choice(("Заказ из каталога", f"Заказ #{order_no}", None))
        else:
            description = rng.choice(
                (f"Оплата заказа #{order_no}", "Оплата по договору", "Предоплата за услуги", None)
            )
        inv = ApipayInvoice(
            id=self._next("apipay_invoice"),
            amount=amount,
            status="pending",
            description=description,
            external_order_id=f"order_{order_no}" if has_order else None,
            phone_number=phone,
            created_at=moment,
            updated_at=moment,
            paid_at=None,
            cart_items=items,
        )
        self.apipay_invoices[inv.id] = inv
        return inv

    def _settle_apipay(
        self, inv: ApipayInvoice, horizon: datetime, fresh: bool
    ) -> list[tuple[datetime, ApipayInvoice, int, str, bool]]:
        """Status changes up to `horizon`; returns planned refunds (time, invoice, cents, reason,
        final) to apply once all of them are known (refund ids follow time)."""
        rng = self._rng
        horizon = horizon.astimezone(UTC)
        expires = inv.created_at + APIPAY_LIFETIME
        if inv.status == "cancelling":
            self._set_apipay(
                inv, "cancelled", self._between(max(inv.updated_at, self._period_start), horizon)
            )
            return []
        if inv.status == "pending":
            # Pending invoices live 72 h at most, so an open one decides within one step.
            r = rng.random()
            lo = inv.created_at if fresh else max(inv.created_at, self._period_start)
            hi = min(expires, horizon)
            if r < 0.7 and lo < hi:
                when = (
                    (inv.created_at + timedelta(seconds=rng.randint(60, 48 * 3600)))
                    if fresh
                    else self._between(lo, hi)
                )
                if when <= hi:
                    inv.paid_at = when
                    self._set_apipay(inv, "paid", when)
                    self._record_apipay_payment(inv)
            elif r < 0.8 and lo < hi:
                when = (
                    (inv.created_at + timedelta(seconds=rng.randint(600, 40 * 3600)))
                    if fresh
                    else self._between(lo, hi)
                )
                if when <= hi:
                    # The asynchronous cancel (202 "cancelling") is still running at the end.
                    status = (
                        "cancelling"
                        if rng.random() < 0.3 and horizon - when < timedelta(hours=6)
                        else "cancelled"
                    )
                    self._set_apipay(inv, status, when)
            if inv.status == "pending" and expires <= horizon:
                self._set_apipay(inv, "expired", expires)
        if inv.status in ("paid", "partially_refunded") and inv.paid_at is not None:
            r = rng.random()
            chance = 1.0 if fresh else 0.03 * self._period_weeks
            if r < 0.1 * chance:
                total = to_cents(inv.amount)
                first = inv.paid_at if fresh else max(inv.updated_at, self._period_start)
                when = first + self._delay(5)
                if when > horizon or total < 2:
                    return []
                if r < 0.05 * chance:  # full refund, sometimes in two steps
                    if rng.random() < 0.3:
                        part = max(1, total * rng.randint(20, 60) // 100)
                        later = when + self._delay(3)
                        if later <= horizon:
                            return [
                                (when, inv, part, rng.choice(REFUND_REASONS), False),
                                (later, inv, total - part, rng.choice(REFUND_REASONS), True),
                            ]
                    return [
                        (
                            when,
                            inv,
                            total - self._refunded_cents(inv),
                            rng.choice(REFUND_REASONS),
                            True,
                        )
                    ]
                left = total - self._refunded_cents(inv)
                part = max(1, left * rng.randint(10, 60) // 100 // 1000 * 1000)
                if part < left:
                    return [(when, inv, part, rng.choice(REFUND_REASONS), False)]
        return []

    def _refunded_cents(self, inv: ApipayInvoice) -> int:
        ids = self._refunds_by_invoice.get(inv.id, ())
        return sum(to_cents(self.apipay_refunds[r].amount) for r in ids if r in self.apipay_refunds)

    def _set_apipay(self, inv: ApipayInvoice, status: str, when: datetime) -> None:
        if status not in APIPAY_TRANSITIONS[inv.status]:
            raise AssertionError(f"ApiPay cannot go {inv.status} -> {status}")
        inv.status = status
        inv.updated_at = max(inv.updated_at, when.astimezone(UTC))

    def _apply_refunds(
        self, planned: list[tuple[datetime, ApipayInvoice, int, str, bool]]
    ) -> list[int]:
        by_invoice = self._refunds_by_invoice
        created = []
        for when, inv, cents, reason, final in sorted(planned, key=lambda p: (p[0], p[1].id)):
            left = to_cents(inv.amount) - self._refunded_cents(inv)
            cents = left if final else min(cents, left - 1)
            if cents <= 0:
                continue
            refund = ApipayRefund(
                id=self._next("apipay_refund"),
                invoice_id=inv.id,
                amount=money(cents),
                status="completed",
                reason=reason,
                created_at=when.astimezone(UTC),
            )
            self.apipay_refunds[refund.id] = refund
            by_invoice.setdefault(inv.id, []).append(refund.id)
            self._set_apipay(inv, "refunded" if cents == left else "partially_refunded", when)
            created.append(refund.id)
            self._record_refund_payment(refund, inv)
        return created

    def _record_apipay_payment(self, inv: ApipayInvoice) -> None:
        rng = self._rng
        if rng.random() < 0.03:
            return
        order = inv.external_order_id
        text = rng.choice(
            (
                f"ApiPay invoice {inv.id} {order}" if order else f"ApiPay invoice {inv.id}",
                f"Kaspi Pay: оплата счета {inv.id}" + (f" ({order})" if order else ""),
                f"Поступление ApiPay, счет {inv.id}",
            )
        )
        assert inv.paid_at is not None
        cp_key = self._cp_by_apipay_phone.get(inv.phone_number)
        self._payment_txn(
            ("apipay", inv.id), inv.amount, "KZT", inv.paid_at.astimezone(ALMATY), cp_key, text
        )

    def _record_refund_payment(self, refund: ApipayRefund, inv: ApipayInvoice) -> None:
        cp_key = self._cp_by_apipay_phone.get(inv.phone_number)
        contractor = self._contractor_of(cp_key)
        d = self._clip_date(
            refund.created_at.astimezone(ALMATY).date()
            + timedelta(days=self._rng.choice((0, 0, 1)))
        )
        txn = self._txn(
            d,
            2,
            self._acc["kz_kaspi"],
            self._cat["refunds"],
            refund.amount,
            contractor,
            f"Возврат по ApiPay invoice {inv.id}, refund {refund.id}: {refund.reason}",
        )
        self._pending_refund_links.append((refund.id, txn))
