"""SalesMan CRM invoices: issuing them, partial and late payments, and their ledger records."""

from __future__ import annotations

from datetime import datetime, timedelta

from finance_sandbox.world.behaviour import payment_moment
from finance_sandbox.world.names import DEAL_TITLES, dmy, rub_text
from finance_sandbox.world.records import (
    MSK,
    SALESMAN_TIPS,
    SalesmanInvoice,
    money,
    round_div,
    to_cents,
)


class SalesmanInvoicing:
    """Part of `World`: SalesMan CRM invoices."""

    def _generate_salesman_invoices(self, n: int, lo: datetime, hi: datetime) -> list[int]:
        pool, cum = self._customer_pool("salesman")
        if not pool or n <= 0:
            return []
        created = []
        for moment in self._moments(n, lo, hi, MSK):
            inv = self._new_salesman_invoice(moment, self._pick(pool, cum))
            created.append(inv.id)
            created.extend(self._settle_salesman(inv, hi, fresh=True))
        return created

    def _new_salesman_invoice(self, moment: datetime, clid: int) -> SalesmanInvoice:
        rng = self._rng
        r = rng.random()
        if r < 0.7:
            cents = rng.randint(10, 600) * 1000_00
        elif r < 0.9:
            cents = rng.randint(5_000, 400_000) * 100
        else:
            cents = rng.randint(500_000, 40_000_000)
        nds = round_div(cents * 20, 120) if rng.random() < 0.7 else 0
        tip = rng.choices(SALESMAN_TIPS, (45, 15, 8, 20, 12))[0]
        client = self.salesman_clients[clid]
        local = moment.astimezone(MSK).replace(tzinfo=None)
        inv = SalesmanInvoice(
            id=self._next("salesman_invoice", gap=0.08),
            invoice=str(self._next("salesman_number")),
            date_create=local,
            date_plan=local.date()
            + timedelta(days=5 if rng.random() < 0.7 else rng.choice((3, 10, 14, 30))),
            date_fact=None,
            summa=money(cents),
            nds=money(nds),
            clid=clid,
            client=client.title,
            did=self._next("salesman_deal", gap=0.3),
            deal=f"{rng.choice(DEAL_TITLES)} ({client.title.split(',')[0]})",
            tip=tip,
            paid=False,
            contract=f"Д-{rng.randint(1, 400)}/{local.year}" if tip == "По договору" else None,
            rs=5 if rng.random() < 0.8 else 6,
            iduser=rng.choice((20, 22, 25)),
            part=1,
            parent_id=None,
            date_update=local,
        )
        self.salesman_invoices[inv.id] = inv
        return inv

    def _settle_salesman(self, inv: SalesmanInvoice, horizon: datetime, fresh: bool) -> list[int]:
        """Pay (maybe partly) an invoice by `horizon`; returns ids of remainder records."""
        rng = self._rng
        created_at = inv.date_create.replace(tzinfo=MSK)
        if fresh:
            paid_at = payment_moment(rng, created_at, inv.date_plan)
            if paid_at is None or paid_at > horizon:
                return []
            when = paid_at
        else:
            lo = max(created_at, self._period_start)
            if lo >= horizon or rng.random() >= 0.25 * self._period_weeks:
                return []
            when = self._between(lo, horizon)
        extra: list[int] = []
        if inv.part == 1 and rng.random() < 0.06:
            # Partial payment: SalesMan keeps the paid part on this record and adds a record
            # with the same number for the remainder.
            total = to_cents(inv.summa)
            paid_cents = max(100, total * rng.randint(30, 80) // 100 // 1000_00 * 1000_00)
            if paid_cents < total:
                nds_total = to_cents(inv.nds)
                paid_nds = round_div(nds_total * paid_cents, total) if total else 0
                local = when.astimezone(MSK).replace(tzinfo=None)
                rest = SalesmanInvoice(
                    id=self._next("salesman_invoice"),
                    invoice=inv.invoice,
                    date_create=inv.date_create,
                    date_plan=local.date() + timedelta(days=10),
                    date_fact=None,
                    summa=money(total - paid_cents),
                    nds=money(nds_total - paid_nds),
                    clid=inv.clid,
                    client=inv.client,
                    did=inv.did,
                    deal=inv.deal,
                    tip=inv.tip,
                    paid=False,
                    contract=inv.contract,
                    rs=inv.rs,
                    iduser=inv.iduser,
                    part=2,
                    parent_id=inv.id,
                    date_update=local,
                )
                self.salesman_invoices[rest.id] = rest
                inv.summa, inv.nds = money(paid_cents), money(paid_nds)
                extra.append(rest.id)
        self._mark_salesman_paid(inv, when)
        if fresh:
            for rest_id in extra:  # some remainders are paid later too
                rest = self.salesman_invoices[rest_id]
                if rng.random() < 0.5:
                    later = when + self._delay(15)
                    if later <= horizon:
                        self._mark_salesman_paid(rest, later)
        return extra

    def _mark_salesman_paid(self, inv: SalesmanInvoice, when: datetime) -> None:
        rng = self._rng
        local = when.astimezone(MSK).replace(tzinfo=None)
        inv.paid, inv.date_fact, inv.date_update = True, local.date(), max(inv.date_update, local)
        if rng.random() < 0.03:
            return  # paid, never recorded in the ledger
        n, d = inv.invoice, dmy(inv.date_create.date())
        text = rng.choice(
            (
                f"Оплата счета {n}",
                f"Оплата по счету №{n} от {d}",
                f"Оплата по счету {n} от {d} г. НДС не облагается",
                f"Предоплата по сч. {n}",
                f"Оплата по счету № {n} от {d}, в т.ч. НДС {rub_text(to_cents(inv.nds))}",
            )
        )
        cash = rng.random() < 0.05
        if cash:
            text = f"Оплата наличными по счету {n}"
        cp_key = self.counterparty_of("salesman", "invoices", inv.id)
        self._payment_txn(
            ("salesman", inv.id),
            inv.summa,
            "RUR",
            when.astimezone(MSK),
            cp_key,
            text,
            related=inv.date_create.date(),
            cash=cash,
        )
