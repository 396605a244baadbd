"""The synthetic business: `World` builds it from one seed and answers questions about it.

`World` is composed of parts, one per concern (reference data, each system's invoicing, the
ledger, its running costs, truth, evolution); this module holds its state, its public lookups, the
build order and the random helpers they share.
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect
from datetime import date, datetime, time, timedelta, timezone
from itertools import accumulate
from typing import Any

from finance_sandbox.world.apipay_invoicing import ApipayInvoicing
from finance_sandbox.world.behaviour import sales_days
from finance_sandbox.world.bitrix24_invoicing import Bitrix24Invoicing
from finance_sandbox.world.evolution import Deleted, Evolution
from finance_sandbox.world.ledger import Ledger
from finance_sandbox.world.ledger_costs import LedgerCosts
from finance_sandbox.world.names import Faker
from finance_sandbox.world.records import (
    ENTITIES,
    HISTORY_START,
    INITIAL_NOW,
    MSK,
    AdeskCommitment,
    AdeskContractor,
    AdeskContractorRequisite,
    AdeskProduct,
    AdeskTransaction,
    AdeskTransfer,
    ApipayInvoice,
    ApipayNomenclature,
    ApipayRefund,
    BankAccount,
    BitrixCompany,
    BitrixInvoice,
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
    SalesmanInvoice,
    Tag,
    Unit,
    WorldSize,
)
from finance_sandbox.world.reference import ReferenceData
from finance_sandbox.world.salesman_invoicing import SalesmanInvoicing
from finance_sandbox.world.truth import WorldTruth


class World(
    ReferenceData,
    Bitrix24Invoicing,
    SalesmanInvoicing,
    ApipayInvoicing,
    Ledger,
    LedgerCosts,
    WorldTruth,
    Evolution,
):
    """The synthetic business. Build it, read its tables, `advance()` its clock, ask `truth`."""

    def __init__(self, size: WorldSize | None = None) -> None:
        self.size = size or WorldSize()
        self.seed = self.size.seed
        self.history_start = HISTORY_START
        self.now = INITIAL_NOW
        self._rng = random.Random(self.size.seed)
        self._fake = Faker(self._rng)
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
        "purchases", "owner_in", "owner_out", "loans_in", ... (see names.CATEGORIES)."""
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

    # -----------------------------------------------------------------------------------------
    # Time helpers
    # -----------------------------------------------------------------------------------------

    def _moments(self, n: int, lo: datetime, hi: datetime, tz: timezone) -> list[datetime]:
        """n sorted business-hours moments in (lo, hi], in time zone tz, on days drawn by the
        season and the day of the week (behaviour.sales_days)."""
        rng = self._rng
        first = lo.astimezone(tz).date()
        span = (hi.astimezone(tz).date() - first).days
        total = max(1, int((hi - lo).total_seconds()))
        out = []
        for d in sales_days(rng, first, span, n):
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
    # Customers (shared by the three invoicing systems)
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
