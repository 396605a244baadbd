"""One deterministic synthetic business behind the four API emulators.

A company group (a Russian ООО invoicing in RUB, a Kazakh ТОО taking KZT through ApiPay.kz)
issues invoices in Bitrix24 (smart invoices), SalesMan CRM and ApiPay, and keeps its cash ledger
in Adesk. This module is the *truth*: normalised Python records (Decimal money, date/datetime),
one table per (source, entity). The emulators only render these records into each API's native
JSON, so everything an API shows must already be here, including the mess that makes the
pipeline's job hard: the same company named differently in every system, duplicate CRM cards,
payments described by hand, paid invoices nobody recorded, deletions.

Everything comes from one `random.Random(seed)`; nothing reads the clock. Iteration order never
depends on `set`/`str` hashing, so a seed gives the same world in every process.

Sources are named "bitrix24", "salesman", "adesk", "apipay"; tables are listed in `ENTITIES`.
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from itertools import accumulate
from operator import attrgetter
from typing import Any

from finance_sandbox.taxids import (
    iban_check_digits,
    inn10_check_digit,
    inn12_check_digits,
    kz_check_digit,
    ogrn_check_digit,
    ru_account_key,
)

__all__ = [
    "APIPAY_PAID_STATUSES",
    "APIPAY_TRANSITIONS",
    "BITRIX_ENTITY_TYPE_ID",
    "ENTITIES",
    "HISTORY_START",
    "INITIAL_NOW",
    "SOURCES",
    "AdeskCommitment",
    "AdeskContractor",
    "AdeskContractorRequisite",
    "AdeskProduct",
    "AdeskTransaction",
    "AdeskTransfer",
    "ApipayCartItem",
    "ApipayInvoice",
    "ApipayNomenclature",
    "ApipayRefund",
    "BankAccount",
    "BitrixCompany",
    "BitrixInvoice",
    "BitrixProduct",
    "BitrixProductRow",
    "BitrixRequisite",
    "Category",
    "CategoryGroup",
    "ChangeLog",
    "Counterparty",
    "Deleted",
    "InvoiceStat",
    "LegalEntity",
    "PaidInvoice",
    "Product",
    "Project",
    "ProjectCategory",
    "SalesmanClient",
    "SalesmanInvoice",
    "Tag",
    "Truth",
    "Unit",
    "World",
    "WorldSize",
]

# ---------------------------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------------------------

SOURCES = ("bitrix24", "salesman", "adesk", "apipay")

MSK = timezone(timedelta(hours=3))  # Bitrix24, SalesMan and Adesk live in Moscow time
ALMATY = timezone(timedelta(hours=5))  # Kazakhstan is on UTC+5 since March 2024

HISTORY_START = date(2025, 1, 1)
INITIAL_NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

BITRIX_ENTITY_TYPE_ID = 31  # smart invoices
STAGE_NEW, STAGE_SENT, STAGE_PAID, STAGE_DECLINED = "DT31_1:N", "DT31_1:S", "DT31_1:P", "DT31_1:D"
BITRIX_STAGES = (STAGE_NEW, STAGE_SENT, STAGE_PAID, STAGE_DECLINED)

# ApiPay statuses and the documented transition graph. The cancel endpoint answers either the
# final `cancelled` at once or `cancelling` (202) when it works asynchronously, so both exist.
APIPAY_STATUSES = (
    "pending",
    "cancelling",
    "paid",
    "cancelled",
    "expired",
    "partially_refunded",
    "refunded",
)
APIPAY_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "pending": ("paid", "cancelling", "cancelled", "expired"),
    "cancelling": ("cancelled",),
    "paid": ("partially_refunded", "refunded"),
    "partially_refunded": ("partially_refunded", "refunded"),
    "cancelled": (),
    "expired": (),
    "refunded": (),
}
APIPAY_PAID_STATUSES = frozenset({"paid", "partially_refunded", "refunded"})
APIPAY_LIFETIME = timedelta(hours=72)  # a pending ApiPay invoice expires after this

SALESMAN_TIPS = (
    "Счет-договор",
    "Предварительная оплата",
    "Окончательная оплата",
    "По спецификации",
    "По договору",
)

# (source, entity) -> World attribute holding that table. Keys of every table are ints except
# `counterparties` and `products` (the truth's own string keys, "cp-0001", "pr-0001").
ENTITIES: dict[tuple[str, str], str] = {
    ("bitrix24", "companies"): "bitrix_companies",
    ("bitrix24", "requisites"): "bitrix_requisites",
    ("bitrix24", "products"): "bitrix_products",
    ("bitrix24", "invoices"): "bitrix_invoices",
    ("salesman", "clients"): "salesman_clients",
    ("salesman", "invoices"): "salesman_invoices",
    ("adesk", "legal_entities"): "legal_entities",
    ("adesk", "bank_accounts"): "bank_accounts",
    ("adesk", "category_groups"): "category_groups",
    ("adesk", "categories"): "categories",
    ("adesk", "project_categories"): "project_categories",
    ("adesk", "projects"): "projects",
    ("adesk", "tags"): "tags",
    ("adesk", "units"): "units",
    ("adesk", "contractors"): "adesk_contractors",
    ("adesk", "contractor_requisites"): "adesk_contractor_requisites",
    ("adesk", "products"): "adesk_products",
    ("adesk", "transactions"): "adesk_transactions",
    ("adesk", "transfers"): "adesk_transfers",
    ("adesk", "commitments"): "adesk_commitments",
    ("apipay", "invoices"): "apipay_invoices",
    ("apipay", "refunds"): "apipay_refunds",
    ("apipay", "nomenclature"): "apipay_nomenclature",
}

_ZERO = Decimal("0.00")
_CENT = Decimal("0.01")


def _m(cents: int) -> Decimal:
    """Integer cents -> Decimal with exactly two places (all money is built this way)."""
    return Decimal(cents).scaleb(-2)


def _cents(amount: Decimal) -> int:
    return int(amount.scaleb(2))


def _rdiv(a: int, b: int) -> int:
    """a / b rounded half up, for a >= 0 and b > 0 (integer money arithmetic)."""
    return (2 * a + b) // (2 * b)


# ---------------------------------------------------------------------------------------------
# Records: reference data (Adesk)
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class LegalEntity:
    """One of our own companies (Adesk "юридическое лицо")."""

    id: int
    name: str
    full_name: str
    country: str  # "RU" | "KZ"
    currency: str  # Adesk spelling: "RUR" | "KZT"
    inn: str  # ИНН for RU, БИН for KZ (Adesk has one field for both)
    kpp: str | None
    registration_number: str  # ОГРН for RU, БИН again for KZ
    address: str
    phone: str  # canonical +7XXXXXXXXXX


@dataclass(slots=True)
class BankAccount:
    id: int
    name: str
    bank_name: str
    bank_code: str | None  # БИК (RU) or SWIFT-like BIC (KZ); None for a cash desk
    number: str | None  # 20 digits (RU) or KZ IBAN; None for a cash desk
    currency: str  # "RUR" | "KZT"
    type: str  # "Bank" | "Cash"
    status: str  # "open" | "closed"
    initial_amount: Decimal
    initial_amount_date: date
    created: datetime
    legal_entity_id: int
    amount: Decimal  # current balance as Adesk reports it (== Truth.balances[id])


@dataclass(slots=True)
class CategoryGroup:
    id: int
    name: str
    type: int  # 1 income, 2 outcome


@dataclass(slots=True)
class Category:
    """Adesk "статья операции"."""

    id: int
    name: str
    type: int  # 1 income, 2 outcome
    kind: int  # 1 operating, 2 investing, 3 financing
    is_owner_transfer: bool  # ввод/вывод денег: not revenue or expense in reports
    is_system: bool
    is_archived: bool
    group_id: int


@dataclass(slots=True)
class ProjectCategory:
    """Adesk "направление проекта"."""

    id: int
    name: str


@dataclass(slots=True)
class Project:
    id: int
    name: str
    type: str  # "project" | "deal"
    description: str
    created: date
    category_id: int | None
    is_archived: bool
    plan_income: Decimal
    plan_outcome: Decimal
    manager_name: str | None
    deal_contractor_id: int | None  # only for type "deal"
    deal_legal_entity_id: int | None


@dataclass(slots=True)
class Tag:
    id: int
    name: str
    color: str


@dataclass(slots=True)
class Unit:
    """Unit of measure; ids are shared by Adesk, Bitrix rows (via code) and ApiPay UnitId."""

    id: int
    symbol: str  # "шт"
    name: str  # "Штука"
    code: str  # ОКЕИ code, "796"
    fractional: bool


# ---------------------------------------------------------------------------------------------
# Records: the truth's own entities
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Counterparty:
    """One real company or sole trader; appears in a subset of the systems under its own ids.

    The per-system id lists say where it appears (a list: CRMs hold duplicate cards).
    """

    key: str  # "cp-0001"
    country: str  # "RU" | "KZ"
    legal_form: str  # ООО, АО, ПАО, ИП (RU); ТОО, ИП (KZ)
    core_name: str  # "Дорос"; for ИП the person's full name
    short_name: str  # 'ООО «Дорос»', 'ИП Иванов Иван Иванович'
    full_name: str  # 'Общество с ограниченной ответственностью «Дорос»'
    tax_id: str | None  # INN (RU) / BIN or IIN (KZ); None for ~5%
    kpp: str | None  # RU organisations only
    ogrn: str | None  # ОГРН / ОГРНИП (RU)
    phone: str  # canonical +7XXXXXXXXXX
    email: str | None
    address: str
    bank_name: str
    bank_code: str
    bank_account: str
    is_customer: bool
    is_supplier: bool
    bitrix_company_ids: list[int] = field(default_factory=list)
    adesk_contractor_ids: list[int] = field(default_factory=list)
    salesman_client_ids: list[int] = field(default_factory=list)
    apipay_phones: list[str] = field(default_factory=list)  # 8XXXXXXXXXX as ApiPay stores them


@dataclass(slots=True)
class Product:
    key: str  # "pr-0001"
    sku: str | None  # "KO-123456"; None for ~15%
    name: str
    unit_id: int
    price: Decimal  # list price incl. VAT, in `currency`
    currency: str  # "RUB" for RU products, "KZT" for KZ ones
    vat_rate: int  # 20, 10, 0 (RU); 12 (KZ)
    type: str  # "product" | "service"
    country: str


# ---------------------------------------------------------------------------------------------
# Records: Bitrix24
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class BitrixCompany:
    id: int
    title: str  # 'ООО "Дорос"', 'ООО «Дорос»', 'ИП Иванов И.И.'
    company_type: str  # "CUSTOMER" | "SUPPLIER"
    phone: str | None  # '+7 (999) 123-45-67'
    email: str | None
    assigned_by_id: int
    created_time: datetime  # +03:00
    updated_time: datetime


@dataclass(slots=True)
class BitrixRequisite:
    id: int
    entity_type_id: int  # 4 = company
    entity_id: int  # company id
    preset_id: int  # 1 organisation, 2 sole trader
    name: str  # the requisite's own title ("Организация", "ИП")
    rq_name: str | None  # ИП: person's full name; organisation: short name
    rq_company_name: str | None
    rq_company_full_name: str | None
    rq_inn: str | None
    rq_kpp: str | None
    rq_ogrn: str | None
    rq_ogrnip: str | None
    created_time: datetime
    updated_time: datetime


@dataclass(slots=True)
class BitrixProduct:
    """Catalog product. Names sometimes differ from the truth in case or spacing."""

    id: int
    name: str
    article: str | None  # the SKU when the manager filled it
    price: Decimal
    currency_id: str  # "RUB"
    vat_rate: int
    vat_included: bool
    measure_code: int  # ОКЕИ
    measure_name: str
    created_time: datetime
    updated_time: datetime


@dataclass(slots=True)
class BitrixProductRow:
    """Invoice line. `price` is the final unit price incl. tax after discount, so
    line total = price * quantity exactly; discount_sum is per unit, excluding tax."""

    id: int
    owner_id: int  # invoice id
    product_id: int  # catalog id, 0 for a free-text line
    product_name: str
    price: Decimal
    price_exclusive: Decimal  # after discount, without tax
    price_netto: Decimal  # before discount, without tax
    price_brutto: Decimal  # before discount, with tax
    quantity: Decimal
    discount_type_id: int  # 1 absolute, 2 percent
    discount_rate: Decimal  # percent
    discount_sum: Decimal  # per unit
    tax_rate: int
    tax_included: str  # "Y" | "N"
    measure_code: int
    measure_name: str
    sort: int


@dataclass(slots=True)
class BitrixInvoice:
    """Smart invoice (entityTypeId 31), always RUB."""

    id: int
    account_number: str  # "С-00123" with a Cyrillic С
    title: str
    company_id: int | None
    stage_id: str  # DT31_1:N / :S / :P / :D
    created_time: datetime  # +03:00
    updated_time: datetime
    moved_time: datetime  # last stage change; the payment time for stage P
    begindate: date
    closedate: date  # due date
    opportunity: Decimal  # == sum(row.price * row.quantity) when there are rows
    tax_value: Decimal
    currency_id: str
    is_manual_opportunity: bool  # True for the fixed-amount invoices without rows
    deal_id: int | None
    assigned_by_id: int
    rows: list[BitrixProductRow] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Records: SalesMan
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class SalesmanClient:
    clid: int
    title: str  # SalesMan style "Дорос, ООО"
    phone: str | None  # '8 (999) 123-45-67'
    email: str | None
    date_create: datetime  # naive Moscow local time, as SalesMan prints it


@dataclass(slots=True)
class SalesmanInvoice:
    """SalesMan invoice (a payment-schedule record). `paid` is SalesMan's "do" flag.

    A partial payment splits a record: the paid record keeps the paid part and a new record with
    the same `invoice` number (part 2, `parent_id` set) holds the remainder.
    """

    id: int  # crid
    invoice: str  # number, digits
    date_create: datetime  # naive Moscow local
    date_plan: date
    date_fact: date | None
    summa: Decimal
    nds: Decimal
    clid: int
    client: str
    did: int
    deal: str
    tip: str
    paid: bool  # "do"
    contract: str | None
    rs: int
    iduser: int
    part: int
    parent_id: int | None
    date_update: datetime  # naive Moscow local

    @property
    def crid(self) -> int:
        return self.id


# ---------------------------------------------------------------------------------------------
# Records: Adesk
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class AdeskContractor:
    id: int
    name: str
    contact_person: str | None
    phone: str | None  # '+79991234567'
    email: str | None
    created: datetime
    updated: datetime


@dataclass(slots=True)
class AdeskContractorRequisite:
    id: int
    contractor_id: int
    name: str
    inn: str | None
    kpp: str | None
    bank_account_number: str | None
    bank_code: str | None
    bank_name: str | None
    correspondent_account: str | None
    address: str | None
    phone: str | None
    email: str | None
    website: str | None


@dataclass(slots=True)
class AdeskProduct:
    id: int
    type: int  # 1 product, 2 service
    name: str
    sku: str | None
    description: str | None
    unit_id: int
    initial_date: date | None  # initial batch (goods only)
    initial_quantity: Decimal | None
    initial_price: Decimal | None
    currency: str  # "RUR" | "KZT"
    legal_entity_id: int


@dataclass(slots=True)
class AdeskTransaction:
    """Ledger movement ("операция"). `amount` is positive; `type` gives the direction."""

    id: int
    date: date
    related_date: date
    amount: Decimal
    type: int  # 1 income, 2 outcome
    bank_account_id: int
    category_id: int | None  # None for transfer legs
    contractor_id: int | None
    project_id: int | None
    tag_ids: tuple[int, ...]
    description: str
    is_planned: bool
    is_transfer: bool
    transfer_id: int | None
    is_commitment: bool
    created: datetime  # +03:00
    updated: datetime
    deleted: bool = False


@dataclass(slots=True)
class AdeskTransfer:
    """A move between two own accounts: two transactions (outcome + income), same currency."""

    id: int
    from_account_id: int
    to_account_id: int
    amount: Decimal
    amount_to: Decimal
    date: date
    description: str
    outcome_transaction_id: int
    income_transaction_id: int
    tag_ids: tuple[int, ...]


@dataclass(slots=True)
class AdeskCommitment:
    id: int
    amount: Decimal
    vat: Decimal
    vat_percent: int
    description: str
    date: date
    legal_entity_id: int
    contractor_id: int
    project_id: int | None
    type: int  # 1 incoming, 2 outgoing
    currency: str
    transaction_id: int | None
    created: datetime
    updated: datetime


# ---------------------------------------------------------------------------------------------
# Records: ApiPay
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ApipayNomenclature:
    """Catalog entry behind CATALOGUE cart items (NomenclatureId / NomenclatureHistoryId)."""

    id: int
    history_id: int
    name: str
    price: Decimal
    unit_id: int
    created_at: datetime


@dataclass(slots=True)
class ApipayCartItem:
    name: str
    price: Decimal
    count: int
    nomenclature_id: int  # -2 for FAST_SALE
    type: str  # "CATALOGUE" | "FAST_SALE"
    unit_id: int
    nomenclature_history_id: int | None  # only for CATALOGUE


@dataclass(slots=True)
class ApipayInvoice:
    """KZT invoice; with a cart, amount == sum(price * count)."""

    id: int
    amount: Decimal
    status: str
    description: str | None
    external_order_id: str | None
    phone_number: str  # 8XXXXXXXXXX
    created_at: datetime  # UTC
    updated_at: datetime
    paid_at: datetime | None
    cart_items: list[ApipayCartItem] = field(default_factory=list)


@dataclass(slots=True)
class ApipayRefund:
    id: int
    invoice_id: int
    amount: Decimal
    status: str  # "completed"
    reason: str
    created_at: datetime  # UTC


# ---------------------------------------------------------------------------------------------
# World size, change log, truth
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class WorldSize:
    counterparties: int = 60
    products: int = 40
    bitrix_invoices: int = 300
    salesman_invoices: int = 150
    apipay_invoices: int = 200
    # Ordinary ledger movements (rent, salaries, taxes, purchases, financing, planned ...) on top
    # of the payment-driven ones and the transfers between own accounts.
    extra_transactions: int = 400
    seed: int = 42
    commitments: int = 30

    @classmethod
    def scaled(cls, invoices: int, transactions: int, seed: int = 42) -> WorldSize:
        """A load-test world: `invoices` spread over the three invoicing systems in the default
        proportions and about `transactions` ledger movements in total."""
        bitrix = invoices * 300 // 650
        salesman = invoices * 150 // 650
        apipay = invoices - bitrix - salesman
        # Payment-driven movements are about 0.7 per invoice (paid share, refunds, unmatched
        # incomes); transfers add about 4% of the extra movements.
        extra = max(0, int((transactions - 0.7 * invoices) / 1.04))
        return cls(
            counterparties=max(60, invoices // 40),
            products=max(40, invoices // 500),
            bitrix_invoices=bitrix,
            salesman_invoices=salesman,
            apipay_invoices=apipay,
            extra_transactions=extra,
            seed=seed,
            commitments=max(30, invoices // 2000),
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


@dataclass(slots=True)
class InvoiceStat:
    count: int = 0
    amount: Decimal = _ZERO


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
    # Completed movements per currency ("RUR"/"KZT"), without transfers and owner transfers.
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


# ---------------------------------------------------------------------------------------------
# Names, phones, tax ids
# ---------------------------------------------------------------------------------------------

# fmt: off
_RU_PREFIXES = (
    "Техно", "Строй", "Агро", "Энерго", "Спец", "Гранд", "Мега", "Инвест", "Торг", "Евро", "Сиб",
    "Урал", "Волга", "Нева", "Промо", "Норд", "Вест", "Эко", "Медиа", "Инфо", "Мастер", "Оптима",
    "Прайм", "Стандарт", "Авто", "Гидро", "Тепло", "Электро",
)
_RU_SUFFIXES = (
    "сервис", "ресурс", "снаб", "комплект", "маркет", "лайн", "трейд", "пром", "логистик", "групп",
    "систем", "строй", "мир", "альянс", "холдинг", "проект", "тех", "профи",
)
_RU_WORDS = (
    "Дорос", "Вектор", "Меридиан", "Альтаир", "Орион", "Гелиос", "Атлант", "Бриз", "Рассвет",
    "Прогресс", "Горизонт", "Зенит", "Кристалл", "Магистраль", "Монолит", "Пересвет", "Радуга",
    "Сапфир", "Тандем", "Фаворит", "Эталон", "Янтарь", "Байкал", "Ладога", "Сатурн", "Омега",
)
_NAME_TAILS = (
    " Плюс", "-М", " Юг", " Север", "-Центр", " Про", "-2000", " Инвест",
)
_KZ_PREFIXES = (
    "Алтын", "Каспий", "Астана", "Алматы", "Жетысу", "Сарыарка", "Тулпар", "Евразия", "Шымкент",
    "Атырау", "Байтерек", "Кайнар", "Самрук", "Нурлы", "Ак", "Мерей",
)
_KZ_SUFFIXES = (
    "Трейд", "Строй", "Сервис", "Логистик", "Пром", "Групп", "Инвест", "Агро", "Снаб", "Дала",
    "Тау", "Жол",
)
_RU_SURNAMES = (
    "Иванов", "Петров", "Смирнов", "Кузнецов", "Попов", "Васильев", "Соколов", "Михайлов",
    "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров", "Павлов",
    "Козлов", "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин", "Захаров",
    "Королёв",
)
_RU_MALE = (
    "Иван", "Алексей", "Сергей", "Дмитрий", "Андрей", "Михаил", "Николай", "Павел", "Владимир",
    "Олег", "Артём", "Евгений",
)
_RU_FEMALE = (
    "Анна", "Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Мария", "Светлана",
)
_RU_PATRONYMICS = (
    "Иванович", "Алексеевич", "Сергеевич", "Дмитриевич", "Андреевич", "Михайлович", "Николаевич",
    "Павлович", "Владимирович", "Олегович",
)
_KZ_SURNAMES = (
    "Серикбаев", "Нурланов", "Ахметов", "Жумабаев", "Касымов", "Абенов", "Омаров", "Тулегенов",
    "Бекмуханов", "Исабеков", "Кенжебаев", "Мукашев",
)
_KZ_MALE = (
    "Нурлан", "Ерлан", "Асхат", "Данияр", "Арман", "Айдар", "Бауыржан", "Ержан",
)
_KZ_PATRONYMICS = (
    "Серикович", "Ерланович", "Асхатович", "Маратович", "Кайратович", "Болатович",
)
# city, region code (first digits of INN), postcode prefix
_RU_CITIES = (
    ("Москва", "77", "1"), ("Санкт-Петербург", "78", "19"), ("Новосибирск", "54", "630"),
    ("Екатеринбург", "66", "620"), ("Казань", "16", "420"), ("Нижний Новгород", "52", "603"),
    ("Краснодар", "23", "350"), ("Самара", "63", "443"), ("Уфа", "02", "450"),
    ("Ростов-на-Дону", "61", "344"), ("Подольск", "50", "142"),
)
_RU_STREETS = (
    "ул. Ленина", "ул. Гагарина", "пр-т Мира", "ул. Садовая", "ул. Советская", "ул. Лесная",
    "ул. Промышленная", "Варшавское ш.", "ул. Профсоюзная", "ул. Заводская",
)
_KZ_CITIES = (
    ("Алматы", "050000"), ("Астана", "010000"), ("Шымкент", "160000"), ("Караганда", "100000"),
    ("Актобе", "030000"), ("Атырау", "060000"),
)
_KZ_STREETS = (
    "пр. Абая", "ул. Толе би", "пр. Назарбаева", "ул. Сатпаева", "пр. Республики", "ул. Жибек Жолы",
)
# name, BIC, correspondent account
_RU_BANKS = (
    ("ПАО Сбербанк", "044525225", "30101810400000000225"),
    ("АО «Альфа-Банк»", "044525593", "30101810200000000593"),
    ("Банк ВТБ (ПАО)", "044525187", "30101810700000000187"),
    ("АО «ТБанк»", "044525974", "30101810145250000974"),
    ("ПАО «Промсвязьбанк»", "044525555", "30101810400000000555"),
    ("АО «Райффайзенбанк»", "044525700", "30101810200000000700"),
)
# name, BIC, IBAN bank code
_KZ_BANKS = (
    ("АО «Kaspi Bank»", "CASPKZKA", "722"),
    ("АО «Народный Банк Казахстана»", "HSBKKZKX", "601"),
    ("АО «Банк ЦентрКредит»", "KCJBKZKX", "856"),
    ("АО «ForteBank»", "IRTYKZKA", "965"),
)
# fmt: on
_FORM_FULL = {
    "ООО": "Общество с ограниченной ответственностью",
    "АО": "Акционерное общество",
    "ПАО": "Публичное акционерное общество",
    "ИП": "Индивидуальный предприниматель",
    "ТОО": "Товарищество с ограниченной ответственностью",
}
_TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        [
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "e",
            "zh",
            "z",
            "i",
            "y",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "kh",
            "ts",
            "ch",
            "sh",
            "shch",
            "",
            "y",
            "",
            "e",
            "yu",
            "ya",
        ],
        strict=True,
    )
)
_MONTHS = (
    "январь",
    "февраль",
    "март",
    "апрель",
    "май",
    "июнь",
    "июль",
    "август",
    "сентябрь",
    "октябрь",
    "ноябрь",
    "декабрь",
)
_SKU_LETTERS = "ABCEHKMOPTX"  # letters with a Cyrillic twin: real SKUs get typed in both
_TO_CYRILLIC = str.maketrans("ABCEHKMOPTX", "АВСЕНКМОРТХ")


def _translit(s: str) -> str:
    return "".join(
        _TRANSLIT.get(ch, ch if ch.isascii() and ch.isalnum() else "") for ch in s.lower()
    )


def _phone_bitrix(p: str) -> str:
    d = p[2:]
    return f"+7 ({d[:3]}) {d[3:6]}-{d[6:8]}-{d[8:]}"


def _phone_salesman(p: str) -> str:
    d = p[2:]
    return f"8 ({d[:3]}) {d[3:6]}-{d[6:8]}-{d[8:]}"


def _phone_apipay(p: str) -> str:
    return "8" + p[2:]


def _dmy(d: date) -> str:
    return d.strftime("%d.%m.%Y")


def _rub_text(cents: int) -> str:
    """'12000-00': how Russian payment orders write an amount."""
    return f"{cents // 100}-{cents % 100:02d}"


class _Faker:
    """Names, phones and registration numbers; all unique where the real ones are."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.tax_ids: set[str] = set()
        self.phones: set[str] = set()
        self.names: set[str] = set()

    # --- registration numbers ---
    def ru_inn(self, individual: bool, region: str) -> str:
        rng = self.rng
        while True:
            head = region + f"{rng.randint(1, 51):02d}"
            if individual:
                body = head + f"{rng.randrange(10**6):06d}"
                inn = body + inn12_check_digits(body)
            else:
                body = head + f"{rng.randrange(10**5):05d}"
                inn = body + inn10_check_digit(body)
            if inn not in self.tax_ids:
                self.tax_ids.add(inn)
                return inn

    def ru_ogrn(self, individual: bool, region: str) -> str:
        rng = self.rng
        year = f"{rng.randint(3, 24):02d}"
        if individual:  # 3 + year + region + 9 digits + check = 15
            body = "3" + year + region + f"{rng.randrange(10**9):09d}"
        else:  # 1 + year + region + 2 (inspection) + 5 + check = 13
            body = "1" + year + region + f"{rng.randint(1, 51):02d}" + f"{rng.randrange(10**5):05d}"
        return body + ogrn_check_digit(body)

    def kz_bin(self, individual: bool) -> str:
        """BIN: YYMM of registration, 4 (resident legal entity), 0 (head office), 5 serial.
        IIN: YYMMDD of birth, century/sex digit, 4 serial. Then the check digit."""
        rng = self.rng
        while True:
            if individual:
                born = date(1965, 1, 1) + timedelta(days=rng.randrange(12000))
                century = "3" if born.year < 2000 else "5"
                body = born.strftime("%y%m%d") + century + f"{rng.randrange(10**4):04d}"
            else:
                body = (
                    f"{rng.randint(5, 24):02d}{rng.randint(1, 12):02d}"
                    + "40"
                    + f"{rng.randrange(10**5):05d}"
                )
            check = kz_check_digit(body)
            if check is None:  # numbers whose check digit would be 10 are never issued
                continue
            value = body + str(check)
            if value not in self.tax_ids:
                self.tax_ids.add(value)
                return value

    def ru_account(self, bic: str, individual: bool) -> str:
        rng = self.rng
        raw = ("40802810" if individual else "40702810") + "0" + f"{rng.randrange(10**11):011d}"
        return raw[:8] + ru_account_key(bic, raw) + raw[9:]

    def kz_iban(self, bank_code: str) -> str:
        bban = bank_code + f"{self.rng.randrange(10**13):013d}"
        return "KZ" + iban_check_digits("KZ", bban) + bban

    # --- contacts ---
    def phone(self, country: str) -> str:
        rng = self.rng
        while True:
            if country == "KZ":
                code = rng.choice(
                    ("700", "701", "702", "705", "707", "747", "771", "775", "777", "778")
                )
            else:
                code = f"9{rng.randint(0, 99):02d}"
            value = f"+7{code}{rng.randrange(10**7):07d}"
            if value not in self.phones:
                self.phones.add(value)
                return value

    def person(self, country: str) -> tuple[str, str, str]:
        rng = self.rng
        if country == "KZ":
            return rng.choice(_KZ_SURNAMES), rng.choice(_KZ_MALE), rng.choice(_KZ_PATRONYMICS)
        surname, patronymic = rng.choice(_RU_SURNAMES), rng.choice(_RU_PATRONYMICS)
        if rng.random() < 0.3:
            return surname + "а", rng.choice(_RU_FEMALE), patronymic[:-2] + "на"
        return surname, rng.choice(_RU_MALE), patronymic

    def core_name(self, country: str) -> str:
        rng = self.rng
        for attempt in range(1000):
            if country == "KZ":
                name = f"{rng.choice(_KZ_PREFIXES)} {rng.choice(_KZ_SUFFIXES)}"
            else:
                r = rng.random()
                if r < 0.35:
                    name = rng.choice(_RU_WORDS)
                elif r < 0.8:
                    name = rng.choice(_RU_PREFIXES) + rng.choice(_RU_SUFFIXES)
                else:
                    name = f"{rng.choice(_RU_PREFIXES)}-{rng.choice(_RU_SUFFIXES).capitalize()}"
            if attempt > 20:
                name += rng.choice(_NAME_TAILS)
            if attempt > 200:
                name += f" {attempt}"
            if name not in self.names:
                self.names.add(name)
                return name
        raise RuntimeError("name space exhausted")  # pragma: no cover

    def address(self, country: str) -> tuple[str, str]:
        """(address, region code) — the region feeds the INN."""
        rng = self.rng
        if country == "KZ":
            city, post = rng.choice(_KZ_CITIES)
            return (
                f"{post}, г. {city}, {rng.choice(_KZ_STREETS)}, д. {rng.randint(1, 250)}, "
                f"офис {rng.randint(1, 90)}",
                "",
            )
        city, region, post = rng.choice(_RU_CITIES)
        postcode = post + "".join(str(rng.randrange(10)) for _ in range(6 - len(post)))
        return (
            f"{postcode}, г. {city}, {rng.choice(_RU_STREETS)}, д. {rng.randint(1, 120)}, "
            f"офис {rng.randint(1, 400)}",
            region,
        )


