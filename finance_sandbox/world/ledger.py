"""The Adesk ledger: movements recording payments, unmatched incomes, transfers between accounts,
commitments, ids and creation times, and account balances.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from operator import attrgetter

from finance_sandbox.world.evolution import ChangeLog
from finance_sandbox.world.names import MONTHS, UNMATCHED_TEXTS, dmy
from finance_sandbox.world.records import (
    HISTORY_START,
    MSK,
    AdeskCommitment,
    AdeskTransaction,
    AdeskTransfer,
    money,
    round_div,
    to_cents,
)

# Roubles for one unit of a currency, per month (close to the Bank of Russia's official rates
# of 2025-2026). Adesk converts every movement to the workspace's base currency (roubles here):
# the v2 operation object carries `exchangeRate` and `bankAccount.rate` (adesk-api.md
# l.1229, l.1250), 1.0 for a rouble account. Months outside the table use the nearest one.
_RUB_PER_UNIT: dict[str, tuple[float, ...]] = {
    # 2025-01 ... 2026-12
    "USD": (
        *(101.68, 88.60, 84.06, 82.29, 79.81, 78.40, 78.52, 80.04, 82.91, 81.19, 80.63, 78.23),
        *(78.92, 79.54, 80.31, 81.02, 81.66, 82.40, 83.13, 83.87, 84.52, 85.19, 85.93, 86.61),
    ),
    "KZT": (
        *(0.1946, 0.1772, 0.1681, 0.1603, 0.1553, 0.1541, 0.1479, 0.1482, 0.1521, 0.1503),
        *(0.1549, 0.1521, 0.1530, 0.1534, 0.1539, 0.1543, 0.1548, 0.1552, 0.1557, 0.1561),
        *(0.1566, 0.1570, 0.1575, 0.1579),
    ),
}
_RATE_TABLE_START = (2025, 1)


def rub_per_unit(currency: str, d: date) -> Decimal:
    """The world's official rate: roubles for one unit of `currency` in the month of `d`."""
    table = _RUB_PER_UNIT.get(currency)
    if table is None:
        return Decimal(1)  # RUR, the base currency
    index = (d.year - _RATE_TABLE_START[0]) * 12 + d.month - _RATE_TABLE_START[1]
    return Decimal(str(table[min(max(index, 0), len(table) - 1)]))


