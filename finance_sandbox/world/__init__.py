"""One deterministic synthetic business behind the four API emulators.

A company group (a Russian ООО invoicing in RUB, a Kazakh ТОО taking KZT through ApiPay.kz)
issues invoices in Bitrix24 (smart invoices), SalesMan CRM and ApiPay, and keeps its cash ledger
in Adesk. This package is the *truth*: normalised Python records (Decimal money, date/datetime),
one table per (source, entity). The emulators only render these records into each API's native
JSON, so everything an API shows must already be here, including the mess that makes the
pipeline's job hard: the same company named differently in every system, duplicate CRM cards,
payments described by hand, paid invoices nobody recorded, deletions.

Everything comes from one `random.Random(seed)`; nothing reads the clock. Iteration order never
depends on `set`/`str` hashing, so a seed gives the same world in every process.

Sources are named "bitrix24", "salesman", "adesk", "apipay"; tables are listed in `ENTITIES`.

Modules, one per concern: `records` (record types, constants, sizes), `names` (names, phones, tax
ids, texts), `reference` (legal entities, accounts, categories, counterparties, products), one
`<system>_invoicing` per invoicing system, `ledger` and `ledger_costs` (Adesk), `truth`,
`evolution` (`advance()`), and `business` (the `World` that composes them).
"""

from __future__ import annotations

from finance_sandbox.world.business import (
    World,
)
from finance_sandbox.world.evolution import (
    ChangeLog,
    Deleted,
)
from finance_sandbox.world.records import (
    ALMATY,
    APIPAY_LIFETIME,
    APIPAY_PAID_STATUSES,
    APIPAY_STATUSES,
    APIPAY_TRANSITIONS,
    BITRIX_ENTITY_TYPE_ID,
    BITRIX_STAGES,
    ENTITIES,
    HISTORY_START,
    INITIAL_NOW,
    MSK,
    SALESMAN_TIPS,
    SOURCES,
    STAGE_DECLINED,
    STAGE_NEW,
    STAGE_PAID,
    STAGE_SENT,
    AdeskCommitment,
    AdeskContractor,
    AdeskContractorRequisite,
    AdeskProduct,
    AdeskTransaction,
    AdeskTransfer,
    ApipayCartItem,
    ApipayInvoice,
    ApipayNomenclature,
    ApipayRefund,
    BankAccount,
    BitrixCompany,
    BitrixInvoice,
    BitrixProduct,
    BitrixProductRow,
    BitrixRequisite,
    Category,
    CategoryGroup,
    Counterparty,
    LegalEntity,
    Product,
    Project,
    ProjectCategory,
    SalesmanClient,
    SalesmanInvoice,
    Tag,
    Unit,
    WorldSize,
)
from finance_sandbox.world.truth import (
    InvoiceStat,
    PaidInvoice,
    Truth,
)

__all__ = [
    "ALMATY",
    "APIPAY_LIFETIME",
    "APIPAY_PAID_STATUSES",
    "APIPAY_STATUSES",
    "APIPAY_TRANSITIONS",
    "BITRIX_ENTITY_TYPE_ID",
    "BITRIX_STAGES",
    "ENTITIES",
    "HISTORY_START",
    "INITIAL_NOW",
    "MSK",
    "SALESMAN_TIPS",
    "SOURCES",
    "STAGE_DECLINED",
    "STAGE_NEW",
    "STAGE_PAID",
    "STAGE_SENT",
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
