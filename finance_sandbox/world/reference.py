"""Reference data of the business: the group's legal entities, bank accounts, categories and
projects (Adesk), counterparties (one real company carded in every system) and products.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from finance_sandbox.taxids import ru_account_key
from finance_sandbox.world.names import (
    CATEGORIES,
    CATEGORY_GROUPS,
    FORM_FULL,
    KZ_BANKS,
    KZ_GOODS,
    RU_BANKS,
    RU_GOODS,
    SKU_LETTERS,
    TO_CYRILLIC,
    UNITS,
    VARIANTS,
    initials,
    phone_apipay,
    phone_bitrix,
    phone_salesman,
    translit,
    yo,
)
from finance_sandbox.world.records import (
    HISTORY_START,
    MSK,
    AdeskContractor,
    AdeskContractorRequisite,
    AdeskProduct,
    ApipayNomenclature,
    BankAccount,
    BitrixCompany,
    BitrixProduct,
    BitrixRequisite,
    Category,
    CategoryGroup,
    Counterparty,
    LegalEntity,
    Product,
    Project,
    ProjectCategory,
    SalesmanClient,
    Tag,
    Unit,
    money,
)


def currency_account(rouble_account: str, bic: str, currency_code: str) -> str:
    """The same 20-digit account number with a currency code (digits 6-8, e.g. 840 = USD) and
    its control key recomputed, as a Russian bank numbers a company's currency account."""
    raw = rouble_account[:5] + currency_code + rouble_account[8:]
    return raw[:8] + ru_account_key(bic, raw) + raw[9:]


