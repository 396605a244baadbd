"""The Adesk emulator: auth, routing, errors, and rendering of records."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from finance_sandbox.adesk.drift import drift
from finance_sandbox.adesk.endpoints import ReferenceEndpoints
from finance_sandbox.adesk.protocol import (
    AUTH_REQUIRED,
    LIST_DEFAULT_LENGTH,
    LIST_MAX_LENGTH,
    PAYMENT_REQUIRED,
    TOO_MANY_REQUESTS,
    BadParams,
    NotFound,
)
from finance_sandbox.adesk.transactions import (
    LedgerIndex,
    TransactionEndpoints,
    TransactionRenderer,
)
from finance_sandbox.adesk.values import format_dmy, int_param, money, money2, phone
from finance_sandbox.core import (
    SANDBOX_CREDENTIALS,
    Emulator,
    SandboxRequest,
    SandboxResponse,
    ServerRateLimit,
)


class AdeskEmulator(TransactionEndpoints, ReferenceEndpoints, Emulator):
    source: ClassVar[str] = "adesk"
    # Adesk publishes no numbers; 10 requests/s with a burst of 30 per account (the client's
    # default of 5/s with a burst of 10 stays below it).
    default_rate_limit: ClassVar[ServerRateLimit] = ServerRateLimit(rate=10.0, burst=30)

    def __init__(self, world: Any, sandbox: Any) -> None:
        super().__init__(world, sandbox)
        self.token = SANDBOX_CREDENTIALS["adesk"]["api_token"]
        self._lock = threading.Lock()
        self._ledger: LedgerIndex | None = None
        self._requisites_by_contractor: tuple[tuple[int, ...], dict[int, list[int]]] | None = None
        self._project_totals: tuple[tuple[int, ...], dict[int, tuple[Decimal, Decimal]]] | None = (
            None
        )
        self._routes: list[tuple[str, tuple[str, ...], Callable[..., SandboxResponse]]] = [
            ("GET", ("v1", "transactions"), self._transactions),
            ("GET", ("v1", "transactions", "categories"), self._categories),
            ("GET", ("v1", "transaction", "*"), self._transaction),
            ("GET", ("v1", "projects"), self._projects),
            ("GET", ("v1", "projects", "categories"), self._project_categories),
            ("GET", ("v1", "bank-accounts"), self._bank_accounts),
            ("GET", ("v1", "bank-account", "*"), self._bank_account),
            ("GET", ("v1", "legal-entities"), self._legal_entities),
            ("GET", ("v1", "legal-entity", "*"), self._legal_entity),
            ("GET", ("v1", "contractors"), self._contractors),
            ("GET", ("v1", "contractor", "*"), self._contractor),
            ("GET", ("v1", "contractor", "*", "requisites"), self._contractor_requisites),
            ("GET", ("v1", "contractor", "*", "commitments"), self._contractor_commitments),
            ("POST", ("v1", "commitments"), self._commitments),
            ("GET", ("v1", "warehouse", "products"), self._products),
            ("GET", ("v1", "warehouse", "units"), self._units),
            ("GET", ("v1", "tags"), self._tags),
            ("GET", ("v1", "tag", "*"), self._tag),
            ("GET", ("v2", "custom-report-groups"), self._custom_report_groups),
        ]

    # --- Emulator interface ---------------------------------------------------------------------

    def _token_of(self, request: SandboxRequest) -> str | None:
        token = request.param("api_token")
        if not token and request.path.startswith("/v2/"):
            token = request.headers.get("x-api-token")
        return token or None

    def account_of(self, request: SandboxRequest) -> str | None:
        token = self._token_of(request)
        return token if token == self.token else None

    def throttled(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json(TOO_MANY_REQUESTS, status=429)

    def server_error(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json(
            {"success": False, "message": "Internal server error", "code": 500}, status=500
        )

    def error_answer(self, request: SandboxRequest, status: int) -> SandboxResponse:
        """Persistent faults (FaultPlan.always): 401 auth, 402 payment, 21 payment on HTTP 200."""
        if status == 401:
            return SandboxResponse.json(AUTH_REQUIRED, status=401)
        if status == 402:
            return SandboxResponse.json(PAYMENT_REQUIRED, status=402)
        if status == 21:
            return SandboxResponse.json(PAYMENT_REQUIRED, status=200)
        if status == 404:
            return SandboxResponse.json({"success": False, "message": "Not found"}, status=404)
        return SandboxResponse.json(
            {"success": False, "message": f"HTTP {status}", "code": status}, status=status
        )

    def cost_seconds(self, request: SandboxRequest) -> float:
        # Rendering dominates: about 10 microseconds a row on a list page.
        if request.path.rstrip("/").endswith("/transactions"):
            raw = request.param("length")
            rows = int(raw) if raw and raw.isdigit() else LIST_DEFAULT_LENGTH
            return 0.001 + 0.00001 * min(rows, LIST_MAX_LENGTH)
        return 0.001

    def invalidate(self) -> None:
        """Drop the indexes (for tests that edit world records in place)."""
        with self._lock:
            self._ledger = None
            self._requisites_by_contractor = None
            self._project_totals = None

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        parts = tuple(p for p in request.path.split("/") if p)
        if not parts or parts[0] not in ("v1", "v2"):
            return self._not_found("Not found")
        if self._token_of(request) != self.token:
            return SandboxResponse.json(AUTH_REQUIRED, status=401)
        allowed: list[str] = []
        for method, pattern, handler in self._routes:
            if len(pattern) != len(parts):
                continue
            if not all(p == "*" or p == q for p, q in zip(pattern, parts, strict=True)):
                continue
            if method != request.method:
                allowed.append(method)
                continue
            args = [q for p, q in zip(pattern, parts, strict=True) if p == "*"]
            try:
                return handler(request, *args)
            except BadParams as exc:
                return SandboxResponse.json(
                    {
                        "success": False,
                        "message": exc.message,
                        "errors": {exc.param: [exc.message]},
                    },
                    status=400,
                )
            except NotFound as exc:
                return self._not_found(str(exc))
        if allowed:
            return SandboxResponse.json(
                {"success": False, "message": "Method not allowed"},
                status=405,
                headers={"allow": ", ".join(allowed)},
            )
        return self._not_found("Not found")

    # --- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _not_found(message: str) -> SandboxResponse:
        return SandboxResponse.json({"success": False, "message": message}, status=404)

    def _drifting(self) -> bool:
        return self.sandbox.fault_plan("adesk").drift

    def _out(self, kind: str, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        if self._drifting():
            return [drift(kind, r) for r in records]
        return list(records)

    def _list_answer(self, key: str, rows: list[dict[str, Any]], total: int) -> SandboxResponse:
        return SandboxResponse.json(
            {"success": True, "recordsTotal": len(rows), "recordsFiltered": total, key: rows}
        )

    @staticmethod
    def _record_id(raw: str, what: str) -> int:
        try:
            return int(raw)
        except ValueError:
            raise NotFound(f"{what} не найден(а)") from None

    def _paging(self, request: SandboxRequest) -> tuple[int, int]:
        start = int_param(request.param("start"), "start", 0, 0, None)
        length = int_param(
            request.param("length"), "length", LIST_DEFAULT_LENGTH, 1, LIST_MAX_LENGTH
        )
        # The docs name no maximum for `length`: a server may silently answer fewer rows
        # (ServerVariant.page_cap, issue 12's "at most 100 rows a page").
        cap = self.sandbox.variant(self.source).page_cap
        return start, min(length, cap) if cap else length

    # --- rendering --------------------------------------------------------------------------------

    def _legal_entity_ref(self, le_id: int | None) -> dict[str, Any] | None:
        le = self.world.legal_entities.get(le_id) if le_id is not None else None
        return {"id": le.id, "name": le.name} if le else None

    def _contractor_ref(self, cid: int | None) -> dict[str, Any] | None:
        c = self.world.adesk_contractors.get(cid) if cid is not None else None
        return {"id": c.id, "name": c.name} if c else None

    def group_of(self, group_id: int) -> dict[str, Any] | None:
        g = self.world.category_groups.get(group_id)
        return {"id": g.id, "name": g.name, "type": g.type} if g else None

    def _date_formatted(self, d: date) -> str:
        today = self.world.today()
        if d == today:
            return "Сегодня"
        if d == today - timedelta(days=1):
            return "Вчера"
        if d == today + timedelta(days=1):
            return "Завтра"
        return format_dmy(d) or ""

    def _render_transaction(self, t: Any) -> dict[str, Any]:
        return TransactionRenderer(self).render(t)

    def _render_category(self, c: Any, full_group: bool) -> dict[str, Any]:
        return {
            "id": c.id,
            "name": c.name,
            "type": c.type,
            "kind": c.kind,
            "isOwnerTransfer": c.is_owner_transfer,
            "isSystem": c.is_system,
            "group": self.group_of(c.group_id) if full_group else c.group_id,
            "isArchived": c.is_archived,
        }

    def _manager_id(self, name: str) -> int:
        return 300 + zlib.crc32(name.encode()) % 700

    def _render_project(self, p: Any, totals: dict[int, tuple[Decimal, Decimal]]) -> dict[str, Any]:
        income, outcome = totals.get(p.id, (Decimal(0), Decimal(0)))
        gross = income - outcome
        profitability = int((gross * 100 / income).to_integral_value()) if income else 0
        pc = self.world.project_categories.get(p.category_id) if p.category_id is not None else None
        return {
            "id": p.id,
            "type": p.type,
            "name": p.name,
            "description": p.description,
            "created": format_dmy(p.created),
            "income": money2(income),
            "outcome": money2(outcome),
            "grossProfit": money2(gross),
            "profitability": profitability,
            "isArchived": p.is_archived,
            "planIncome": money2(p.plan_income),
            "planOutcome": money2(p.plan_outcome),
            "category": {"id": pc.id, "name": pc.name} if pc else None,
            "manager": {"id": self._manager_id(p.manager_name), "name": p.manager_name}
            if p.manager_name
            else None,
            "deal_contractor": self._contractor_ref(p.deal_contractor_id),
            "deal_legal_entity": self._legal_entity_ref(p.deal_legal_entity_id),
        }

    def _render_bank_account(self, a: Any) -> dict[str, Any]:
        return {
            "id": a.id,
            "number": a.number or "",
            "name": a.name,
            "bankName": a.bank_name or "",
            "bankCode": a.bank_code or "",
            "created": a.created.strftime("%d.%m.%Y %H:%M"),
            "currency": a.currency,
            "type": a.type,
            "status": a.status,
            "initialAmountDate": format_dmy(a.initial_amount_date),
            "initialAmount": money(a.initial_amount),
            "amount": money(a.amount),
            "legalEntity": self._legal_entity_ref(a.legal_entity_id),
        }

    def _render_legal_entity(self, le: Any) -> dict[str, Any]:
        return {
            "id": le.id,
            "name": le.name,
            "fullName": le.full_name,
            "inn": le.inn,
            "kpp": le.kpp,
            "address": le.address,
            "phoneNumber": phone(le.phone),
            "registrationNumber": le.registration_number,
            "vat_rates": [],
        }

    def _contractor_balances(self) -> dict[int, Decimal]:
        balances: dict[int, Decimal] = {}
        for c in self.world.adesk_commitments.values():
            sign = 1 if c.type == 1 else -1
            balances[c.contractor_id] = balances.get(c.contractor_id, Decimal(0)) + sign * c.amount
        return balances

    def _render_contractor(self, k: Any, balances: dict[int, Decimal]) -> dict[str, Any]:
        return {
            "id": k.id,
            "name": k.name,
            "contactPerson": k.contact_person,
            "phoneNumber": phone(k.phone),
            "email": k.email,
            "balance": float(balances.get(k.id, Decimal(0))),
        }

    def _render_requisite(self, r: Any) -> dict[str, Any]:
        return {
            "id": r.id,
            "name": r.name,
            "inn": r.inn,
            "kpp": r.kpp,
            "correspondentAccount": r.correspondent_account,
            "bankName": r.bank_name,
            "bankAccountNumber": r.bank_account_number,
            "bankCode": r.bank_code,
            "address": r.address,
            "phoneNumber": phone(r.phone),
            "email": r.email,
            "website": r.website,
        }

    def _render_commitment(self, c: Any) -> dict[str, Any]:
        w = self.world
        le = w.legal_entities.get(c.legal_entity_id)
        contractor = w.adesk_contractors.get(c.contractor_id)
        txn = w.adesk_transactions.get(c.transaction_id) if c.transaction_id else None
        return {
            "id": c.id,
            "amount": money(c.amount),
            "vat": float(c.vat),
            "vatPercent": c.vat_percent,
            "description": c.description,
            "date": format_dmy(c.date),
            "dateFormatted": self._date_formatted(c.date),
            "legalEntity": self._render_legal_entity(le) if le else None,
            "contractor": {
                "id": contractor.id,
                "name": contractor.name,
                "contactPerson": contractor.contact_person,
                "phoneNumber": phone(contractor.phone),
                "email": contractor.email,
            }
            if contractor
            else None,
            "project": c.project_id,
            "type": c.type,
            "currency": c.currency,
            "transaction": {
                "id": txn.id,
                "amount": money(txn.amount),
                "date": format_dmy(txn.date),
                "type": txn.type,
                "isPlanned": txn.is_planned,
            }
            if txn
            else None,
            "isShipment": False,
            "shipment": None,
        }

    def _render_unit(self, u: Any) -> dict[str, Any]:
        return {
            "id": u.id,
            "symbol": u.symbol,
            "name": u.name,
            "code": u.code,
            "fractional": u.fractional,
        }

    def _render_product(self, p: Any) -> dict[str, Any]:
        w = self.world
        unit = w.units.get(p.unit_id)
        batch = None
        if p.initial_date is not None:
            le = w.legal_entities.get(p.legal_entity_id)
            batch = {
                "date": p.initial_date.isoformat(),
                "quantity": int(p.initial_quantity)
                if p.initial_quantity == p.initial_quantity.to_integral_value()
                else float(p.initial_quantity),
                "price": float(p.initial_price) if p.initial_price is not None else None,
                "currency": p.currency,
                "legalEntity": self._render_legal_entity(le) if le else None,
            }
        return {
            "id": p.id,
            "type": p.type,
            "name": p.name,
            "sku": p.sku,
            "description": p.description,
            "unit": self._render_unit(unit) if unit else None,
            "initialBatch": batch,
        }
