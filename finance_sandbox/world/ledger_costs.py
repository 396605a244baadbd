"""The business's running costs in the Adesk ledger: rent, salaries, taxes, loans, owner money,
random expenses and planned movements, sized to the sales so the business stays solvent.
"""

from __future__ import annotations

from bisect import bisect
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any

from finance_sandbox.world.names import MONTHS, RANDOM_SPECS
from finance_sandbox.world.records import HISTORY_START, MSK, AdeskTransaction, money, to_cents

REF_MONTHLY_SALES = {"RUR": 1_500_000_00, "KZT": 600_000_00}  # cents; scales the fixed costs


class LedgerCosts:
    """Part of `World`: the ledger's movements that are not invoice payments."""

    def _months(self, first: date, last: date) -> list[tuple[int, int]]:
        out = []
        y, m = first.year, first.month
        while (y, m) <= (last.year, last.month):
            out.append((y, m))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out

    def _supplier_pools(self) -> dict[tuple[str, str], list[int]]:
        pools: dict[tuple[str, str], list[int]] = {}
        for index, cp in enumerate(self.counterparties.values()):
            contractor = self._contractor_of(cp.key)
            if contractor is None:
                continue
            if index == 0:
                pools.setdefault(("landlord", cp.country), []).append(contractor)
            elif index == 1:
                pools.setdefault(("bank", cp.country), []).append(contractor)
            elif index == 2:
                pools.setdefault(("telecom", cp.country), []).append(contractor)
            elif index == 3:
                pools.setdefault(("landlord", cp.country), []).append(contractor)
            if cp.is_supplier:
                pools.setdefault(("supplier", cp.country), []).append(contractor)
            if cp.is_customer:
                pools.setdefault(("customer", cp.country), []).append(contractor)
        return pools

    def _generate_ledger_extras(self) -> None:
        """Rent, salaries, taxes, loans, owner money, random expenses, planned movements, and
        the transfers that keep the cash desk alive. Amounts follow the size of sales so the
        business stays roughly solvent at any scale."""
        rng = self._rng
        today = self.today()
        months = self._months(HISTORY_START, today)
        sales = {"RUR": 0, "KZT": 0}
        for t in self._pending:
            if t.type == 1 and t.category_id == self._cat["sales"]:
                sales[self.bank_accounts[t.bank_account_id].currency] += to_cents(t.amount)
        k = {c: max(sales[c] / len(months) / REF_MONTHLY_SALES[c], 0.05) for c in sales}
        pools = self._supplier_pools()
        fixed: list[tuple[date, str, int, str, int, int | None, str]] = []

        def scaled(currency: str, cents: int) -> int:
            return max(100, int(cents * k[currency]))

        rent = {"RUR": rng.randint(12, 20) * 10_000_00, "KZT": rng.randint(10, 16) * 10_000_00}
        for y, m in months:
            month = f"{MONTHS[m - 1]} {y}"
            raise_ = 1.1 if y >= 2026 else 1.0
            items = (
                (
                    3,
                    "RUR",
                    "ru_main",
                    "rent",
                    int(rent["RUR"] * raise_),
                    "landlord",
                    f"Арендная плата за {month} по договору № А-17",
                ),
                (
                    5,
                    "RUR",
                    "ru_main",
                    "salary",
                    rng.randint(200, 260) * 1000_00,
                    None,
                    f"Выплата заработной платы за {MONTHS[(m - 2) % 12]}",
                ),
                (
                    20,
                    "RUR",
                    "ru_main",
                    "salary",
                    rng.randint(150, 200) * 1000_00,
                    None,
                    f"Аванс по заработной плате за {month}",
                ),
                (
                    28,
                    "RUR",
                    "ru_main",
                    "taxes",
                    rng.randint(90, 160) * 1000_00,
                    None,
                    "Единый налоговый платеж",
                ),
                (
                    1,
                    "RUR",
                    "ru_main",
                    "bank_fees",
                    2490_00,
                    None,
                    f"Комиссия за ведение счета за {month}",
                ),
                (
                    5,
                    "KZT",
                    "kz_halyk",
                    "rent",
                    int(rent["KZT"] * raise_),
                    "landlord",
                    f"Аренда офиса за {month}",
                ),
                (
                    10,
                    "KZT",
                    "kz_halyk",
                    "salary",
                    rng.randint(170, 230) * 1000_00,
                    None,
                    f"Заработная плата за {MONTHS[(m - 2) % 12]}",
                ),
                (
                    25,
                    "KZT",
                    "kz_halyk",
                    "taxes",
                    rng.randint(40, 80) * 1000_00,
                    None,
                    "Уплата ИПН и социальных платежей",
                ),
            )
            for day, currency, acc, cat, cents, pool, text in items:
                d = date(y, m, day)
                if d > today:
                    continue
                country = "KZ" if currency == "KZT" else "RU"
                contractor = None
                if pool is not None:
                    cands = pools.get((pool, country)) or pools.get(("supplier", country))
                    contractor = cands[0] if cands else None
                fixed.append(
                    (d, currency, self._acc[acc], cat, scaled(currency, cents), contractor, text)
                )
        # A loan taken in March 2025 and repaid over 12 months, with interest.
        loan = scaled("RUR", 3_000_000_00)
        bank = (pools.get(("bank", "RU")) or [None])[0]
        fixed.append(
            (
                date(2025, 3, 14),
                "RUR",
                self._acc["ru_main"],
                "loans_in",
                loan,
                bank,
                "Выдача кредита по кредитному договору № 0417-25",
            )
        )
        for i in range(12):
            y, m = (2025, 4 + i) if i < 9 else (2026, i - 8)
            d = date(y, m, 14)
            if d > today:
                break
            fixed.append(
                (
                    d,
                    "RUR",
                    self._acc["ru_main"],
                    "loan_repay",
                    loan // 12,
                    bank,
                    "Погашение основного долга по кредитному договору № 0417-25",
                )
            )
            fixed.append(
                (
                    d,
                    "RUR",
                    self._acc["ru_main"],
                    "loan_interest",
                    loan * (12 - i) // 12 * 15 // 1000,
                    bank,
                    "Уплата процентов по кредитному договору № 0417-25",
                )
            )
        # Owner money and equipment.
        fixed.extend(
            [
                (
                    date(2025, 1, 20),
                    "RUR",
                    self._acc["ru_main"],
                    "owner_in",
                    scaled("RUR", 1_000_000_00),
                    None,
                    "Взнос учредителя в уставный капитал",
                ),
                (
                    date(2025, 6, 9),
                    "RUR",
                    self._acc["ru_tbank"],
                    "owner_in",
                    scaled("RUR", 500_000_00),
                    None,
                    "Беспроцентный займ от учредителя",
                ),
                (
                    date(2025, 2, 3),
                    "KZT",
                    self._acc["kz_halyk"],
                    "owner_in",
                    scaled("KZT", 3_000_000_00),
                    None,
                    "Пополнение счета учредителем",
                ),
                (
                    date(2026, 4, 22),
                    "RUR",
                    self._acc["ru_main"],
                    "owner_out",
                    scaled("RUR", 1_200_000_00),
                    None,
                    "Выплата дивидендов участнику за 2025 год",
                ),
                (
                    date(2025, 5, 16),
                    "RUR",
                    self._acc["ru_main"],
                    "equipment",
                    scaled("RUR", 640_000_00),
                    None,
                    "Покупка оборудования для склада",
                ),
                (
                    date(2025, 11, 11),
                    "RUR",
                    self._acc["ru_main"],
                    "asset_sale",
                    scaled("RUR", 120_000_00),
                    None,
                    "Продажа списанного погрузчика",
                ),
            ]
        )
        fixed = [f for f in fixed if f[0] <= today]

        extra = self.size.extra_transactions
        # About a tenth of all movements are planned (future) ones.
        n_planned = min(extra // 2, round(0.1 * (extra + len(self._pending))))
        budget = extra - n_planned
        if len(fixed) > budget:
            fixed = sorted(rng.sample(fixed, budget))
        n_random = budget - len(fixed)

        net_fixed = {"RUR": 0, "KZT": 0}
        for d, currency, acc, cat, cents, contractor, text in fixed:
            income = self.categories[self._cat[cat]].type == 1
            owner = self.categories[self._cat[cat]].is_owner_transfer
            if not owner:
                net_fixed[currency] += -cents if income else cents
            self._txn(
                d,
                1 if income else 2,
                acc,
                self._cat[cat],
                money(cents),
                contractor,
                text,
                tags=(3,) if not income and rng.random() < 0.1 else (),
            )

        # Dollars bought for the currency account come out of the roubles sales leave over.
        net_fixed["RUR"] += self._generate_currency_desk(k["RUR"])

        # Random movements: spend what sales leave over (85% of sales in total).
        specs = RANDOM_SPECS
        cum = list(accumulate(s[1] for s in specs))
        mean_net = (
            sum(
                s[1] * (s[2] + s[3]) / 2 * (-1 if self.categories[self._cat[s[0]]].type == 1 else 1)
                for s in specs
            )
            / cum[-1]
        )
        factor = {}
        for currency in ("RUR", "KZT"):
            target = max(0.85 * sales[currency] - net_fixed[currency], 0.1 * sales[currency])
            share = 0.75 if currency == "RUR" else 0.25
            count = max(1, int(n_random * share))
            factor[currency] = (
                max(target / (count * mean_net * 100), 0.001) if sales[currency] else 1.0
            )
        self._expense_factor = factor
        self._random_movements(n_random, specs, cum, factor, pools, planned=False)
        self._random_movements(n_planned, specs, cum, factor, pools, planned=True)
        self._generate_transfers(extra)

    def _random_movements(
        self,
        n: int,
        specs: tuple[Any, ...],
        cum: list[int],
        factor: dict[str, float],
        pools: dict[tuple[str, str], list[int]],
        planned: bool,
        lo: date | None = None,
        hi: date | None = None,
    ) -> None:
        """The bulk of the ledger; this loop builds a million movements at load-test scale."""
        if n <= 0:
            return
        rng = self._rng
        random_, randint, randrange = rng.random, rng.randint, rng.randrange
        today = self.today()
        if planned:
            lo, hi = lo or today + timedelta(days=1), hi or today + timedelta(days=90)
        else:
            lo, hi = lo or HISTORY_START, hi or today
        span = (hi - lo).days
        days = [lo + timedelta(days=i) for i in range(span + 1)]  # shared date objects
        day_start = [datetime(d.year, d.month, d.day, 9, tzinfo=MSK) for d in days]
        now_msk = self.now.astimezone(MSK)
        floor = self._period_start.astimezone(MSK) + timedelta(seconds=1)
        cat_ids = [self._cat[s[0]] for s in specs]
        cat_type = [self.categories[c].type for c in cat_ids]
        total_w = cum[-1]
        ru_banks = [self._acc["ru_main"], self._acc["ru_tbank"], self._acc["ru_alfa"]]
        closed_alfa = self._closed_on[self._acc["ru_alfa"]]
        cash, kaspi, halyk = self._acc["ru_cash"], self._acc["kz_kaspi"], self._acc["kz_halyk"]
        projects_ru = self._projects_by_country["RU"]
        projects_kz = self._projects_by_country["KZ"]
        units = self._business_units_by_country()
        units_ru, units_kz = units["RU"], units["KZ"]
        tag_choices = self._tag_choices
        pool_lists = {}
        for country in ("RU", "KZ"):
            for pool in ("supplier", "customer", "telecom"):
                pool_lists[(pool, country)] = pools.get((pool, country)) or []
        month_names = {}
        pending = self._pending
        append = pending.append
        empty: tuple[int, ...] = ()
        for _ in range(n):
            kz = random_() >= 0.75
            currency = "KZT" if kz else "RUR"
            country = "KZ" if kz else "RU"
            si = bisect(cum, random_() * total_w)
            spec = specs[si]
            key = spec[0]
            di = randrange(span + 1)
            d = days[di]
            cents = int(randint(spec[2], spec[3]) * 100 * factor[currency])
            if cents < 100:
                cents = 100 + randrange(900)
            if kz:
                account = kaspi if random_() < 0.3 else halyk
            elif key == "household" and random_() < 0.6:
                account = cash
            else:
                r = random_()
                account = ru_banks[0] if r < 0.6 else ru_banks[1] if r < 0.88 else ru_banks[2]
                if account == ru_banks[2] and d > closed_alfa:
                    account = ru_banks[0]
            pool_name = spec[4]
            contractor = None
            if pool_name is not None:
                optional = pool_name.endswith("?")
                members = pool_lists[(pool_name.rstrip("?"), country)]
                if members and (not optional or random_() < 0.5):
                    contractor = members[randrange(len(members))]
            templates = spec[5]
            text = templates[randrange(len(templates))]
            if "{" in text:
                month = month_names.get((d.year, d.month))
                if month is None:
                    month = month_names[(d.year, d.month)] = f"{MONTHS[d.month - 1]} {d.year}"
                text = text.format(
                    n=randint(10, 9999), d=f"{d.day:02d}.{d.month:02d}.{d.year}", month=month
                )
            project = None
            if random_() < 0.25:
                plist = projects_kz if kz else projects_ru
                if plist:
                    project = plist[randrange(len(plist))]
            # An expense without a project may name a business direction instead (never both,
            # and never on an income: adesk-api.md l.1094, l.1103, l.1686).
            unit = None
            if project is None and cat_type[si] == 2 and random_() < 0.35:
                ulist = units_kz if kz else units_ru
                if ulist:
                    unit = ulist[randrange(len(ulist))]
            tags = tag_choices[randrange(len(tag_choices))] if random_() < 0.15 else empty
            if planned:
                created = now_msk - timedelta(seconds=randrange(60 * 86400))
                if created < floor:
                    created = floor
            else:
                created = day_start[di] + timedelta(seconds=randrange(108000))
                if created > now_msk:
                    created = now_msk
            append(
                AdeskTransaction(
                    id=0,
                    date=d,
                    related_date=d,
                    amount=Decimal(cents).scaleb(-2),
                    type=cat_type[si],
                    bank_account_id=account,
                    category_id=cat_ids[si],
                    contractor_id=contractor,
                    project_id=project,
                    tag_ids=tags,
                    description=text,
                    is_planned=planned,
                    is_transfer=False,
                    transfer_id=None,
                    is_commitment=False,
                    created=created,
                    updated=created,
                    business_unit_id=unit,
                )
            )
