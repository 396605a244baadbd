"""The world's record types and constants: one dataclass per (source, entity) row, normalised
(Decimal money, date/datetime), plus the sizes a world is built to and integer-cents money helpers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

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

ZERO = Decimal("0.00")
CENT = Decimal("0.01")


def money(cents: int) -> Decimal:
    """Integer cents -> Decimal with exactly two places (all money is built this way)."""
    return Decimal(cents).scaleb(-2)


def to_cents(amount: Decimal) -> int:
    return int(amount.scaleb(2))


def round_div(a: int, b: int) -> int:
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
    currency: str  # "RUR" | "KZT" | "USD" (a Russian company's currency account)
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
    # "Направление бизнеса" (adesk-api.md, operation object l.1103 `business_unit`; v2 l.1260
    # `businessUnit`): a project category id. Only on outcomes, never with a project (l.1686).
    business_unit_id: int | None = None


@dataclass(slots=True)
class AdeskTransfer:
    """A move between two own accounts: two transactions (outcome + income). `amount` leaves
    the sender account in its currency (adesk-api.md l.951), `amount_to` arrives on the receiver
    account in its currency (create parameter, l.982): they differ when the currencies do."""

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