def _initials(person: tuple[str, str, str], spaced: bool = False) -> str:
    surname, first, patronymic = person
    sep = " " if spaced else ""
    return f"{surname} {first[0]}.{sep}{patronymic[0]}."


def _yo(s: str, rng: random.Random, p: float) -> str:
    """Systems and people disagree on ё: 'Фёдоров' is often typed 'Федоров'."""
    return s.replace("ё", "е").replace("Ё", "Е") if "ё" in s.lower() and rng.random() < p else s


# ---------------------------------------------------------------------------------------------
# Catalog seeds
# ---------------------------------------------------------------------------------------------

# fmt: off
# (name, unit symbol, type, low price, high price) in RUB for RU, KZT for KZ
_RU_GOODS = (
    ("Кирпич красный облицовочный", "шт", "product", 25, 90),
    ("Цемент М500, мешок 50 кг", "шт", "product", 450, 900),
    ("Смесь штукатурная гипсовая", "кг", "product", 18, 60),
    ("Профнастил С8", "м", "product", 350, 900),
    ("Кабель ВВГнг 3х2,5", "м", "product", 90, 250),
    ("Труба ПНД 32 мм", "м", "product", 60, 180),
    ("Краска фасадная белая", "л", "product", 250, 800),
    ("Грунтовка глубокого проникновения", "л", "product", 90, 300),
    ("Саморез кровельный 4,8х35", "упак", "product", 600, 1500),
    ("Утеплитель минвата 50 мм", "упак", "product", 900, 2500),
    ("Плитка керамическая 30х60", "шт", "product", 120, 600),
    ("Светильник светодиодный офисный", "шт", "product", 1500, 6000),
    ("Вентилятор канальный 125 мм", "шт", "product", 3500, 15_000),
    ("Котел газовый настенный", "шт", "product", 35_000, 120_000),
    ("Монтаж вентиляции", "час", "service", 1500, 4000),
    ("Доставка по городу", "усл", "service", 1500, 6000),
    ("Консультация инженера", "час", "service", 2000, 6000),
    ("Проектирование системы отопления", "усл", "service", 15_000, 90_000),
    ("Пусконаладочные работы", "усл", "service", 8000, 45_000),
    ("Техническое обслуживание", "усл", "service", 5000, 30_000),
    ("Разгрузочные работы", "час", "service", 800, 2000),
    ("Аренда спецтехники", "час", "service", 2500, 9000),
)
_KZ_GOODS = (
    ("Кофе в зернах 1 кг", "шт", "product", 6000, 18_000),
    ("Чай черный листовой 250 г", "шт", "product", 1200, 4000),
    ("Сахар-песок", "кг", "product", 400, 700),
    ("Вода питьевая 19 л", "шт", "product", 1200, 2500),
    ("Бумага офисная А4", "упак", "product", 2500, 4500),
    ("Картридж для принтера", "шт", "product", 9000, 35_000),
    ("Стаканы бумажные 250 мл", "упак", "product", 1500, 4000),
    ("Салфетки бумажные", "упак", "product", 500, 1500),
    ("Мед натуральный", "кг", "product", 4000, 9000),
    ("Доставка по Алматы", "усл", "service", 1500, 5000),
    ("Уборка офиса", "час", "service", 3000, 8000),
    ("Обслуживание кофемашины", "усл", "service", 15_000, 60_000),
)
_VARIANTS = (
    "эконом", "стандарт", "премиум", "PRO", "Lite", "серия 2", "оптом",
)
_FAST_SALE_NAMES = (
    "Доставка", "Упаковка", "Услуга курьера", "Сборка заказа", "Подарочный набор",
)