class Ledger:
    """Part of `World`: the Adesk ledger's movements, transfers and commitments."""

    def rub_per_unit(self, currency: str, d: date) -> Decimal:
        """Roubles for one unit of `currency` on day `d` (the rate Adesk reports per movement)."""
        return rub_per_unit(currency, d)

    def _business_units_by_country(self) -> dict[str, list[int]]:
        """The business directions (project categories, adesk-api.md l.337 and l.1103: the same
        "направление бизнеса" object) each country's projects belong to."""
        units: dict[str, list[int]] = {"RU": [], "KZ": []}
        for country, project_ids in self._projects_by_country.items():
            for pid in project_ids:
                unit = self.projects[pid].category_id
                if unit is not None and unit not in units.setdefault(country, []):
                    units[country].append(unit)
        return units

    def _clip_date(self, d: date) -> date:
        today = self.today()
        return d if d <= today else today

    def _contractor_of(self, cp_key: str | None) -> int | None:
        if cp_key is None:
            return None
        for cid in self.counterparties[cp_key].adesk_contractor_ids:
            if cid in self.adesk_contractors:
                return cid
        return None

    def _account_for_income(self, currency: str, d: date, cash: bool) -> int:
        rng = self._rng
        if currency == "KZT":
            return self._acc["kz_kaspi"] if rng.random() < 0.9 else self._acc["kz_halyk"]
        if cash:
            return self._acc["ru_cash"]
        r = rng.random()
        acc = (
            self._acc["ru_main"]
            if r < 0.65
            else self._acc["ru_tbank"]
            if r < 0.88
            else self._acc["ru_alfa"]
        )
        closed = self._closed_on.get(acc)
        return self._acc["ru_main"] if closed is not None and d > closed else acc

    def _created_for(self, d: date) -> datetime:
        """When Adesk got a movement dated d: the statement import on that day or the next."""
        moment = datetime(d.year, d.month, d.day, 9, tzinfo=MSK) + timedelta(
            seconds=self._rng.randrange(30 * 3600)
        )
        # Never after now, never before the simulated period (ids follow creation time).
        moment = max(moment, self._period_start + timedelta(seconds=1))
        return moment if moment <= self.now else self.now.astimezone(MSK)

    def _txn(
        self,
        d: date,
        ttype: int,
        account: int,
        category: int | None,
        amount: Decimal,
        contractor: int | None,
        description: str,
        *,
        project: int | None = None,
        tags: tuple[int, ...] = (),
        planned: bool = False,
        related: date | None = None,
        created: datetime | None = None,
        transfer: bool = False,
    ) -> AdeskTransaction:
        created = created or self._created_for(d)
        txn = AdeskTransaction(
            id=0,
            date=d,
            related_date=related or d,
            amount=amount,
            type=ttype,
            bank_account_id=account,
            category_id=category,
            contractor_id=contractor,
            project_id=project,
            tag_ids=tags,
            description=description,
            is_planned=planned,
            is_transfer=transfer,
            transfer_id=None,
            is_commitment=False,
            created=created,
            updated=created,
        )
        self._pending.append(txn)
        return txn

    def _payment_txn(
        self,
        key: tuple[str, int],
        amount: Decimal,
        currency: str,
        paid: datetime,
        cp_key: str | None,
        text: str,
        related: date | None = None,
        cash: bool = False,
    ) -> None:
        rng = self._rng
        lag = rng.choices((0, 1, 2, 3), (40, 35, 15, 10))[0]
        d = self._clip_date(paid.date() + timedelta(days=lag))
        account = self._account_for_income(currency, d, cash)
        country = "KZ" if currency == "KZT" else "RU"
        projects = self._projects_by_country[country]
        project = rng.choice(projects) if projects and rng.random() < 0.3 else None
        tags: tuple[int, ...] = ()
        if currency == "KZT" and rng.random() < 0.5:
            tags = (5,)  # Kaspi
        elif cash:
            tags = (4,)  # Наличные
        txn = self._txn(
            d,
            1,
            account,
            self._cat["sales"],
            amount,
            self._contractor_of(cp_key),
            text,
            project=project,
            tags=tags,
            related=related if related and rng.random() < 0.2 else d,
        )
        self._pending_invoice_links.append((key, txn))

    def _generate_unmatched_incomes(
        self, lo: datetime, hi: datetime, count: int | None = None
    ) -> None:
        """Sales incomes that belong to no invoice (advances, contract payments)."""
        rng = self._rng
        if count is None:
            paid = len(self._pending_invoice_links)
            count = max(2, round(paid * 0.01))
        customers = [cp for cp in self.counterparties.values() if cp.is_customer]
        for _ in range(count):
            cp = rng.choice(customers) if customers and rng.random() < 0.7 else None
            currency = (
                "KZT"
                if (cp is not None and cp.country == "KZ") or (cp is None and rng.random() < 0.3)
                else "RUR"
            )
            d = self._clip_date(self._between(lo, hi).astimezone(MSK).date())
            text = rng.choice(UNMATCHED_TEXTS).format(n=rng.randint(1, 300), d=dmy(d))
            cents = (
                rng.randint(10, 500) * 1000_00
                if currency == "RUR"
                else rng.randint(10, 500) * 5000_00
            )
            txn = self._txn(
                d,
                1,
                self._account_for_income(currency, d, False),
                self._cat["sales"],
                money(cents),
                self._contractor_of(cp.key) if cp else None,
                text,
            )
            self._deliberate_unmatched.append(txn)

    def _transfer(
        self,
        source: int,
        target: int,
        cents: int,
        d: date,
        text: str,
        created: datetime | None = None,
        cents_to: int | None = None,
    ) -> AdeskTransfer:
        """A transfer between own accounts: `cents` leave the source account in its currency
        (adesk-api.md l.951, l.981), `cents_to` arrive on the target in its currency (l.982;
        the same sum when the currencies are the same)."""
        same_currency = self.bank_accounts[source].currency == self.bank_accounts[target].currency
        if cents_to is None:
            if not same_currency:
                raise AssertionError("a transfer between currencies needs the received amount")
            cents_to = cents
        created = created or self._created_for(d)
        amount, amount_to = money(cents), money(cents_to)
        out = self._txn(d, 2, source, None, amount, None, text, created=created, transfer=True)
        inc = self._txn(d, 1, target, None, amount_to, None, text, created=created, transfer=True)
        tr = AdeskTransfer(
            id=self._next("adesk_transfer"),
            from_account_id=source,
            to_account_id=target,
            amount=amount,
            amount_to=amount_to,
            date=d,
            description=text,
            outcome_transaction_id=0,
            income_transaction_id=0,
            tag_ids=(),
        )
        out.transfer_id = inc.transfer_id = tr.id
        self._pending_transfers.append((tr, out, inc))
        return tr

    def _generate_transfers(self, extra: int) -> None:
        """Transfers between own accounts, planned the way a treasurer would: keep the cash
        desk stocked, even out the bank accounts of each currency, sweep a closed account."""
        rng = self._rng
        today = self.today()
        acc = self._acc
        cash = acc["ru_cash"]
        net = {acc_id: to_cents(a.initial_amount) for acc_id, a in self.bank_accounts.items()}
        cash_flows: dict[tuple[int, int], list[int]] = {}
        for t in self._pending:
            if t.is_planned:
                continue
            value = to_cents(t.amount)
            net[t.bank_account_id] += value if t.type == 1 else -value
            if t.bank_account_id == cash:
                flow = cash_flows.setdefault((t.date.year, t.date.month), [0, 0])
                flow[0 if t.type == 1 else 1] += value
        moves: list[tuple[date, int, int, int, str]] = []

        def move(d: date, src: int, dst: int, cents: int, text: str) -> None:
            moves.append((d, src, dst, cents, text))
            net[src] -= cents
            net[dst] += cents

        # Cash desk: top it up before a month's spending, hand surplus cash to the bank.
        balance = to_cents(self.bank_accounts[cash].initial_amount)
        for y, m in self._months(HISTORY_START, today):
            income, spend = cash_flows.get((y, m), (0, 0))
            if spend and balance - spend < 20_000_00:
                topup = -(-(spend - balance + 20_000_00) // 10_000_00) * 10_000_00
                move(
                    date(y, m, 1),
                    acc["ru_main"],
                    cash,
                    topup,
                    "Снятие наличных для подкрепления кассы",
                )
                balance += topup
            balance += income - spend
            if balance > 300_000_00:
                excess = (balance - 100_000_00) // 10_000_00 * 10_000_00
                last = date(y + m // 12, m % 12 + 1, 1) - timedelta(days=1)
                move(
                    min(last, today), cash, acc["ru_main"], excess, "Сдача наличной выручки в банк"
                )
                balance -= excess
        # Bank accounts of one currency: several transfers that even out their end balances.
        n_bank = 6 + extra // 50
        span = (today - HISTORY_START).days
        for a, b, count, texts in (
            (
                acc["ru_main"],
                acc["ru_tbank"],
                max(1, n_bank * 6 // 10),
                ("Перевод собственных средств между счетами",),
            ),
            (
                acc["kz_kaspi"],
                acc["kz_halyk"],
                max(1, n_bank - n_bank * 6 // 10),
                ("Вывод средств Kaspi Pay на расчетный счет", "Перевод между своими счетами"),
            ),
        ):
            src, dst = (a, b) if net[a] >= net[b] else (b, a)
            total = (net[src] - net[dst]) // 2 // 1000_00 * 1000_00
            count = min(count, total // 1000_00)
            if count <= 0:
                continue
            weights = [rng.random() + 0.2 for _ in range(count)]
            scale = sum(weights)
            parts = [int(total * w / scale) // 1000_00 * 1000_00 for w in weights]
            parts[-1] += total - sum(parts)
            for cents in parts:
                d = HISTORY_START + timedelta(days=rng.randint(0, span))
                move(d, src, dst, cents, rng.choice(texts))
        for d, src, dst, cents, text in sorted(moves):
            if cents > 0:
                self._transfer(src, dst, cents, d, text)
        # Closing the Alfa account: sweep whatever is left to the main account.
        alfa = acc["ru_alfa"]
        closed = self._closed_on[alfa]
        if closed <= today:
            remainder = net[alfa]
            text = "Перевод остатка при закрытии счета"
            if remainder > 0:
                self._transfer(alfa, acc["ru_main"], remainder, closed, text)
            elif remainder < 0:
                self._transfer(acc["ru_main"], alfa, -remainder, closed, text)
            self.bank_accounts[alfa].status = "closed"

    def _converted(self, cents: int, currency: str, to_currency: str, d: date) -> int:
        """What a bank pays out in `to_currency` for `cents` of `currency` on day d: the official
        cross rate less the bank's margin (0.8-2%), to the cent."""
        rate = rub_per_unit(currency, d) / rub_per_unit(to_currency, d)
        margin = Decimal(self._rng.randint(8, 20)) / 1000
        return int((Decimal(cents) * rate * (1 - margin)).to_integral_value())

    def _generate_currency_desk(self, scale: float) -> int:
        """The Russian company's USD account: services and imported goods paid in dollars, the
        dollars bought with roubles from the main account when the balance runs low (a transfer
        between currencies: roubles out, fewer dollars in, adesk-api.md l.934-958), and a
        year-end surplus sold back (dollars out, roubles in). Outcomes carry a business
        direction (`business_unit`), never together with a project (l.1094, l.1103).
        Returns the roubles (cents) the main account paid for dollars, net of sales."""
        rng = self._rng
        today = self.today()
        usd, main = self._acc["ru_usd"], self._acc["ru_main"]
        units = self._business_units_by_country()["RU"] or [None]
        balance = to_cents(self.bank_accounts[usd].initial_amount)
        buffer = max(100_00, int(500_00 * scale))
        roubles = 0
        for y, m in self._months(HISTORY_START, today):
            spend: list[tuple[date, str, int, str, int | None]] = [
                (
                    date(y, m, 12),
                    "telecom",
                    max(100, int(rng.randint(200, 600) * 100 * scale)),
                    f"Оплата облачного хостинга за {MONTHS[m - 1]} {y} (USD)",
                    rng.choice(units),
                )
            ]
            if m % 2 == 0:
                spend.append(
                    (
                        date(y, m, 18),
                        "purchases",
                        max(100, int(rng.randint(800, 2500) * 100 * scale)),
                        f"Оплата поставщику по инвойсу № INV-{rng.randint(1000, 9999)} (USD)",
                        units[0],
                    )
                )
            spend = [s for s in spend if s[0] <= today]
            month_total = sum(s[2] for s in spend)
            if spend and balance - month_total < buffer:
                # Dollars for about a quarter, in whole hundreds, bought at the bank's rate.
                usd_cents = -(-(3 * month_total + buffer - balance) // 100_00) * 100_00
                d = date(y, m, 3)
                rate = rub_per_unit("USD", d) * (1 + Decimal(rng.randint(8, 20)) / 1000)
                rub_cents = int((Decimal(usd_cents) * rate).to_integral_value())
                self._transfer(
                    main, usd, rub_cents, d, "Покупка иностранной валюты", cents_to=usd_cents
                )
                balance += usd_cents
                roubles += rub_cents
            for d, category, cents, text, unit in spend:
                txn = self._txn(d, 2, usd, self._cat[category], money(cents), None, text)
                txn.business_unit_id = unit
                balance -= cents
            sale_day = date(y, 12, 22)
            if m == 12 and sale_day <= today and balance >= 300_00:
                # Year end: a third of the dollars is sold back (a transfer the other way).
                usd_cents = balance // 3 // 100_00 * 100_00
                rub_cents = self._converted(usd_cents, "USD", "RUR", sale_day)
                self._transfer(
                    usd, main, usd_cents, sale_day, "Продажа валютной выручки", cents_to=rub_cents
                )
                balance -= usd_cents
                roubles -= rub_cents
        return roubles

    def _commit_pending(self, log: ChangeLog | None) -> None:
        """Give pending movements ids in creation order and resolve their links."""
        pending = self._pending
        pending.sort(key=attrgetter("created"))
        table = self.adesk_transactions
        next_id = self._seq["adesk_transaction"]
        for txn in pending:
            txn.id = next_id
            table[next_id] = txn
            next_id += 1
        self._seq["adesk_transaction"] = next_id
        for key, txn in self._pending_invoice_links:
            self._invoice_payment[key] = txn.id
            self._txn_invoice[txn.id] = key
        for refund_id, txn in self._pending_refund_links:
            self._refund_payment[refund_id] = txn.id
            self._txn_refund[txn.id] = refund_id
        for tr, out, inc in self._pending_transfers:
            tr.outcome_transaction_id, tr.income_transaction_id = out.id, inc.id
            self.adesk_transfers[tr.id] = tr
            if log is not None:
                log.add("created", "adesk", "transfers", tr.id)
        if log is not None:
            for txn in pending:
                log.add("created", "adesk", "transactions", txn.id)
        self.deliberate_unmatched_incoming = self.deliberate_unmatched_incoming | {
            t.id for t in self._deliberate_unmatched
        }
        self._pending = []
        self._pending_invoice_links = []
        self._pending_refund_links = []
        self._pending_transfers = []
        self._deliberate_unmatched = []

    def _generate_commitments(self, n: int) -> list[int]:
        rng = self._rng
        contractors = [
            (cp, cid)
            for cp in self.counterparties.values()
            for cid in cp.adesk_contractor_ids[:1]
            if cid in self.adesk_contractors
        ]
        if not contractors:
            return []
        by_contractor: dict[int, list[int]] = {}
        if n:
            for txn in self.adesk_transactions.values():
                if txn.contractor_id is not None and not txn.is_transfer:
                    by_contractor.setdefault(txn.contractor_id, []).append(txn.id)
        created = []
        for _ in range(n):
            cp, cid = rng.choice(contractors)
            kz = cp.country == "KZ"
            vat_percent = 12 if kz else rng.choice((20, 20, 20, 0))
            cents = rng.randint(10, 900) * (5000_00 if kz else 1000_00)
            linked = by_contractor.get(cid)
            txn_id = rng.choice(linked) if linked and rng.random() < 0.3 else None
            d = HISTORY_START + timedelta(days=rng.randint(0, (self.today() - HISTORY_START).days))
            created_at = min(datetime(d.year, d.month, d.day, 11, tzinfo=MSK), self.now)
            projects = self._projects_by_country[cp.country]
            commitment = AdeskCommitment(
                id=self._next("adesk_commitment"),
                amount=money(cents),
                vat=money(round_div(cents * vat_percent, 100 + vat_percent)),
                vat_percent=vat_percent,
                description=rng.choice(
                    (
                        "Услуги аренды имущества по договору",
                        "Поставка товара по спецификации",
                        "Оказание услуг по договору",
                        "Отгрузка по УПД",
                    )
                ),
                date=d,
                legal_entity_id=12 if kz else 11,
                contractor_id=cid,
                project_id=rng.choice(projects) if projects and rng.random() < 0.4 else None,
                type=1 if cp.is_supplier else 2,
                currency="KZT" if kz else "RUR",
                transaction_id=txn_id,
                created=created_at,
                updated=created_at,
            )
            self.adesk_commitments[commitment.id] = commitment
            created.append(commitment.id)
        return created

    def _settle_created_times(self) -> None:
        """CRM cards and contractors appear shortly before their first use."""
        rng = self._rng
        first_company: dict[int, datetime] = {}
        for inv in self.bitrix_invoices.values():
            if inv.company_id is not None and inv.company_id not in first_company:
                first_company[inv.company_id] = inv.created_time
        floor = datetime(2024, 6, 3, 10, tzinfo=MSK)

        def office_hours_before(first: datetime | None, max_days: int) -> datetime:
            if first is None:
                day = floor.date() + timedelta(days=rng.randint(0, 200))
            else:
                day = first.astimezone(MSK).date() - timedelta(days=rng.randint(0, max_days))
            when = datetime(day.year, day.month, day.day, 9, tzinfo=MSK) + timedelta(
                seconds=rng.randrange(36000)
            )
            if first is not None and when >= first:
                when = first - timedelta(minutes=rng.randint(5, 60))
            return max(when, floor)

        for company in self.bitrix_companies.values():
            when = office_hours_before(first_company.get(company.id), 30)
            company.created_time = company.updated_time = when
        for req in self.bitrix_requisites.values():
            company = self.bitrix_companies[req.entity_id]
            req.created_time = req.updated_time = company.created_time + timedelta(minutes=3)
        first_client: dict[int, datetime] = {}
        for sinv in self.salesman_invoices.values():
            if sinv.clid not in first_client or sinv.date_create < first_client[sinv.clid]:
                first_client[sinv.clid] = sinv.date_create
        naive_floor = floor.replace(tzinfo=None)
        for client in self.salesman_clients.values():
            first_naive = first_client.get(client.clid)
            client.date_create = max(
                naive_floor,
                (first_naive - timedelta(days=rng.randint(1, 20)))
                if first_naive
                else naive_floor + timedelta(days=rng.randint(0, 200)),
            )
        first_contractor: dict[int, datetime] = {}
        for txn in self.adesk_transactions.values():
            cid = txn.contractor_id
            if cid is not None and cid not in first_contractor:
                first_contractor[cid] = txn.created  # ids follow creation time
        for contractor in self.adesk_contractors.values():
            when = office_hours_before(first_contractor.get(contractor.id), 5)
            contractor.created = contractor.updated = when

    def _recompute_balances(self) -> dict[int, Decimal]:
        balances = self._balances()
        for acc_id, acc in self.bank_accounts.items():
            acc.amount = balances[acc_id]
        return balances

    def _balances(self) -> dict[int, Decimal]:
        today = self.today()
        cents = {acc_id: to_cents(acc.initial_amount) for acc_id, acc in self.bank_accounts.items()}
        for txn in self.adesk_transactions.values():
            if txn.is_planned or txn.date > today:
                continue
            value = to_cents(txn.amount)
            cents[txn.bank_account_id] += value if txn.type == 1 else -value
        return {acc_id: money(c) for acc_id, c in cents.items()}
