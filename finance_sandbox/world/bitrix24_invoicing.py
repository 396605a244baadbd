"""Bitrix24 smart invoices: issuing them, their stages, and their payments into the ledger."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from finance_sandbox.world.behaviour import payment_moment
from finance_sandbox.world.names import DEAL_TITLES, dmy, rub_text
from finance_sandbox.world.records import (
    CENT,
    MSK,
    STAGE_DECLINED,
    STAGE_NEW,
    STAGE_PAID,
    STAGE_SENT,
    ZERO,
    BitrixInvoice,
    BitrixProductRow,
    money,
    round_div,
    to_cents,
)


class Bitrix24Invoicing:
    """Part of `World`: Bitrix24 smart invoices."""

    def _generate_bitrix_invoices(self, n: int, lo: datetime, hi: datetime) -> list[int]:
        pool, cum = self._customer_pool("bitrix24")
        if not pool or n <= 0:
            return []
        created = []
        for moment in self._moments(n, lo, hi, MSK):
            company_id = None if self._rng.random() < 0.02 else self._pick(pool, cum)
            inv = self._new_bitrix_invoice(moment, company_id)
            self._settle_bitrix(inv, hi, fresh=True)
            created.append(inv.id)
        return created

    def _bitrix_row(self, inv_id: int, sort: int) -> tuple[BitrixProductRow, int, int]:
        """One line; returns (row, line total cents, line tax cents)."""
        rng = self._rng
        if self._bitrix_catalog and rng.random() >= 0.05:
            pid = rng.choice(self._bitrix_catalog)
            bp = self.bitrix_products[pid]
            name, brutto, rate = bp.name, to_cents(bp.price), bp.vat_rate
            measure_code, measure_name = bp.measure_code, bp.measure_name
            fractional = self.units[self._unit_by_symbol[measure_name]].fractional
        else:  # free-text line typed into the invoice
            pid = 0
            name = rng.choice(("Доставка", "Погрузочные работы", "Выезд специалиста", "Упаковка"))
            brutto, rate = rng.randint(5, 80) * 100_00, 20
            measure_code, measure_name, fractional = 796, "шт", False
        disc_type, disc_pct = 2, 0
        price = brutto
        r = rng.random()
        if r < 0.2:
            disc_pct = rng.choice((3, 5, 7, 10, 15))
            price = brutto - round_div(brutto * disc_pct, 100)
        elif r < 0.27:
            disc_type = 1
            price = brutto - max(1, brutto * rng.randint(2, 12) // 100)
        if fractional:
            q2 = rng.randint(1, 40)  # halves: 0.5 .. 20
            if q2 % 2 and price % 2:
                price -= 1  # keep price * quantity in whole cents
            quantity = Decimal(q2 // 2) if q2 % 2 == 0 else Decimal(q2) / 2
            line = price * q2 // 2
        else:
            q = rng.choice((1, 1, 1, 2, 2, 3, 4, 5, 10, 12, 20, 50, 100))
            quantity, line = Decimal(q), price * q
        netto = round_div(brutto * 100, 100 + rate)
        exclusive = round_div(price * 100, 100 + rate)
        discount_sum = netto - exclusive
        if disc_type == 2:
            discount_rate = Decimal(disc_pct)
        else:
            discount_rate = (
                (Decimal(discount_sum * 100) / Decimal(netto)).quantize(CENT, ROUND_HALF_UP)
                if netto
                else ZERO
            )
        tax = round_div(line * rate, 100 + rate)
        row = BitrixProductRow(
            id=self._next("bitrix_row"),
            owner_id=inv_id,
            product_id=pid,
            product_name=name,
            price=money(price),
            price_exclusive=money(exclusive),
            price_netto=money(netto),
            price_brutto=money(brutto),
            quantity=quantity,
            discount_type_id=disc_type,
            discount_rate=discount_rate,
            discount_sum=money(discount_sum),
            tax_rate=rate,
            tax_included="Y" if rng.random() < 0.8 else "N",
            measure_code=measure_code,
            measure_name=measure_name,
            sort=sort,
        )
        return row, line, tax

    def _new_bitrix_invoice(self, moment: datetime, company_id: int | None) -> BitrixInvoice:
        rng = self._rng
        inv_id = self._next("bitrix_invoice", gap=0.05)
        number = f"С-{self._next('bitrix_account_number'):05d}"
        rows: list[BitrixProductRow] = []
        total = tax = 0
        manual = rng.random() < 0.03
        if manual:
            total = rng.randint(5, 300) * 1000_00
            tax = round_div(total * 20, 120)
        else:
            for sort in range(rng.choices((1, 2, 3, 4, 5, 6), (30, 25, 20, 12, 8, 5))[0]):
                row, line, line_tax = self._bitrix_row(inv_id, (sort + 1) * 10)
                rows.append(row)
                total += line
                tax += line_tax
        begindate = moment.date()
        title = f"Счёт #{inv_id}"
        if rng.random() < 0.3 and company_id is not None:
            company = self.bitrix_companies[company_id]
            title = f"{rng.choice(DEAL_TITLES)} — {company.title}"
        inv = BitrixInvoice(
            id=inv_id,
            account_number=number,
            title=title,
            company_id=company_id,
            stage_id=STAGE_NEW,
            created_time=moment,
            updated_time=moment,
            moved_time=moment,
            begindate=begindate,
            closedate=begindate + timedelta(days=rng.choice((5, 7, 10, 14, 30))),
            opportunity=money(total),
            tax_value=money(tax),
            currency_id="RUB",
            is_manual_opportunity=manual,
            deal_id=self._next("bitrix_deal", gap=0.5) if rng.random() < 0.8 else None,
            assigned_by_id=rng.choice((1, 5, 7, 12, 14)),
            rows=rows,
        )
        self.bitrix_invoices[inv_id] = inv
        return inv

    def _settle_bitrix(self, inv: BitrixInvoice, horizon: datetime, fresh: bool) -> str | None:
        """Move an invoice through its stages up to `horizon`. A fresh invoice gets its whole
        fate; an older open one gets this period's chance of moving. Returns the new stage if
        it changed."""
        rng = self._rng
        start_stage = inv.stage_id
        if fresh:
            r = rng.random()
            # Paid (unless the customer never pays: behaviour.payment_moment), declined, or
            # left as a draft.
            fate = "P" if r < 0.85 else "D" if r < 0.95 else "N"
            if fate == "N":
                return None
            sent = inv.created_time + timedelta(minutes=rng.randint(5, 240))
            if sent > horizon:
                return None
            self._set_bitrix_stage(inv, STAGE_SENT, sent)
            if fate in ("P", "D"):
                when = (
                    payment_moment(rng, sent, inv.closedate)
                    if fate == "P"
                    else sent + self._delay(12)
                )
                if when is not None and when <= horizon:
                    self._set_bitrix_stage(inv, STAGE_PAID if fate == "P" else STAGE_DECLINED, when)
        else:
            lo = max(inv.moved_time, self._period_start)
            if lo >= horizon:
                return None
            when = self._between(lo, horizon)
            r = rng.random()
            if inv.stage_id == STAGE_NEW:
                if r < 0.4 * self._period_weeks:
                    self._set_bitrix_stage(inv, STAGE_SENT, when)
                elif r < 0.45 * self._period_weeks:
                    self._set_bitrix_stage(inv, STAGE_DECLINED, when)
            elif inv.stage_id == STAGE_SENT:
                if r < 0.25 * self._period_weeks:
                    self._set_bitrix_stage(inv, STAGE_PAID, when)
                elif r < 0.28 * self._period_weeks:
                    self._set_bitrix_stage(inv, STAGE_DECLINED, when)
        if inv.stage_id == STAGE_PAID and start_stage != STAGE_PAID:
            self._record_bitrix_payment(inv)
        return inv.stage_id if inv.stage_id != start_stage else None

    def _set_bitrix_stage(self, inv: BitrixInvoice, stage: str, when: datetime) -> None:
        when = when.astimezone(MSK)
        inv.stage_id = stage
        inv.moved_time = when
        inv.updated_time = max(inv.updated_time, when)

    def _record_bitrix_payment(self, inv: BitrixInvoice) -> None:
        rng = self._rng
        if rng.random() < 0.03:
            return  # paid, but nobody ever recorded the money in Adesk
        number = inv.account_number
        r = rng.random()
        if r < 0.05:
            number = "C" + number[1:]  # a payer typed a Latin C
        elif r < 0.1:
            number = number.replace("-", "")
        d = dmy(inv.begindate)
        cents = to_cents(inv.opportunity)
        vat = to_cents(inv.tax_value)
        text = rng.choice(
            (
                f"Оплата по счету № {number} от {d}",
                f"Оплата по счету № {number} от {d}. Сумма {rub_text(cents)}, в т.ч. НДС "
                f"{rub_text(vat)}",
                f"Оплата по сч. {number} от {d}г.",
                f"Опл. счета {number}",
                f"Оплата за товар по счету {number} от {d}, НДС не облагается",
            )
        )
        cp_key = self.counterparty_of("bitrix24", "invoices", inv.id)
        self._payment_txn(
            ("bitrix24", inv.id),
            inv.opportunity,
            "RUR",
            inv.moved_time.astimezone(MSK),
            cp_key,
            text,
            related=inv.begindate,
        )