# id, symbol, name, ОКЕИ, fractional
_UNITS = (
    (1, "шт", "Штука", "796", False),
    (2, "час", "Час", "356", True),
    (3, "кг", "Килограмм", "166", True),
    (4, "усл", "Условная единица", "876", False),
    (5, "м", "Метр", "006", True),
    (6, "л", "Литр", "112", True),
    (7, "упак", "Упаковка", "778", False),
)

# key, name, type, kind, owner transfer, group key
_CATEGORIES = (
    ("sales", "Продажи", 1, 1, False, "revenue"),
    ("other_income", "Прочие поступления", 1, 1, False, "other_income"),
    ("interest_income", "Проценты на остаток", 1, 1, False, "other_income"),
    ("loans_in", "Кредиты и займы", 1, 3, False, "finance_in"),
    ("asset_sale", "Продажа оборудования", 1, 2, False, "invest_in"),
    ("owner_in", "Ввод денег", 1, 3, True, "owner_in"),
    ("refunds", "Возвраты покупателям", 2, 1, False, "variable"),
    ("rent", "Аренда", 2, 1, False, "fixed"),
    ("salary", "Зарплата", 2, 1, False, "payroll"),
    ("taxes", "Налоги и пошлины", 2, 1, False, "taxes"),
    ("purchases", "Закупка товаров", 2, 1, False, "variable"),
    ("marketing", "Реклама и маркетинг", 2, 1, False, "variable"),
    ("telecom", "Связь и интернет", 2, 1, False, "fixed"),
    ("bank_fees", "Банковские комиссии", 2, 1, False, "fixed"),
    ("household", "Хозяйственные расходы", 2, 1, False, "fixed"),
    ("equipment", "Покупка оборудования", 2, 2, False, "invest_out"),
    ("loan_repay", "Погашение кредитов", 2, 3, False, "finance_out"),
    ("loan_interest", "Проценты по кредитам", 2, 3, False, "finance_out"),
    ("owner_out", "Вывод денег", 2, 3, True, "owner_out"),
)
_CATEGORY_GROUPS = (
    ("revenue", "Выручка", 1),
    ("other_income", "Прочие доходы", 1),
    ("finance_in", "Финансовые поступления", 1),
    ("invest_in", "Инвестиционные поступления", 1),
    ("owner_in", "Ввод денег", 1),
    ("fixed", "Постоянные расходы", 2),
    ("payroll", "Фонд оплаты труда", 2),
    ("taxes", "Налоги", 2),
    ("variable", "Переменные расходы", 2),
    ("invest_out", "Инвестиции", 2),
    ("finance_out", "Обслуживание долга", 2),
    ("owner_out", "Вывод денег", 2),
)

