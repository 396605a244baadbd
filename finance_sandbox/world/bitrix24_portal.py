"""What a real Bitrix24 portal adds around the smart invoices of `Bitrix24Invoicing`: invoice
funnels (categories) with renamed and custom stages, contacts (invoices issued to a person), and
the legacy invoices (entity type 5) that older portals keep for their pre-2021 history.

The world's invoice flow (`BitrixInvoice.stage_id`: new -> sent -> paid | declined, written in
the default funnel's codes `DT31_1:N/S/P/D`) is what evolution moves and what the truth counts.
This module says how the portal *shows* it: each invoice sits in one funnel, and each flow state
maps to one of that funnel's stages, some of them custom (`DT31_7:UC_…`) and several failures.
Everything here is a pure function of record ids and the world's seed (sha256 / a private
`random.Random`), never of the world's main random stream, so adding the portal changed no other
record: same seed -> same world, as before.

Published shapes these records are rendered into (repository bitrix24/b24restdocs):
- funnels: api-reference/crm/universal/category/crm-category-list.md;
- stages: api-reference/crm/status/crm-status-list.md (`SEMANTICS` "S" success, "F" failure,
  null in progress; `EXTRA.SEMANTICS` spelled out), crm-status-entity-types.md
  (`SMART_INVOICE_STAGE_<categoryId>`, `PREFIX` `DT31_<categoryId>`);
- contacts: api-reference/crm/contacts/crm-contact-list.md; the invoice's client
  (api-reference/crm/universal/invoice.md: one `companyId`, contacts in `contactId`/`contactIds`);
- legacy invoices: api-reference/crm/outdated/invoice/crm-invoice-list.md, crm-invoice-fields.md
  (PRODUCT_ROWS), dictionary `INVOICE_STATUS`.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from finance_sandbox.world.names import Faker
from finance_sandbox.world.records import (
    MSK,
    STAGE_DECLINED,
    STAGE_NEW,
    STAGE_PAID,
    STAGE_SENT,
    BitrixInvoice,
    money,
    round_div,
    to_cents,
)

INVOICE_ENTITY_TYPE_ID = 31
LEGACY_INVOICE_ENTITY_TYPE_ID = 5
CONTACT_ENTITY_TYPE_ID = 3
COMPANY_ENTITY_TYPE_ID = 4


@dataclass(frozen=True)
class PortalCategory:
    id: int
    name: str
    sort: int
    is_default: bool


@dataclass(frozen=True)
class PortalStage:
    """One stage of a funnel (a row of the `SMART_INVOICE_STAGE_<category>` dictionary)."""

    id: int  # the dictionary row's own ID
    category_id: int | None  # None for the legacy INVOICE_STATUS dictionary
    status_id: str  # "DT31_7:UC_K3M9QX"; legacy: "P"
    name: str
    sort: int
    semantics: str | None  # "S" success, "F" failure, None in progress
    extra_semantics: str  # "process" | "success" | "failure" | "apology"
    color: str
    system: bool

    @property
    def entity_id(self) -> str:
        if self.category_id is None:
            return "INVOICE_STATUS"
        return f"SMART_INVOICE_STAGE_{self.category_id}"


# The funnels: the default one (id 1, not 0: invoice funnels are numbered like any other
# category, the docs' own example is `DT31_13:N`) and an export funnel with renamed and custom
# stages.
CATEGORIES = (
    PortalCategory(1, "Счета", 100, True),
    PortalCategory(7, "Экспорт", 200, False),
)


def _stage(
    sid: int,
    cat: int,
    code: str,
    name: str,
    sort: int,
    sem: str | None,
    extra: str,
    color: str,
    system: bool,
) -> PortalStage:
    return PortalStage(sid, cat, f"DT31_{cat}:{code}", name, sort, sem, extra, color, system)


STAGES = (
    _stage(201, 1, "N", "Новый", 10, None, "process", "#22B9FF", True),
    _stage(203, 1, "S", "Отправлен клиенту", 20, None, "process", "#47E4C2", True),
    _stage(205, 1, "UC_4ZP1QA", "Ждём оплату", 30, None, "process", "#FFA900", False),
    _stage(207, 1, "P", "Оплачен", 40, "S", "success", "#7BD500", True),
    _stage(209, 1, "D", "Отклонён", 50, "F", "failure", "#FF5752", True),
    _stage(211, 1, "UC_8RT2KD", "Отменён клиентом", 60, "F", "apology", "#FF8888", False),
    _stage(301, 7, "N", "Черновик", 10, None, "process", "#22B9FF", True),
    _stage(303, 7, "UC_K3M9QX", "Выставлен покупателю", 20, None, "process", "#47E4C2", False),
    _stage(305, 7, "P", "Деньги получены", 30, "S", "success", "#7BD500", True),
    _stage(307, 7, "D", "Не оплачен в срок", 40, "F", "failure", "#FF5752", True),
    _stage(309, 7, "UC_W5NL2E", "Сделка сорвалась", 50, "F", "apology", "#FF8888", False),
)
STAGES_BY_STATUS_ID = {s.status_id: s for s in STAGES}

# The legacy invoices' dictionary (INVOICE_STATUS): the standard codes plus two custom ones.
LEGACY_STATUSES = (
    PortalStage(101, None, "N", "Черновик", 100, None, "process", "#22B9FF", True),
    PortalStage(103, None, "S", "Отправлен клиенту", 110, None, "process", "#47E4C2", True),
    PortalStage(105, None, "A", "Подтверждён клиентом", 120, None, "process", "#FFA900", False),
    PortalStage(107, None, "P", "Оплачен", 130, "S", "success", "#7BD500", True),
    PortalStage(109, None, "D", "Отклонён", 140, "F", "failure", "#FF5752", True),
    PortalStage(111, None, "X", "Аннулирован", 150, "F", "apology", "#FF8888", False),
)
LEGACY_STATUS_BY_ID = {s.status_id: s for s in LEGACY_STATUSES}


def _hash(*parts: Any) -> int:
    text = ":".join(str(p) for p in parts)
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def category_of(invoice_id: int) -> int:
    """The funnel an invoice sits in: about a quarter are export invoices."""
    return 7 if _hash("bitrix-category", invoice_id) % 4 == 0 else 1


# flow state -> the stages of each funnel that can show it (one is picked per invoice)
_FLOW_STAGES: dict[str, dict[int, tuple[str, ...]]] = {
    STAGE_NEW: {1: ("N",), 7: ("N",)},
    STAGE_SENT: {1: ("S", "S", "UC_4ZP1QA"), 7: ("UC_K3M9QX",)},
    STAGE_PAID: {1: ("P",), 7: ("P",)},
    STAGE_DECLINED: {1: ("D", "UC_8RT2KD"), 7: ("D", "UC_W5NL2E")},
}


def portal_stage(invoice: BitrixInvoice) -> PortalStage:
    """The stage the portal shows for an invoice in its current flow state."""
    category = category_of(invoice.id)
    codes = _FLOW_STAGES[invoice.stage_id][category]
    code = codes[_hash("bitrix-stage", invoice.id, invoice.stage_id) % len(codes)]
    return STAGES_BY_STATUS_ID[f"DT31_{category}:{code}"]


# ---------------------------------------------------------------------------------------------
# Contacts
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class BitrixContact:
    """A person in the CRM (crm.contact.list). Invoices to private persons name one."""

    id: int
    name: str
    last_name: str
    second_name: str
    phone: str | None
    email: str | None
    assigned_by_id: int
    created_time: datetime
    updated_time: datetime


CONTACT_ID_BASE = 500  # contact ids are the portal's own sequence, unrelated to company ids


def contact_id_of(invoice: BitrixInvoice) -> int:
    """The contact an invoice names: invoices without a company are issued to a person."""
    return 0 if invoice.company_id is not None else CONTACT_ID_BASE + invoice.id


def _contact(seed: int, contact_id: int, when: datetime) -> BitrixContact:
    rng = random.Random(_hash("bitrix-contact", seed, contact_id))
    surname, first, patronymic = Faker(rng).person("RU")
    latin = f"{contact_id}@mail.example"
    return BitrixContact(
        id=contact_id,
        name=first,
        last_name=surname,
        second_name=patronymic,
        phone=f"+7 (9{rng.randint(10, 99)}) {rng.randint(100, 999)}-{rng.randint(10, 99)}-"
        f"{rng.randint(10, 99)}"
        if rng.random() < 0.8
        else None,
        email=latin if rng.random() < 0.5 else None,
        assigned_by_id=rng.choice((1, 5, 7, 12, 14)),
        created_time=when,
        updated_time=when,
    )


# A few contacts exist without any invoice (a real CRM has people it never billed).
_LONE_CONTACTS = 3


def contacts(world: Any) -> dict[int, BitrixContact]:
    """The portal's contacts: one per company-less invoice (live or deleted: a contact outlives
    the invoice) and a few never billed. Cached per world state."""
    key = (world.steps, len(world.bitrix_invoices))
    cached = getattr(world, "_bitrix_contacts_cache", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    found: dict[int, BitrixContact] = {}
    for index in range(_LONE_CONTACTS):
        cid = CONTACT_ID_BASE - 1 - index
        when = datetime(2024, 6, 1 + index, 10, 0, tzinfo=MSK)
        found[cid] = _contact(world.seed, cid, when)
    deleted = world.deleted.get(("bitrix24", "invoices"), {})
    live = world.bitrix_invoices.values()
    gone = (d.record for d in deleted.values() if getattr(d, "record", None) is not None)
    for invoice in [*live, *gone]:
        cid = contact_id_of(invoice)
        if cid and cid not in found:
            found[cid] = _contact(world.seed, cid, invoice.created_time - timedelta(hours=1))
    result = dict(sorted(found.items()))
    world._bitrix_contacts_cache = (key, result)
    return result


# ---------------------------------------------------------------------------------------------
# Legacy invoices (entity type 5): the portal's pre-2021 history
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class LegacyInvoiceRow:
    """A PRODUCT_ROWS element of crm.invoice.get (crm-invoice-fields.md): PRICE is the unit
    price with VAT after discount, so the line is PRICE * QUANTITY."""

    id: int
    product_id: int  # 0 when typed by hand
    product_name: str
    price: Decimal
    discount_price: Decimal  # discount per unit
    quantity: Decimal
    vat_rate: Decimal  # a coefficient: 0.2
    vat_included: str  # "Y" | "N"
    measure_code: int
    measure_name: str


@dataclass(slots=True)
class LegacyInvoice:
    id: int
    account_number: str
    order_topic: str
    status_id: str  # a code of INVOICE_STATUS
    price: Decimal  # == sum(row.price * row.quantity)
    tax_value: Decimal
    currency: str
    company_id: int  # 0 when issued to a person
    contact_id: int
    responsible_id: int
    date_insert: datetime
    date_update: datetime
    date_bill: date
    date_pay_before: date
    date_status: datetime
    date_payed: datetime | None
    rows: list[LegacyInvoiceRow] = field(default_factory=list)

    @property
    def payed(self) -> str:
        return "Y" if self.status_id == "P" else "N"


def legacy_invoices(world: Any) -> dict[int, LegacyInvoice]:
    """Invoices of 2019–2020 kept by the old invoice module. Frozen history: built once per world
    from its seed, never edited or added to."""
    cached = getattr(world, "_bitrix_legacy_cache", None)
    if cached is not None:
        return cached
    rng = random.Random(_hash("bitrix-legacy", world.seed))
    count = max(12, world.size.bitrix_invoices // 10)
    # Companies of the first build: the smallest ids, live or deleted since, so the choice does
    # not depend on when this is first asked.
    deleted_companies = world.deleted.get(("bitrix24", "companies"), {})
    companies = sorted({*world.bitrix_companies, *deleted_companies})[:20]
    products = sorted(world.bitrix_products.values(), key=lambda p: p.id)[:15]
    start = datetime(2019, 2, 1, 9, 0, tzinfo=MSK)
    span = int((datetime(2020, 12, 20, tzinfo=MSK) - start).total_seconds())
    moments = sorted(start + timedelta(seconds=rng.randrange(span)) for _ in range(count))
    result: dict[int, LegacyInvoice] = {}
    row_id = 9000
    for index, moment in enumerate(moments):
        invoice_id = 40 + index * 3 + rng.randint(0, 2)
        to_person = rng.random() < 0.15 or not companies
        company_id = 0 if to_person else rng.choice(companies)
        contact_id = (CONTACT_ID_BASE - 1 - rng.randrange(_LONE_CONTACTS)) if to_person else 0
        rows: list[LegacyInvoiceRow] = []
        total = tax = 0
        for _ in range(rng.choice((1, 1, 2, 3))):
            row_id += 1 + rng.randint(0, 3)
            if products and rng.random() < 0.85:
                product = rng.choice(products)
                pid, name, brutto = product.id, product.name, to_cents(product.price)
                rate, unit_code, unit = product.vat_rate, product.measure_code, product.measure_name
            else:
                pid, name, brutto = 0, "Монтажные работы", rng.randint(10, 90) * 100_00
                rate, unit_code, unit = 20, 796, "шт"
            discount = round_div(brutto * rng.choice((0, 0, 0, 5, 10)), 100)
            price = brutto - discount
            quantity = rng.choice((1, 1, 2, 3, 5, 10))
            line = price * quantity
            total += line
            tax += round_div(line * rate, 100 + rate)
            rows.append(
                LegacyInvoiceRow(
                    id=row_id,
                    product_id=pid,
                    product_name=name,
                    price=money(price),
                    discount_price=money(discount),
                    quantity=Decimal(quantity),
                    vat_rate=(Decimal(rate) / 100).quantize(Decimal("0.01")),
                    vat_included="Y",
                    measure_code=unit_code,
                    measure_name=unit,
                )
            )
        # Frozen history: every legacy invoice was settled or given up before the portal moved
        # to smart invoices (and before the ledger's history begins).
        fate = rng.random()
        status = "P" if fate < 0.75 else "D" if fate < 0.9 else "X"
        closed = moment + timedelta(days=rng.randint(2, 40))
        result[invoice_id] = LegacyInvoice(
            id=invoice_id,
            account_number=f"{moment.year}/{index + 1:04d}",
            order_topic=f"Счёт № {moment.year}/{index + 1:04d}",
            status_id=status,
            price=money(total),
            tax_value=money(tax),
            currency="RUB",
            company_id=company_id,
            contact_id=contact_id,
            responsible_id=rng.choice((1, 5, 7)),
            date_insert=moment,
            date_update=closed,
            date_bill=moment.date(),
            date_pay_before=moment.date() + timedelta(days=10),
            date_status=closed,
            date_payed=closed if status == "P" else None,
            rows=rows,
        )
    world._bitrix_legacy_cache = result
    return result