class ReferenceData:
    """Part of `World`: builds reference data, counterparties and products."""

    # --- reference data ---

    def _build_reference(self) -> None:
        fake = self._fake
        ru_inn = fake.ru_inn(False, "77")
        self.legal_entities[11] = LegalEntity(
            id=11,
            name="ООО «Тэкон Трейд»",
            full_name="Общество с ограниченной ответственностью «Тэкон Трейд»",
            country="RU",
            currency="RUR",
            inn=ru_inn,
            kpp=ru_inn[:4] + "01001",
            registration_number=fake.ru_ogrn(False, "77"),
            address="115280, г. Москва, ул. Ленинская Слобода, д. 19, офис 402",
            phone=fake.phone("RU"),
        )
        kz_bin = fake.kz_bin(False)
        self.legal_entities[12] = LegalEntity(
            id=12,
            name="ТОО «Тэкон Казахстан»",
            full_name="Товарищество с ограниченной ответственностью «Тэкон Казахстан»",
            country="KZ",
            currency="KZT",
            inn=kz_bin,
            kpp=None,
            registration_number=kz_bin,
            address="050059, г. Алматы, пр. Аль-Фараби, д. 77/8, офис 12",
            phone=fake.phone("KZ"),
        )
        created = datetime(2024, 12, 20, 10, 15, tzinfo=MSK)
        opening = date(2024, 12, 31)
        sber, alfa, tbank = RU_BANKS[0], RU_BANKS[1], RU_BANKS[3]
        kaspi, halyk = KZ_BANKS[0], KZ_BANKS[1]
        specs = (  # id, name, bank, type, opening balance (cents), legal entity
            (21, "Основной счет", sber, "Bank", 2_450_000_00, 11),
            (22, "Расчетный счет ТБанк", tbank, "Bank", 380_000_00, 11),
            (23, "Счет в Альфа-Банке", alfa, "Bank", 150_000_00, 11),
            (24, "Касса офиса", None, "Cash", 45_000_00, 11),
            (25, "Kaspi Pay", kaspi, "Bank", 1_200_000_00, 12),
            (26, "Halyk основной", halyk, "Bank", 5_600_000_00, 12),
            (27, "Валютный счет USD", sber, "Bank", 3_000_00, 11),
        )
        # The Russian company's currency account (USD): bought with roubles, spent abroad.
        foreign_currency = {27: "USD"}
        for acc_id, name, bank, kind, opening_cents, le_id in specs:
            le = self.legal_entities[le_id]
            if bank is None:
                bank_name, code, number = "", None, None
            elif acc_id in foreign_currency:
                bank_name, code = bank[0], bank[1]
                number = currency_account(fake.ru_account(bank[1], False), bank[1], "840")
            elif le.country == "RU":
                bank_name, code, number = bank[0], bank[1], fake.ru_account(bank[1], False)
            else:
                bank_name, code, number = bank[0], bank[1], fake.kz_iban(bank[2])
            self.bank_accounts[acc_id] = BankAccount(
                id=acc_id,
                name=name,
                bank_name=bank_name,
                bank_code=code,
                number=number,
                currency=foreign_currency.get(acc_id, le.currency),
                type=kind,
                status="open",
                initial_amount=money(opening_cents),
                initial_amount_date=opening,
                created=created + timedelta(minutes=7 * acc_id),
                legal_entity_id=le_id,
                amount=money(opening_cents),
            )
        self._acc = {
            "ru_main": 21,
            "ru_tbank": 22,
            "ru_alfa": 23,
            "ru_cash": 24,
            "kz_kaspi": 25,
            "kz_halyk": 26,
            "ru_usd": 27,
        }
        # The Alfa account is closed mid-history; its balance is swept to the main account.
        self._closed_on: dict[int, date] = {23: date(2025, 10, 31)}

        group_ids: dict[str, int] = {}
        for i, (key, name, gtype) in enumerate(CATEGORY_GROUPS):
            gid = 41 + i
            group_ids[key] = gid
            self.category_groups[gid] = CategoryGroup(id=gid, name=name, type=gtype)
        self._cat: dict[str, int] = {}
        for i, (key, name, ctype, kind, owner, group) in enumerate(CATEGORIES):
            cid = 48 + i
            self._cat[key] = cid
            self.categories[cid] = Category(
                id=cid,
                name=name,
                type=ctype,
                kind=kind,
                is_owner_transfer=owner,
                is_system=False,
                is_archived=False,
                group_id=group_ids[group],
            )
        for i, (name, color) in enumerate(
            (
                ("Срочно", "red"),
                ("Безнал", "teal"),
                ("Наличные", "orange"),
                ("Kaspi", "green"),
                ("Маркетплейс", "purple"),
                ("Проверить", "yellow"),
            )
        ):
            self.tags[2 + i] = Tag(id=2 + i, name=name, color=color)
        for uid, symbol, name, code, fractional in UNITS:
            self.units[uid] = Unit(
                id=uid, symbol=symbol, name=name, code=code, fractional=fractional
            )
        self._unit_by_symbol = {u.symbol: u.id for u in self.units.values()}
        self._tag_choices: tuple[tuple[int, ...], ...] = tuple((t,) for t in self.tags)

    def _build_projects(self) -> None:
        rng = self._rng
        for i, name in enumerate(("Оптовые поставки", "Монтаж и сервис", "Казахстан", "Розница")):
            self.project_categories[30 + i] = ProjectCategory(id=30 + i, name=name)
        specs = (
            ("Поставка стройматериалов 2025", 30, "RU", "project"),
            ("Объект ЖК «Северный»", 31, "RU", "project"),
            ("Монтаж вентиляции ТЦ «Орион»", 31, "RU", "deal"),
            ("Сервисные контракты", 31, "RU", "project"),
            ("Kaspi-магазин Алматы", 32, "KZ", "project"),
            ("Оптовые продажи KZ", 32, "KZ", "deal"),
            ("Склад Подольск", 30, "RU", "project"),
            ("Маркетинг 2026", 33, "RU", "project"),
        )
        self._projects_by_country: dict[str, list[int]] = {"RU": [], "KZ": []}
        for i, (name, cat, country, ptype) in enumerate(specs):
            pid = 46 + i
            contractor = None
            if ptype == "deal":
                pool = [
                    c
                    for cp in self.counterparties.values()
                    if cp.country == country and cp.is_customer
                    for c in cp.adesk_contractor_ids[:1]
                ]
                contractor = rng.choice(pool) if pool else None
            self.projects[pid] = Project(
                id=pid,
                name=name,
                type=ptype,
                description=f"{name}: учет доходов и расходов",
                created=HISTORY_START + timedelta(days=rng.randint(0, 400)),
                category_id=cat,
                is_archived=i == 0,  # last year's project: archived, its movements stay
                plan_income=money(rng.randint(5, 60) * 100_000_00),
                plan_outcome=money(rng.randint(2, 30) * 100_000_00),
                manager_name=" ".join(self._fake.person("RU")[:2]),
                deal_contractor_id=contractor,
                deal_legal_entity_id=(11 if country == "RU" else 12) if ptype == "deal" else None,
            )
            self._projects_by_country[country].append(pid)

    # --- counterparties ---

    def _new_counterparty(
        self,
        initial: bool,
        when: datetime | None = None,
        country: str | None = None,
        role: str | None = None,
    ) -> Counterparty:
        rng, fake = self._rng, self._fake
        index = len(self.counterparties) + 1
        key = f"cp-{index:04d}"
        # The first four are the suppliers every business has: landlords, a bank, a telecom.
        special = (
            {
                1: ("RU", "ООО", "supplier"),
                2: ("RU", "ПАО", "supplier"),
                3: ("RU", "ПАО", "supplier"),
                4: ("KZ", "ТОО", "supplier"),
            }.get(index)
            if initial
            else None
        )
        if special:
            country, form, role = special
        else:
            country = country or ("RU" if rng.random() < 0.7 else "KZ")
            r = rng.random()
            if country == "RU":
                form = "ООО" if r < 0.65 else "ИП" if r < 0.85 else "АО" if r < 0.95 else "ПАО"
            else:
                form = "ТОО" if r < 0.75 else "ИП"
            r = rng.random()
            role = role or ("customer" if r < 0.72 else "supplier" if r < 0.9 else "both")
        is_customer, is_supplier = role in ("customer", "both"), role in ("supplier", "both")
        individual = form == "ИП"
        address, region = fake.address(country)
        person = fake.person(country)
        if individual:
            core = " ".join(person)
        elif self.counterparties and rng.random() < 0.04:
            # A different company with the same name (another city, another INN): resolution
            # must not merge them just because the names match.
            others = [
                c.core_name
                for c in self.counterparties.values()
                if c.country == country and c.legal_form not in ("ИП",)
            ]
            core = rng.choice(others) if others else fake.core_name(country)
        else:
            core = fake.core_name(country)
        short = f"{form} {core}" if individual else f"{form} «{core}»"
        full = f"{FORM_FULL[form]} {core}" if individual else f"{FORM_FULL[form]} «{core}»"
        has_tax_id = special is not None or rng.random() >= 0.05
        tax_id = kpp = ogrn = None
        if has_tax_id:
            if country == "RU":
                tax_id = fake.ru_inn(individual, region)
                kpp = None if individual else tax_id[:4] + "01001"
                ogrn = fake.ru_ogrn(individual, region)
            else:
                tax_id = fake.kz_bin(individual)
        if country == "RU":
            bank = rng.choice(RU_BANKS)
            bank_name, bank_code = bank[0], bank[1]
            bank_account = fake.ru_account(bank_code, individual)
        else:
            kz_bank = rng.choice(KZ_BANKS)
            bank_name, bank_code = kz_bank[0], kz_bank[1]
            bank_account = fake.kz_iban(kz_bank[2])
        slug = translit(person[0] if individual else core) or "client"
        tld = "kz" if country == "KZ" else "ru"
        email = (
            None
            if rng.random() < 0.1
            else (
                f"{slug}{rng.randint(1, 99)}@{rng.choice(('mail.ru', 'gmail.com', 'yandex.' + tld))}"
                if individual
                else f"{rng.choice(('info', 'buh', 'office', 'zakaz'))}@{slug}.{tld}"
            )
        )
        cp = Counterparty(
            key=key,
            country=country,
            legal_form=form,
            core_name=core,
            short_name=short,
            full_name=full,
            tax_id=tax_id,
            kpp=kpp,
            ogrn=ogrn,
            phone=fake.phone(country),
            email=email,
            address=address,
            bank_name=bank_name,
            bank_code=bank_code,
            bank_account=bank_account,
            is_customer=is_customer,
            is_supplier=is_supplier,
        )
        self.counterparties[key] = cp
        self._cp_person[key] = person

        # Which systems know it.
        in_bitrix = in_salesman = in_apipay = False
        in_adesk = is_supplier or rng.random() < (0.75 if country == "RU" else 0.7)
        if is_customer and country == "RU":
            in_bitrix = rng.random() < 0.85
            in_salesman = rng.random() < 0.4
            in_apipay = rng.random() < 0.04
        elif is_customer:
            in_apipay = rng.random() < 0.9
        elif country == "RU":
            in_bitrix = rng.random() < 0.15  # suppliers sometimes get a CRM card too
        if not (in_bitrix or in_salesman or in_apipay or in_adesk):
            in_adesk = True
        when = when or datetime(2024, 9, 1, tzinfo=MSK)
        if in_bitrix:
            self._add_bitrix_company(cp, when, primary=True)
            if rng.random() < 0.04:  # a duplicate card opened by another manager
                self._add_bitrix_company(cp, when, primary=False)
        if in_adesk:
            self._add_adesk_contractor(cp, when, primary=True)
            if rng.random() < 0.04:  # bank-statement import created a second contractor
                self._add_adesk_contractor(cp, when, primary=False)
        if in_salesman:
            self._add_salesman_client(cp, when)
        if in_apipay:
            self._add_apipay_payer(cp)
        return cp

    def _ensure_customer_pools(self) -> None:
        """Small worlds must still have someone to invoice in every system."""
        cps = list(self.counterparties.values())
        when = datetime(2024, 9, 1, tzinfo=MSK)
        if not any(cp.bitrix_company_ids and cp.is_customer for cp in cps):
            cp = self._new_counterparty(False, when, "RU", role="customer")
            if not cp.bitrix_company_ids:
                self._add_bitrix_company(cp, when, primary=True)
        if not any(cp.salesman_client_ids for cp in cps):
            target = next((cp for cp in cps if cp.country == "RU" and cp.is_customer), None)
            target = target or self._new_counterparty(False, when, "RU", role="customer")
            self._add_salesman_client(target, when)
        if not any(cp.apipay_phones for cp in self.counterparties.values()):
            target = next((cp for cp in cps if cp.country == "KZ" and cp.is_customer), None)
            target = target or self._new_counterparty(False, when, "KZ", role="customer")
            self._add_apipay_payer(target)

    def _bitrix_title(self, cp: Counterparty, duplicate: bool) -> str:
        rng = self._rng
        if cp.legal_form == "ИП":
            person = self._cp_person[cp.key]
            title = f"ИП {' '.join(person)}" if rng.random() < 0.6 else f"ИП {initials(person)}"
        else:
            r = rng.random()
            if r < 0.45:
                title = f'{cp.legal_form} "{cp.core_name}"'
            elif r < 0.85:
                title = f"{cp.legal_form} «{cp.core_name}»"
            elif r < 0.93:
                title = cp.core_name  # managers often skip the legal form
            else:
                title = f'{cp.legal_form} "{cp.core_name.upper()}"'
        if duplicate:
            title = rng.choice(
                (
                    cp.core_name,
                    f"{title} (дубль)",
                    cp.core_name.upper(),
                    title.replace("«", '"').replace("»", '"'),
                )
            )
        return yo(title, rng, 0.2)

    def _add_bitrix_company(self, cp: Counterparty, when: datetime, primary: bool) -> BitrixCompany:
        rng = self._rng
        cid = self._next("bitrix_company", gap=0.05)
        company = BitrixCompany(
            id=cid,
            title=self._bitrix_title(cp, not primary),
            company_type="CUSTOMER" if cp.is_customer else "SUPPLIER",
            phone=phone_bitrix(cp.phone) if rng.random() < 0.85 else None,
            email=cp.email if rng.random() < 0.7 else None,
            assigned_by_id=rng.choice((1, 5, 7, 12, 14)),
            created_time=when,
            updated_time=when,
        )
        self.bitrix_companies[cid] = company
        cp.bitrix_company_ids.append(cid)
        self._cp_index[("bitrix24", "companies", cid)] = cp.key
        if primary and cp.tax_id is not None and cp.country == "RU" and rng.random() < 0.88:
            rid = self._next("bitrix_requisite")
            individual = cp.legal_form == "ИП"
            person = self._cp_person[cp.key]
            self.bitrix_requisites[rid] = BitrixRequisite(
                id=rid,
                entity_type_id=4,
                entity_id=cid,
                preset_id=2 if individual else 1,
                name="ИП" if individual else "Организация",
                rq_name=" ".join(person)
                if individual
                else cp.short_name.replace("«", '"').replace("»", '"'),
                rq_company_name=None if individual else cp.short_name,
                rq_company_full_name=None if individual else cp.full_name,
                rq_inn=cp.tax_id,
                rq_kpp=cp.kpp,
                rq_ogrn=None if individual else cp.ogrn,
                rq_ogrnip=cp.ogrn if individual else None,
                created_time=when,
                updated_time=when,
            )
            self._cp_index[("bitrix24", "requisites", rid)] = cp.key
        return company

    def _adesk_name(self, cp: Counterparty, primary: bool) -> str:
        rng = self._rng
        if not primary:  # imported from a bank statement: upper case, straight quotes
            if cp.legal_form == "ИП":
                return f"ИП {' '.join(self._cp_person[cp.key]).upper()}"
            return f'{cp.legal_form} "{cp.core_name.upper()}"'
        if cp.legal_form == "ИП":
            person = self._cp_person[cp.key]
            name = rng.choice(
                (
                    f"ИП {initials(person, spaced=True)}",
                    f"ИП {' '.join(person)}",
                    f"Индивидуальный предприниматель {' '.join(person)}",
                )
            )
        else:
            r = rng.random()
            if r < 0.3:
                name = cp.full_name
            elif r < 0.6:
                name = f"{cp.legal_form} {cp.core_name}"
            elif r < 0.85:
                name = f'{cp.legal_form} "{cp.core_name}"'
            else:
                name = f"{cp.core_name} {cp.legal_form}"
        return yo(name, rng, 0.3)

    def _add_adesk_contractor(self, cp: Counterparty, when: datetime, primary: bool) -> None:
        rng = self._rng
        cid = self._next("adesk_contractor", gap=0.03)
        person = self._fake.person(cp.country)
        self.adesk_contractors[cid] = AdeskContractor(
            id=cid,
            name=self._adesk_name(cp, primary),
            contact_person=" ".join(person) if rng.random() < 0.6 else None,
            phone=cp.phone if rng.random() < 0.8 else None,
            email=cp.email if rng.random() < 0.6 else None,
            created=when,
            updated=when,
        )
        cp.adesk_contractor_ids.append(cid)
        self._cp_index[("adesk", "contractors", cid)] = cp.key
        with_tax = cp.tax_id is not None and rng.random() < 0.85
        if with_tax or (cp.tax_id is None and rng.random() < 0.3) or not primary:
            rid = self._next("adesk_requisite")
            self.adesk_contractor_requisites[rid] = AdeskContractorRequisite(
                id=rid,
                contractor_id=cid,
                name=cp.full_name if rng.random() < 0.7 else cp.short_name,
                inn=cp.tax_id if (with_tax or not primary) else None,
                kpp=cp.kpp if with_tax else None,
                bank_account_number=cp.bank_account,
                bank_code=cp.bank_code,
                bank_name=cp.bank_name,
                correspondent_account=None,
                address=cp.address if rng.random() < 0.5 else None,
                phone=cp.phone if rng.random() < 0.4 else None,
                email=cp.email if rng.random() < 0.3 else None,
                website=None,
            )
            self._cp_index[("adesk", "contractor_requisites", rid)] = cp.key

    def _add_salesman_client(self, cp: Counterparty, when: datetime) -> None:
        rng = self._rng
        clid = self._next("salesman_client", gap=0.1)
        if cp.legal_form == "ИП":
            title = f"{' '.join(self._cp_person[cp.key])}, ИП"
        else:
            title = f"{cp.core_name}, {cp.legal_form}"
        self.salesman_clients[clid] = SalesmanClient(
            clid=clid,
            title=yo(title, rng, 0.2),
            phone=phone_salesman(cp.phone) if rng.random() < 0.6 else None,
            email=cp.email if rng.random() < 0.5 else None,
            date_create=when.astimezone(MSK).replace(tzinfo=None),
        )
        cp.salesman_client_ids.append(clid)
        self._cp_index[("salesman", "clients", clid)] = cp.key

    def _add_apipay_payer(self, cp: Counterparty) -> None:
        phones = [phone_apipay(cp.phone)]
        if self._rng.random() < 0.05:  # pays from an employee's personal phone
            phones.append(phone_apipay(self._fake.phone(cp.country)))
        for phone in phones:
            cp.apipay_phones.append(phone)
            self._cp_by_apipay_phone[phone] = cp.key

    # --- products ---

    def _new_product(self, index: int) -> None:
        rng = self._rng
        country = "RU" if rng.random() < 0.7 else "KZ"
        seeds = RU_GOODS if country == "RU" else KZ_GOODS
        base = seeds[index % len(seeds)] if index < 2 * len(seeds) else rng.choice(seeds)
        name, unit_symbol, ptype, low, high = base
        taken = {p.name for p in self.products.values()}
        while name in taken:
            name = f"{base[0]} {rng.choice(VARIANTS)}"
            if name in taken:
                name = f"{name} {rng.randint(2, 999)}"
        key = f"pr-{index + 1:04d}"
        price_units = rng.randint(low, high)
        if country == "RU":
            price_cents = price_units * 100 if rng.random() < 0.6 else price_units * 100 - 10
            vat = 20 if rng.random() < 0.8 else (10 if rng.random() < 0.5 else 0)
            currency = "RUB"
        else:
            price_cents = (price_units // 10) * 1000
            vat = 12
            currency = "KZT"
        unit_id = self._unit_by_symbol[unit_symbol]
        if self.units[unit_id].fractional and price_cents % 2:
            price_cents += 1  # half quantities must give whole cents
        sku = None
        if rng.random() >= 0.15:
            sku = f"{rng.choice(SKU_LETTERS)}{rng.choice(SKU_LETTERS)}-{rng.randrange(10**6):06d}"
        product = Product(
            key=key,
            sku=sku,
            name=name,
            unit_id=unit_id,
            price=money(price_cents),
            currency=currency,
            vat_rate=vat,
            type=ptype,
            country=country,
        )
        self.products[key] = product
        when = datetime(2024, 11, 1, 10, tzinfo=MSK) + timedelta(minutes=37 * index)
        unit = self.units[unit_id]
        if country == "RU" and rng.random() < 0.9:
            bid = self._next("bitrix_product", gap=0.1)
            bname = name
            r = rng.random()
            if r < 0.1:
                bname = name.lower()
            elif r < 0.2:
                bname = name.replace(" ", "  ", 1)
            elif r < 0.25:
                bname = name.upper()
            elif r < 0.3:
                bname = name + " "
            self.bitrix_products[bid] = BitrixProduct(
                id=bid,
                name=bname,
                article=sku if rng.random() < 0.7 else None,
                price=product.price,
                currency_id="RUB",
                vat_rate=vat,
                vat_included=rng.random() < 0.85,
                measure_code=int(unit.code),
                measure_name=unit.symbol,
                created_time=when,
                updated_time=when,
            )
            self._product_index[("bitrix24", bid)] = key
            self._bitrix_catalog.append(bid)
        if rng.random() < 0.85:
            aid = self._next("adesk_product")
            adesk_sku = sku
            if sku is not None and rng.random() < 0.1:
                adesk_sku = sku.replace("-", "").translate(TO_CYRILLIC)
            goods = ptype == "product"
            self.adesk_products[aid] = AdeskProduct(
                id=aid,
                type=1 if goods else 2,
                name=name,
                sku=adesk_sku,
                description=None,
                unit_id=unit_id,
                initial_date=HISTORY_START if goods else None,
                initial_quantity=Decimal(rng.randint(10, 500)) if goods else None,
                initial_price=money(price_cents * 6 // 10) if goods else None,
                currency="RUR" if country == "RU" else "KZT",
                legal_entity_id=11 if country == "RU" else 12,
            )
            self._product_index[("adesk", aid)] = key
        if country == "KZ" and rng.random() < 0.95:
            nid = self._next("apipay_nomenclature", gap=0.2)
            self.apipay_nomenclature[nid] = ApipayNomenclature(
                id=nid,
                history_id=self._next("apipay_history", gap=0.3),
                name=name,
                price=product.price,
                unit_id=unit_id,
                created_at=when.astimezone(UTC),
            )
            self._product_index[("apipay", nid)] = key
            self._kz_nomenclature.append(nid)