# Random ledger movements: category key, weight, low / high amount in main currency units,
# contractor pool, description templates ({n} number, {d} date, {month} month name).
_RANDOM_SPECS = (
    ("purchases", 34, 5000, 400_000, "supplier", (
        "Оплата за товар по счету № {n} от {d}", "Оплата по счету {n} за материалы",
        "Закупка товара по договору поставки", "Предоплата поставщику по счету № {n}",
    )),
    ("marketing", 8, 3000, 150_000, "supplier", (
        "Оплата рекламы в Яндекс Директ", "Размещение рекламы по договору № {n}",
        "Услуги SMM за {month}", "Оплата по счету № {n} за рекламные услуги",
    )),
    ("household", 14, 300, 15_000, "supplier?", (
        "Канцтовары", "Вода и чай в офис", "Хозтовары", "Ремонт оргтехники",
        "Оплата курьерской доставки",
    )),
    ("telecom", 5, 1000, 20_000, "telecom", (
        "Услуги связи за {month}", "Интернет и телефония, счет № {n}",
    )),
    ("bank_fees", 12, 50, 3000, None, (
        "Комиссия за платежное поручение", "Комиссия банка за перевод",
        "Плата за SMS-информирование", "Комиссия за обслуживание по тарифу",
    )),
    ("taxes", 4, 1000, 80_000, None, (
        "Государственная пошлина", "Пени по налогу", "Транспортный налог за {month}",
    )),
    ("equipment", 2, 30_000, 600_000, "supplier", (
        "Покупка ноутбуков по счету № {n}", "Оплата оборудования по договору № {n}",
        "Приобретение оргтехники",
    )),
    ("salary", 6, 10_000, 120_000, None, (
        "Премия сотрудникам за {month}", "Оплата больничного", "Отпускные",
    )),
    ("refunds", 2, 1000, 60_000, "customer", (
        "Возврат денежных средств покупателю по претензии", "Возврат предоплаты по письму № {n}",
    )),
    ("other_income", 3, 1000, 50_000, "customer?", (
        "Возврат от поставщика по счету № {n}", "Возмещение страховой компании",
        "Прочие поступления",
    )),
    ("interest_income", 2, 500, 20_000, None, (
        "Проценты на остаток по счету за {month}", "Начисленные проценты по депозиту",
    )),
)
_UNMATCHED_TEXTS = (
    "Оплата по договору поставки № {n}/2025 от {d}", "Аванс за поставку по договору № {n}",
    "Поступление от покупателя без указания счета", "Оплата за услуги, без НДС",
    "Перевод от клиента по договору № {n}",
)
_DEAL_TITLES = (
    "Поставка стройматериалов", "Монтаж вентиляции", "Сервисный контракт", "Проектирование",
    "Поставка оборудования", "Пусконаладка", "Годовое обслуживание",
)
_REFUND_REASONS = (
    "Возврат товара", "Отказ клиента", "Ошибка в заказе", "Брак", "Частичная поставка",
)

# fmt: on
REF_MONTHLY_SALES = {"RUR": 1_500_000_00, "KZT": 600_000_00}  # cents; scales the fixed costs


# ---------------------------------------------------------------------------------------------
# The world
# ---------------------------------------------------------------------------------------------


class World:
    """The synthetic business. Build it, read its tables, `advance()` its clock, ask `truth`."""

    def __init__(self, size: WorldSize | None = None) -> None:
        self.size = size or WorldSize()
        self.seed = self.size.seed
        self.history_start = HISTORY_START
        self.now = INITIAL_NOW
        self._rng = random.Random(self.size.seed)
        self._fake = _Faker(self._rng)
        self.steps = 0  # how many advance() calls so far

        # Reference (Adesk) and truth tables
        self.legal_entities: dict[int, LegalEntity] = {}
        self.bank_accounts: dict[int, BankAccount] = {}
        self.category_groups: dict[int, CategoryGroup] = {}
        self.categories: dict[int, Category] = {}
        self.project_categories: dict[int, ProjectCategory] = {}
        self.projects: dict[int, Project] = {}
        self.tags: dict[int, Tag] = {}
        self.units: dict[int, Unit] = {}
        self.counterparties: dict[str, Counterparty] = {}
        self.products: dict[str, Product] = {}
        # Bitrix24
        self.bitrix_companies: dict[int, BitrixCompany] = {}
        self.bitrix_requisites: dict[int, BitrixRequisite] = {}
        self.bitrix_products: dict[int, BitrixProduct] = {}
        self.bitrix_invoices: dict[int, BitrixInvoice] = {}
        # SalesMan
        self.salesman_clients: dict[int, SalesmanClient] = {}
        self.salesman_invoices: dict[int, SalesmanInvoice] = {}
        # Adesk
        self.adesk_contractors: dict[int, AdeskContractor] = {}
        self.adesk_contractor_requisites: dict[int, AdeskContractorRequisite] = {}
        self.adesk_products: dict[int, AdeskProduct] = {}
        self.adesk_transactions: dict[int, AdeskTransaction] = {}
        self.adesk_transfers: dict[int, AdeskTransfer] = {}
        self.adesk_commitments: dict[int, AdeskCommitment] = {}
        # ApiPay
        self.apipay_nomenclature: dict[int, ApipayNomenclature] = {}
        self.apipay_invoices: dict[int, ApipayInvoice] = {}
        self.apipay_refunds: dict[int, ApipayRefund] = {}

        self.deleted: dict[tuple[str, str], dict[int, Deleted]] = {key: {} for key in ENTITIES}

        # Truth indexes
        self._cp_index: dict[tuple[str, str, int], str] = {}
        self._cp_by_apipay_phone: dict[str, str] = {}
        self._product_index: dict[tuple[str, int], str] = {}
        self._invoice_payment: dict[tuple[str, int], int] = {}  # paid invoice -> txn id
        self._txn_invoice: dict[int, tuple[str, int]] = {}
        self._refund_payment: dict[int, int] = {}  # refund id -> txn id
        self._txn_refund: dict[int, int] = {}
        self._bitrix_catalog: list[int] = []  # live Bitrix catalog ids (RU products)
        self._kz_nomenclature: list[int] = []
        # Movements waiting for ids (ids follow creation time, so they are assigned in batches)
        self._pending: list[AdeskTransaction] = []
        self._pending_invoice_links: list[tuple[tuple[str, int], AdeskTransaction]] = []
        self._pending_refund_links: list[tuple[int, AdeskTransaction]] = []
        self._pending_transfers: list[tuple[AdeskTransfer, AdeskTransaction, AdeskTransaction]] = []
        self._deliberate_unmatched: list[AdeskTransaction] = []
        self.deliberate_unmatched_incoming: frozenset[int] = frozenset()
        self._cp_person: dict[str, tuple[str, str, str]] = {}
        self._weights: dict[str, float] = {}
        self._refunds_by_invoice: dict[int, list[int]] = {}
        self._expense_factor: dict[str, float] = {"RUR": 1.0, "KZT": 1.0}
        # The period being simulated: all of history while building, then each advance() step.
        self._period_start = datetime.combine(HISTORY_START, time(0), MSK)
        self._period_weeks = 1.0

        # Id sequences (each system numbers its own records; ranges differ so a join on the
        # wrong id fails loudly instead of silently matching).
        self._seq: dict[str, int] = {
            "bitrix_company": 1,
            "bitrix_requisite": 1,
            "bitrix_product": 101,
            "bitrix_invoice": 11,
            "bitrix_row": 1001,
            "bitrix_account_number": 1,
            "bitrix_deal": 1001,
            "salesman_client": 1401,
            "salesman_invoice": 601,
            "salesman_number": 101,
            "salesman_deal": 601,
            "adesk_contractor": 1201,
            "adesk_requisite": 1801,
            "adesk_product": 1101,
            "adesk_transaction": 5001,
            "adesk_transfer": 11,
            "adesk_commitment": 61,
            "apipay_invoice": 101,
            "apipay_refund": 1,
            "apipay_nomenclature": 12001,
            "apipay_history": 67001,
            "apipay_order": 1001,
        }

        self._build()

    # -----------------------------------------------------------------------------------------
    # Public helpers
    # -----------------------------------------------------------------------------------------

    def table(self, source: str, entity: str) -> dict[Any, Any]:
        """The live table of (source, entity), e.g. table("adesk", "transactions")."""
        return getattr(self, ENTITIES[(source, entity)])

    def today(self) -> date:
        """The ledger's current date (Moscow)."""
        return self.now.astimezone(MSK).date()

    def currency_of_account(self, account_id: int) -> str:
        return self.bank_accounts[account_id].currency

    def counterparty_of(self, source: str, entity: str, record_id: int) -> str | None:
        """The real company behind a source record (live or deleted), or None if unknown."""
        key = self._cp_index.get((source, entity, record_id))
        if key is not None:
            return key
        if source == "bitrix24" and entity == "invoices":
            inv = self._record(source, entity, record_id)
            if inv is not None and inv.company_id is not None:
                return self._cp_index.get(("bitrix24", "companies", inv.company_id))
        elif source == "salesman" and entity == "invoices":
            inv = self._record(source, entity, record_id)
            if inv is not None:
                return self._cp_index.get(("salesman", "clients", inv.clid))
        elif source == "apipay" and entity == "invoices":
            inv = self._record(source, entity, record_id)
            if inv is not None:
                return self._cp_by_apipay_phone.get(inv.phone_number)
        elif source == "apipay" and entity == "refunds":
            ref = self._record(source, entity, record_id)
            if ref is not None:
                return self.counterparty_of("apipay", "invoices", ref.invoice_id)
        elif source == "adesk" and entity in ("transactions", "commitments"):
            rec = self._record(source, entity, record_id)
            if rec is None:
                return None
            if rec.contractor_id is not None:
                return self._cp_index.get(("adesk", "contractors", rec.contractor_id))
            if entity == "transactions":
                inv_key = self._txn_invoice.get(record_id)
                if inv_key is not None:
                    return self.counterparty_of(inv_key[0], "invoices", inv_key[1])
                refund_id = self._txn_refund.get(record_id)
                if refund_id is not None:
                    return self.counterparty_of("apipay", "refunds", refund_id)
        return None

    def product_of(self, source: str, record_id: int) -> str | None:
        """The truth product behind a catalog id: Bitrix catalog product id, Adesk product id or
        ApiPay NomenclatureId. None for free-text lines (Bitrix 0, ApiPay FAST_SALE -2)."""
        return self._product_index.get((source, record_id))

    def category_id(self, key: str) -> int:
        """Adesk category id by its stable key: "sales", "refunds", "rent", "salary", "taxes",
        "purchases", "owner_in", "owner_out", "loans_in", ... (see _CATEGORIES)."""
        return self._cat[key]

    def payment_of_refund(self, refund_id: int) -> int | None:
        """The Adesk outcome movement id paying back an ApiPay refund."""
        return self._refund_payment.get(refund_id)

    def invoice_of_transaction(self, transaction_id: int) -> tuple[str, int] | None:
        """(source, invoice id) that an income movement pays, if any (truth, not in Adesk)."""
        return self._txn_invoice.get(transaction_id)

    def payment_of_invoice(self, source: str, invoice_id: int) -> int | None:
        """The Adesk movement id recording this invoice's payment, if one was ever made."""
        return self._invoice_payment.get((source, invoice_id))

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

    def digest(self) -> str:
        """A stable fingerprint of every table (for determinism checks; slow on big worlds)."""
        h = hashlib.sha256()
        h.update(repr(self.now).encode())
        for key, attr in ENTITIES.items():
            h.update(repr(key).encode())
            for record in getattr(self, attr).values():
                h.update(repr(record).encode())
        for cp in self.counterparties.values():
            h.update(repr(cp).encode())
        for product in self.products.values():
            h.update(repr(product).encode())
        return h.hexdigest()

    @property
    def truth(self) -> Truth:
        return self._compute_truth()

    # -----------------------------------------------------------------------------------------
    # Build
    # -----------------------------------------------------------------------------------------

    def _build(self) -> None:
        size = self.size
        self._build_reference()
        for _ in range(size.counterparties):
            self._new_counterparty(initial=True)
        self._ensure_customer_pools()
        for i in range(size.products):
            self._new_product(i)
        self._build_projects()
        start = datetime.combine(HISTORY_START, time(0), MSK)
        self._generate_bitrix_invoices(size.bitrix_invoices, start, self.now)
        self._generate_salesman_invoices(size.salesman_invoices, start, self.now)
        self._generate_apipay_invoices(size.apipay_invoices, start, self.now, recent=True)
        self._generate_unmatched_incomes(start, self.now)
        self._generate_ledger_extras()
        self._commit_pending(None)
        self._generate_commitments(size.commitments)
        self._settle_created_times()
        self._recompute_balances()

    def _next(self, seq: str, gap: float = 0.0) -> int:
        value = self._seq[seq]
        step = 1
        if gap and self._rng.random() < gap:
            step += self._rng.randint(1, 3)  # ids burnt by records deleted before our history
        self._seq[seq] = value + step
        return value

    def _record(self, source: str, entity: str, record_id: int) -> Any:
        rec = self.table(source, entity).get(record_id)
        if rec is None:
            gone = self.deleted[(source, entity)].get(record_id)
            rec = gone.record if gone is not None else None
        return rec

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
        sber, alfa, tbank = _RU_BANKS[0], _RU_BANKS[1], _RU_BANKS[3]
        kaspi, halyk = _KZ_BANKS[0], _KZ_BANKS[1]
        specs = (  # id, name, bank, type, opening balance (cents), legal entity
            (21, "Основной счет", sber, "Bank", 2_450_000_00, 11),
            (22, "Расчетный счет ТБанк", tbank, "Bank", 380_000_00, 11),
            (23, "Счет в Альфа-Банке", alfa, "Bank", 150_000_00, 11),
            (24, "Касса офиса", None, "Cash", 45_000_00, 11),
            (25, "Kaspi Pay", kaspi, "Bank", 1_200_000_00, 12),
            (26, "Halyk основной", halyk, "Bank", 5_600_000_00, 12),
        )
        for acc_id, name, bank, kind, opening_cents, le_id in specs:
            le = self.legal_entities[le_id]
            if bank is None:
                bank_name, code, number = "", None, None
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
                currency=le.currency,
                type=kind,
                status="open",
                initial_amount=_m(opening_cents),
                initial_amount_date=opening,
                created=created + timedelta(minutes=7 * acc_id),
                legal_entity_id=le_id,
                amount=_m(opening_cents),
            )
        self._acc = {
            "ru_main": 21,
            "ru_tbank": 22,
            "ru_alfa": 23,
            "ru_cash": 24,
            "kz_kaspi": 25,
            "kz_halyk": 26,
        }
        # The Alfa account is closed mid-history; its balance is swept to the main account.
        self._closed_on: dict[int, date] = {23: date(2025, 10, 31)}

        group_ids: dict[str, int] = {}
        for i, (key, name, gtype) in enumerate(_CATEGORY_GROUPS):
            gid = 41 + i
            group_ids[key] = gid
            self.category_groups[gid] = CategoryGroup(id=gid, name=name, type=gtype)
        self._cat: dict[str, int] = {}
        for i, (key, name, ctype, kind, owner, group) in enumerate(_CATEGORIES):
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
        for uid, symbol, name, code, fractional in _UNITS:
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
                plan_income=_m(rng.randint(5, 60) * 100_000_00),
                plan_outcome=_m(rng.randint(2, 30) * 100_000_00),
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
        full = f"{_FORM_FULL[form]} {core}" if individual else f"{_FORM_FULL[form]} «{core}»"
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
            bank = rng.choice(_RU_BANKS)
            bank_name, bank_code = bank[0], bank[1]
            bank_account = fake.ru_account(bank_code, individual)
        else:
            kz_bank = rng.choice(_KZ_BANKS)
            bank_name, bank_code = kz_bank[0], kz_bank[1]
            bank_account = fake.kz_iban(kz_bank[2])
        slug = _translit(person[0] if individual else core) or "client"
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
            title = f"ИП {' '.join(person)}" if rng.random() < 0.6 else f"ИП {_initials(person)}"
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
        return _yo(title, rng, 0.2)

    def _add_bitrix_company(self, cp: Counterparty, when: datetime, primary: bool) -> BitrixCompany:
        rng = self._rng
        cid = self._next("bitrix_company", gap=0.05)
        company = BitrixCompany(
            id=cid,
            title=self._bitrix_title(cp, not primary),
            company_type="CUSTOMER" if cp.is_customer else "SUPPLIER",
            phone=_phone_bitrix(cp.phone) if rng.random() < 0.85 else None,
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
                    f"ИП {_initials(person, spaced=True)}",
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
        return _yo(name, rng, 0.3)

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
            title=_yo(title, rng, 0.2),
            phone=_phone_salesman(cp.phone) if rng.random() < 0.6 else None,
            email=cp.email if rng.random() < 0.5 else None,
            date_create=when.astimezone(MSK).replace(tzinfo=None),
        )
        cp.salesman_client_ids.append(clid)
        self._cp_index[("salesman", "clients", clid)] = cp.key

    def _add_apipay_payer(self, cp: Counterparty) -> None:
        phones = [_phone_apipay(cp.phone)]
        if self._rng.random() < 0.05:  # pays from an employee's personal phone
            phones.append(_phone_apipay(self._fake.phone(cp.country)))
        for phone in phones:
            cp.apipay_phones.append(phone)
            self._cp_by_apipay_phone[phone] = cp.key

    # --- products ---

    def _new_product(self, index: int) -> None:
        rng = self._rng
        country = "RU" if rng.random() < 0.7 else "KZ"
        seeds = _RU_GOODS if country == "RU" else _KZ_GOODS
        base = seeds[index % len(seeds)] if index < 2 * len(seeds) else rng.choice(seeds)
        name, unit_symbol, ptype, low, high = base
        taken = {p.name for p in self.products.values()}
        while name in taken:
            name = f"{base[0]} {rng.choice(_VARIANTS)}"
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
            sku = f"{rng.choice(_SKU_LETTERS)}{rng.choice(_SKU_LETTERS)}-{rng.randrange(10**6):06d}"
        product = Product(
            key=key,
            sku=sku,
            name=name,
            unit_id=unit_id,
            price=_m(price_cents),
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
                adesk_sku = sku.replace("-", "").translate(_TO_CYRILLIC)
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
                initial_price=_m(price_cents * 6 // 10) if goods else None,
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

    # -----------------------------------------------------------------------------------------
    # Time helpers
    # -----------------------------------------------------------------------------------------

    def _moments(self, n: int, lo: datetime, hi: datetime, tz: timezone) -> list[datetime]:
        """n sorted business-hours moments in (lo, hi], in time zone tz."""
        rng = self._rng
        first = lo.astimezone(tz).date()
        span = (hi.astimezone(tz).date() - first).days
        total = max(1, int((hi - lo).total_seconds()))
        out = []
        for _ in range(n):
            d = first + timedelta(days=rng.randint(0, span))
            t = datetime(d.year, d.month, d.day, 9, tzinfo=tz) + timedelta(
                seconds=rng.randrange(36000)
            )
            if t <= lo or t > hi:
                t = lo + timedelta(seconds=rng.randint(1, total))
            out.append(t.astimezone(tz))
        out.sort()
        return out

    def _delay(self, mean_days: float, cap_days: int = 90) -> timedelta:
        seconds = min(self._rng.expovariate(1 / mean_days), cap_days) * 86400
        return timedelta(seconds=int(seconds) + 300)

    def _between(self, lo: datetime, hi: datetime) -> datetime:
        total = int((hi - lo).total_seconds())
        return lo + timedelta(seconds=self._rng.randint(1, max(1, total)))

    # -----------------------------------------------------------------------------------------
    # Invoices: Bitrix24
    # -----------------------------------------------------------------------------------------

    def _customer_pool(self, source: str) -> tuple[list[Any], list[float]]:
        """Ids of live customer records in a system and cumulative weights (a few customers
        buy much more than the rest)."""
        pool: list[Any] = []
        weights: list[float] = []
        for cp in self.counterparties.values():
            if not cp.is_customer:
                continue
            w = self._cp_weight(cp.key)
            if source == "bitrix24":
                ids = [i for i in cp.bitrix_company_ids if i in self.bitrix_companies]
                for j, cid in enumerate(ids):
                    pool.append(cid)
                    weights.append(w if j == 0 else w * 0.1)
            elif source == "salesman":
                for clid in cp.salesman_client_ids:
                    if clid in self.salesman_clients:
                        pool.append(clid)
                        weights.append(w)
            elif source == "apipay":
                for j, phone in enumerate(cp.apipay_phones):
                    pool.append(phone)
                    weights.append(w if j == 0 else w * 0.2)
        return pool, list(accumulate(weights))

    def _cp_weight(self, key: str) -> float:
        weight = self._weights.get(key)
        if weight is None:
            weight = self._weights[key] = min(self._rng.paretovariate(1.3), 25.0)
        return weight

    def _pick(self, pool: list[Any], cum: list[float]) -> Any:
        return pool[bisect(cum, self._rng.random() * cum[-1])]

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
            name, brutto, rate = bp.name, _cents(bp.price), bp.vat_rate
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
            price = brutto - _rdiv(brutto * disc_pct, 100)
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
        netto = _rdiv(brutto * 100, 100 + rate)
        exclusive = _rdiv(price * 100, 100 + rate)
        discount_sum = netto - exclusive
        if disc_type == 2:
            discount_rate = Decimal(disc_pct)
        else:
            discount_rate = (
                (Decimal(discount_sum * 100) / Decimal(netto)).quantize(_CENT, ROUND_HALF_UP)
                if netto
                else _ZERO
            )
        tax = _rdiv(line * rate, 100 + rate)
        row = BitrixProductRow(
            id=self._next("bitrix_row"),
            owner_id=inv_id,
            product_id=pid,
            product_name=name,
            price=_m(price),
            price_exclusive=_m(exclusive),
            price_netto=_m(netto),
            price_brutto=_m(brutto),
            quantity=quantity,
            discount_type_id=disc_type,
            discount_rate=discount_rate,
            discount_sum=_m(discount_sum),
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
            tax = _rdiv(total * 20, 120)
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
            title = f"{rng.choice(_DEAL_TITLES)} — {company.title}"
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
            opportunity=_m(total),
            tax_value=_m(tax),
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
            fate = "P" if r < 0.7 else "D" if r < 0.82 else "N" if r < 0.87 else "S"
            if fate == "N":
                return None
            sent = inv.created_time + timedelta(minutes=rng.randint(5, 240))
            if sent > horizon:
                return None
            self._set_bitrix_stage(inv, STAGE_SENT, sent)
            if fate in ("P", "D"):
                when = sent + self._delay(7 if fate == "P" else 12)
                if when <= horizon:
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
        d = _dmy(inv.begindate)
        cents = _cents(inv.opportunity)
        vat = _cents(inv.tax_value)
        text = rng.choice(
            (
                f"Оплата по счету № {number} от {d}",
                f"Оплата по счету № {number} от {d}. Сумма {_rub_text(cents)}, в т.ч. НДС "
                f"{_rub_text(vat)}",
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

    # -----------------------------------------------------------------------------------------
    # Invoices: SalesMan
    # -----------------------------------------------------------------------------------------

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
        nds = _rdiv(cents * 20, 120) if rng.random() < 0.7 else 0
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
            summa=_m(cents),
            nds=_m(nds),
            clid=clid,
            client=client.title,
            did=self._next("salesman_deal", gap=0.3),
            deal=f"{rng.choice(_DEAL_TITLES)} ({client.title.split(',')[0]})",
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
            if rng.random() >= 0.72:
                return []
            when = created_at + self._delay(6)
            if when > horizon:
                return []
        else:
            lo = max(created_at, self._period_start)
            if lo >= horizon or rng.random() >= 0.25 * self._period_weeks:
                return []
            when = self._between(lo, horizon)
        extra: list[int] = []
        if inv.part == 1 and rng.random() < 0.06:
            # Partial payment: SalesMan keeps the paid part on this record and adds a record
            # with the same number for the remainder.
            total = _cents(inv.summa)
            paid_cents = max(100, total * rng.randint(30, 80) // 100 // 1000_00 * 1000_00)
            if paid_cents < total:
                nds_total = _cents(inv.nds)
                paid_nds = _rdiv(nds_total * paid_cents, total) if total else 0
                local = when.astimezone(MSK).replace(tzinfo=None)
                rest = SalesmanInvoice(
                    id=self._next("salesman_invoice"),
                    invoice=inv.invoice,
                    date_create=inv.date_create,
                    date_plan=local.date() + timedelta(days=10),
                    date_fact=None,
                    summa=_m(total - paid_cents),
                    nds=_m(nds_total - paid_nds),
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
                inv.summa, inv.nds = _m(paid_cents), _m(paid_nds)
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
        n, d = inv.invoice, _dmy(inv.date_create.date())
        text = rng.choice(
            (
                f"Оплата счета {n}",
                f"Оплата по счету №{n} от {d}",
                f"Оплата по счету {n} от {d} г. НДС не облагается",
                f"Предоплата по сч. {n}",
                f"Оплата по счету № {n} от {d}, в т.ч. НДС {_rub_text(_cents(inv.nds))}",
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

    # -----------------------------------------------------------------------------------------
    # Invoices: ApiPay
    # -----------------------------------------------------------------------------------------

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
                            name=rng.choice(_FAST_SALE_NAMES),
                            price=_m(rng.randint(5, 300) * 100_00),
                            count=1,
                            nomenclature_id=-2,
                            type="FAST_SALE",
                            unit_id=1,
                            nomenclature_history_id=None,
                        )
                    )
            amount = sum((it.price * it.count for it in items), _ZERO)
        else:
            cents = rng.randint(200, 50_000) * 10_00
            if rng.random() < 0.05:
                cents += 50
            amount = _m(cents)
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
                total = _cents(inv.amount)
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
                                (when, inv, part, rng.choice(_REFUND_REASONS), False),
                                (later, inv, total - part, rng.choice(_REFUND_REASONS), True),
                            ]
                    return [
                        (
                            when,
                            inv,
                            total - self._refunded_cents(inv),
                            rng.choice(_REFUND_REASONS),
                            True,
                        )
                    ]
                left = total - self._refunded_cents(inv)
                part = max(1, left * rng.randint(10, 60) // 100 // 1000 * 1000)
                if part < left:
                    return [(when, inv, part, rng.choice(_REFUND_REASONS), False)]
        return []

    def _refunded_cents(self, inv: ApipayInvoice) -> int:
        ids = self._refunds_by_invoice.get(inv.id, ())
        return sum(_cents(self.apipay_refunds[r].amount) for r in ids if r in self.apipay_refunds)

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
            left = _cents(inv.amount) - self._refunded_cents(inv)
            cents = left if final else min(cents, left - 1)
            if cents <= 0:
                continue
            refund = ApipayRefund(
                id=self._next("apipay_refund"),
                invoice_id=inv.id,
                amount=_m(cents),
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

    # -----------------------------------------------------------------------------------------
    # Ledger
    # -----------------------------------------------------------------------------------------

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
            text = rng.choice(_UNMATCHED_TEXTS).format(n=rng.randint(1, 300), d=_dmy(d))
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
                _m(cents),
                self._contractor_of(cp.key) if cp else None,
                text,
            )
            self._deliberate_unmatched.append(txn)

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
                sales[self.bank_accounts[t.bank_account_id].currency] += _cents(t.amount)
        k = {c: max(sales[c] / len(months) / REF_MONTHLY_SALES[c], 0.05) for c in sales}
        pools = self._supplier_pools()
        fixed: list[tuple[date, str, int, str, int, int | None, str]] = []

        def scaled(currency: str, cents: int) -> int:
            return max(100, int(cents * k[currency]))

        rent = {"RUR": rng.randint(12, 20) * 10_000_00, "KZT": rng.randint(10, 16) * 10_000_00}
        for y, m in months:
            month = f"{_MONTHS[m - 1]} {y}"
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
                    f"Выплата заработной платы за {_MONTHS[(m - 2) % 12]}",
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
                    f"Заработная плата за {_MONTHS[(m - 2) % 12]}",
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
                _m(cents),
                contractor,
                text,
                tags=(3,) if not income and rng.random() < 0.1 else (),
            )

        # Random movements: spend what sales leave over (85% of sales in total).
        specs = _RANDOM_SPECS
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
                    month = month_names[(d.year, d.month)] = f"{_MONTHS[d.month - 1]} {d.year}"
                text = text.format(
                    n=randint(10, 9999), d=f"{d.day:02d}.{d.month:02d}.{d.year}", month=month
                )
            project = None
            if random_() < 0.25:
                plist = projects_kz if kz else projects_ru
                if plist:
                    project = plist[randrange(len(plist))]
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
                )
            )

    def _transfer(
        self,
        source: int,
        target: int,
        cents: int,
        d: date,
        text: str,
        created: datetime | None = None,
    ) -> AdeskTransfer:
        if self.bank_accounts[source].currency != self.bank_accounts[target].currency:
            raise AssertionError("transfers between currencies are not modelled")
        created = created or self._created_for(d)
        amount = _m(cents)
        out = self._txn(d, 2, source, None, amount, None, text, created=created, transfer=True)
        inc = self._txn(d, 1, target, None, amount, None, text, created=created, transfer=True)
        tr = AdeskTransfer(
            id=self._next("adesk_transfer"),
            from_account_id=source,
            to_account_id=target,
            amount=amount,
            amount_to=amount,
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
        net = {acc_id: _cents(a.initial_amount) for acc_id, a in self.bank_accounts.items()}
        cash_flows: dict[tuple[int, int], list[int]] = {}
        for t in self._pending:
            if t.is_planned:
                continue
            value = _cents(t.amount)
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
        balance = _cents(self.bank_accounts[cash].initial_amount)
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
                amount=_m(cents),
                vat=_m(_rdiv(cents * vat_percent, 100 + vat_percent)),
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
        cents = {acc_id: _cents(acc.initial_amount) for acc_id, acc in self.bank_accounts.items()}
        for txn in self.adesk_transactions.values():
            if txn.is_planned or txn.date > today:
                continue
            value = _cents(txn.amount)
            cents[txn.bank_account_id] += value if txn.type == 1 else -value
        return {acc_id: _m(c) for acc_id, c in cents.items()}

    # -----------------------------------------------------------------------------------------
    # Truth
    # -----------------------------------------------------------------------------------------

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
            add("bitrix24", inv.stage_id, inv.opportunity)
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
        income = {"RUR": 0, "KZT": 0}
        outcome = {"RUR": 0, "KZT": 0}
        balances = {acc_id: _cents(a.initial_amount) for acc_id, a in self.bank_accounts.items()}
        planned = actual = 0
        unmatched: list[int] = []
        for txn in live_txns.values():
            if txn.is_planned:
                planned += 1
                continue
            actual += 1
            if txn.date > today:
                continue
            value = _cents(txn.amount)
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
            (r.amount for r in self.apipay_refunds.values() if r.status == "completed"), _ZERO
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
            balances={acc_id: _m(c) for acc_id, c in balances.items()},
            income_total={c: _m(v) for c, v in income.items()},
            outcome_total={c: _m(v) for c, v in outcome.items()},
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

    # -----------------------------------------------------------------------------------------
    # Advancing the clock
    # -----------------------------------------------------------------------------------------

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
        specs = _RANDOM_SPECS
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
        balances = {acc_id: _cents(amount) for acc_id, amount in self._balances().items()}
        for t in self._pending:
            if not t.is_planned:
                value = _cents(t.amount)
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
                inv.tax_value += _m(_rdiv(_cents(row.price) * row.tax_rate, 100 + row.tax_rate))
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
                old = _cents(sinv.summa)
                new = max(1000_00, old + rng.choice((-1, 1)) * rng.randint(1, 20) * 1000_00)
                sinv.nds = _m(_rdiv(_cents(sinv.nds) * new, old)) if old else _ZERO
                sinv.summa = _m(new)
            sinv.date_update = max(sinv.date_update, moment().astimezone(MSK).replace(tzinfo=None))
            log.add("updated", "salesman", "invoices", sid)
        editable = self._plain_transactions(limit=400)
        for tid in sample(editable, 0.01, minimum=2):
            txn = self.adesk_transactions[tid]
            if rng.random() < 0.5:
                txn.description = f"{txn.description} (уточнено)"
            else:
                txn.amount = _m(_cents(txn.amount) + rng.randint(1, 50) * 100)
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
