"""The Adesk API (v1, plus v2 authentication) over the synthetic World.

What the sandbox answers, and the choices it makes where the docs (adesk-api.md) are silent:

Authentication. v1 takes the token only as the `api_token` query parameter; v2 also takes it in
the `X-API-Token` header (the docs: "on v2 the token can be given in the X-API-Token header
instead of the query"). A missing or wrong token answers the documented body
`{"message": "Auth required", "code": 401, "success": false}` with HTTP 401.

Subscription and rate limit. The documented bodies, with these HTTP statuses (the docs give the
bodies only): `{"message": "Payment required", "code": 21, "success": false}` with HTTP 402, and
`{"message": "Too many requests", "code": 429, "success": false}` with HTTP 429 and no
Retry-After (none is documented). A persistent fault `FaultPlan(always={path: 21})` answers the
payment body with HTTP 200, as a gateway that only speaks in bodies would: clients must read the
body's `code`, not the status.

Bad parameters. Answered like Adesk's validation errors: HTTP 400 with
`{"success": false, "message": "...", "errors": {"<param>": ["..."]}}`. That covers a `length`
above LIST_MAX_LENGTH (the docs give no maximum; the sandbox allows 1000), a `length` below 1, a
negative `start`, unknown `status`/`type`/`range`/`date_type` values, `range=custom` without both
dates, and dates not in the YYYY-MM-DD form. Unknown paths answer 404, a GET on the POST-only
commitments list 405, an unknown id on a per-record endpoint 404, always with
`{"success": false, "message": ...}`.

Lists. `recordsTotal` and `recordsFiltered` follow the docs' own definitions, which are the
reverse of DataTables': recordsTotal is "the number of records filtered for the current page"
(the rows in this answer) and recordsFiltered is "the total number of records available by the
filter" (what paging needs). Only the endpoints whose docs list `start`/`length` page
(transactions, projects, bank accounts); without `length` they answer LIST_DEFAULT_LENGTH rows.
Every other list answers all its records at once and ignores paging parameters.

Transactions. Newest first: `date` descending, then id descending (`relatedDate` with
date_type=accrual). Filters as documented: `status` (completed | planned | all; default
*completed* - the docs name no default, the web app lists actual movements, and a client must
ask for planned ones explicitly), `type` (all (default, includes transfers) | income | outcome |
transfers; income/outcome exclude transfer legs), `range` (all_time default, this_/prev_
month/quarter/year relative to the world's today, custom with range_start/range_end inclusive),
`date_type` (cashier = `date`, default; accrual = `relatedDate`), plus bank_account,
legal_entity, category, contractor, project, owner_transfer, taxes. A transfer between own
accounts is listed as its two legs (an outcome on the source account and an income on the
target one, both `isTransfer: true`, no category), as Adesk shows them. Money is a string
("67", "13450.14"), dates `dd.mm.yyyy`, `dateIso` as in the docs' example (`yyyy.mm.dd`).
The running balances of the docs' example (`bankAccountAmount`, `bankAccount.amount`) are left
out: the nested account has the shape of the documented webhook object instead, and current
balances come from /v1/bank-accounts. Paging costs O(log n + page): the ledger is indexed once
per world version (sorted day ordinals and ids in compact arrays, bisected by date) and only the
requested slice is rendered.

Projects: `status` defaults to *active* (documented), so archived ones need status=all.
"""

from __future__ import annotations

import threading
import zlib
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from finance_sandbox.core import (
    SANDBOX_CREDENTIALS,
    Emulator,
    SandboxRequest,
    SandboxResponse,
    ServerRateLimit,
)

LIST_MAX_LENGTH = 1000
LIST_DEFAULT_LENGTH = 50

AUTH_REQUIRED = {"message": "Auth required", "code": 401, "success": False}
PAYMENT_REQUIRED = {"message": "Payment required", "code": 21, "success": False}
TOO_MANY_REQUESTS = {"message": "Too many requests", "code": 429, "success": False}

_RANGES = (
    "all_time",
    "this_month",
    "this_quarter",
    "this_year",
    "prev_month",
    "prev_quarter",
    "prev_year",
    "custom",
)
_TXN_STATUSES = ("completed", "planned", "all")
_TXN_TYPES = ("all", "income", "outcome", "transfers")
_DATE_TYPES = ("cashier", "accrual")
_TAXES_CATEGORY = "Налоги и пошлины"


class BadParams(Exception):
    """A request parameter Adesk would refuse (answered 400 with `errors`)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


class _NotFound(Exception):
    pass


# --- formatting helpers ---------------------------------------------------------------------


def _money(value: Decimal | None) -> str | None:
    """Adesk's money strings: "67", "13450.14" (no trailing .00 for whole amounts)."""
    if value is None:
        return None
    text = f"{value:.2f}"
    return text[:-3] if text.endswith(".00") else text


def _money2(value: Decimal) -> str:
    """Project totals are shown with two decimals ("60000.00")."""
    return f"{value:.2f}"


def _dmy(d: date | None) -> str | None:
    return d.strftime("%d.%m.%Y") if d is not None else None


def _phone(p: str | None) -> str | None:
    """'+79993422243' -> '+7 999 342 22 43' (the docs' spelling)."""
    if not p or len(p) != 12 or not p.startswith("+7"):
        return p
    d = p[2:]
    return f"+7 {d[:3]} {d[3:6]} {d[6:8]} {d[8:]}"


def _parse_iso_date(param: str, value: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise BadParams(param, "Неверный формат даты, ожидается YYYY-MM-DD") from None


def _quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def _month_end(d: date) -> date:
    nxt = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def _range_bounds(params: Callable[[str], str | None], today: date) -> tuple[date, date] | None:
    """The inclusive [first, last] day a `range` parameter selects; None for all_time."""
    rng = params("range") or "all_time"
    if rng not in _RANGES:
        raise BadParams("range", f"Недопустимое значение параметра range: {rng}")
    if rng == "all_time":
        return None
    if rng == "custom":
        start, end = params("range_start"), params("range_end")
        if not start or not end:
            missing = "range_start" if not start else "range_end"
            raise BadParams(missing, "Обязательное поле при range=custom.")
        first = _parse_iso_date("range_start", start)
        last = _parse_iso_date("range_end", end)
        return first, last
    if rng == "this_month":
        return today.replace(day=1), _month_end(today)
    if rng == "prev_month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if rng == "this_quarter":
        first = _quarter_start(today)
        return first, _month_end(date(first.year, first.month + 2, 1))
    if rng == "prev_quarter":
        last = _quarter_start(today) - timedelta(days=1)
        return _quarter_start(last), last
    if rng == "this_year":
        return date(today.year, 1, 1), date(today.year, 12, 31)
    return date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)  # prev_year


def _int_param(value: str | None, name: str, default: int, lo: int, hi: int | None) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadParams(name, f"Параметр {name} должен быть целым числом") from None
    if number < lo:
        raise BadParams(name, f"Параметр {name} не может быть меньше {lo}")
    if hi is not None and number > hi:
        raise BadParams(name, f"Параметр {name} не может быть больше {hi}")
    return number


# --- drift (FaultPlan.drift): the API evolving under the pipeline -----------------------------

# Per entity: (optional field that may disappear, field whose number may arrive as a string,
# field that may turn null). Ids and required fields are never touched.
_DRIFT_FIELDS: dict[str, tuple[str, str, str]] = {
    "transaction": ("dateFormatted", "type", "description"),
    "category": ("isSystem", "kind", "group"),
    "project": ("planIncome", "profitability", "description"),
    "project_category": ("name", "id", "name"),
    "bank_account": ("initialAmountDate", "amount", "bankName"),
    "legal_entity": ("vat_rates", "id", "kpp"),
    "contractor": ("balance", "balance", "email"),
    "requisite": ("website", "id", "kpp"),
    "commitment": ("dateFormatted", "vatPercent", "description"),
    "product": ("description", "type", "sku"),
    "unit": ("fractional", "id", "code"),
    "tag": ("color", "id", "color"),
}


def _drift(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """A changed API: an unknown field appears, an optional one goes, a number becomes a
    string, a value becomes null. Which of these hit a record is stable per record id."""
    optional, numeric, nullable = _DRIFT_FIELDS[kind]
    roll = zlib.crc32(f"{kind}:{record.get('id')}".encode()) % 4
    out = dict(record)
    out["externalId"] = None if roll % 2 else f"ext-{record.get('id')}"  # unknown new field
    if roll == 0 and optional in out and optional != "id":
        del out[optional]
    if roll == 1 and numeric != "id" and isinstance(out.get(numeric), (int, float)):
        out[numeric] = str(out[numeric])
    if roll == 2 and nullable != "id" and nullable in out:
        out[nullable] = None
    return out


# --- the ledger index --------------------------------------------------------------------------


class _LedgerIndex:
    """Sorted views of the transactions for O(log n + page) list answers.

    `views[(status, type, date_type)]` = (day ordinals ascending, ids in the same order); the
    API answers newest first, so a page is read backwards from the end of the date window.
    Built lazily per combination and dropped when the world changes (`version`).
    """

    def __init__(self, version: tuple[int, ...]) -> None:
        self.version = version
        self.views: dict[tuple[str, str, str], tuple[array, array]] = {}


def _status_ok(status: str, planned: bool) -> bool:
    return status == "all" or (status == "planned") == planned


def _type_ok(ttype: str, record_type: int, transfer: bool) -> bool:
    if ttype == "all":
        return True
    if ttype == "transfers":
        return transfer
    return not transfer and record_type == (1 if ttype == "income" else 2)


class _TransactionRenderer:
    """Renders the movements of one answer: nested objects and date strings are built once per
    answer and shared by its rows (a page of 1000 rows has a handful of accounts and days)."""

    def __init__(self, emulator: AdeskEmulator) -> None:
        self.em = emulator
        self.world = emulator.world
        self.today = emulator.world.today()
        self._days: dict[date, tuple[str, str, str]] = {}
        self._accounts: dict[int, dict[str, Any] | None] = {}
        self._categories: dict[int, dict[str, Any] | None] = {}
        self._contractors: dict[int, dict[str, Any] | None] = {}
        self._projects: dict[int, dict[str, Any] | None] = {}
        self._tags: dict[tuple[int, ...], list[dict[str, Any]]] = {}

    def _day(self, d: date) -> tuple[str, str, str]:
        """(dd.mm.yyyy, yyyy.mm.dd, dateFormatted)."""
        cached = self._days.get(d)
        if cached is None:
            dmy = f"{d.day:02d}.{d.month:02d}.{d.year:04d}"
            delta = (d - self.today).days
            formatted = {0: "Сегодня", -1: "Вчера", 1: "Завтра"}.get(delta, dmy)
            cached = self._days[d] = (dmy, f"{d.year:04d}.{d.month:02d}.{d.day:02d}", formatted)
        return cached

    def _account(self, acc_id: int) -> dict[str, Any] | None:
        if acc_id not in self._accounts:
            w = self.world
            acc = w.bank_accounts.get(acc_id)
            rendered = None
            if acc is not None:
                le = w.legal_entities.get(acc.legal_entity_id)
                rendered = {
                    "id": acc.id,
                    "type": 1 if acc.type == "Cash" else 2,
                    "name": acc.name,
                    "bankCode": acc.bank_code or "",
                    "bankName": acc.bank_name or "",
                    "number": acc.number or "",
                    "correspondentAccount": "",
                    "currency": acc.currency,
                    "legalEntity": {"id": le.id, "name": le.name} if le else None,
                }
            self._accounts[acc_id] = rendered
        return self._accounts[acc_id]

    def _category(self, cat_id: int) -> dict[str, Any] | None:
        if cat_id not in self._categories:
            c = self.world.categories.get(cat_id)
            self._categories[cat_id] = (
                {
                    "kind": c.kind,
                    "isOwnerTransfer": c.is_owner_transfer,
                    "name": c.name,
                    "isSystem": c.is_system,
                    "type": c.type,
                    "id": c.id,
                    "group": self.em._group_of(c.group_id),
                }
                if c is not None
                else None
            )
        return self._categories[cat_id]

    def _contractor(self, cid: int) -> dict[str, Any] | None:
        if cid not in self._contractors:
            k = self.world.adesk_contractors.get(cid)
            self._contractors[cid] = (
                {
                    "id": k.id,
                    "name": k.name,
                    "contactPerson": k.contact_person or "",
                    "phoneNumber": _phone(k.phone) or "",
                    "email": k.email or "",
                }
                if k is not None
                else None
            )
        return self._contractors[cid]

    def _project(self, pid: int) -> dict[str, Any] | None:
        if pid not in self._projects:
            w = self.world
            p = w.projects.get(pid)
            rendered = None
            if p is not None:
                pc = w.project_categories.get(p.category_id) if p.category_id is not None else None
                rendered = {
                    "id": p.id,
                    "name": p.name,
                    "isFinished": p.is_archived,
                    "category": {"id": pc.id, "name": pc.name} if pc else None,
                }
            self._projects[pid] = rendered
        return self._projects[pid]

    def _tag_list(self, tag_ids: tuple[int, ...]) -> list[dict[str, Any]]:
        if tag_ids not in self._tags:
            tags = self.world.tags
            self._tags[tag_ids] = [
                {"id": tag.id, "name": tag.name, "color": tag.color}
                for tag in (tags.get(tid) for tid in tag_ids)
                if tag is not None
            ]
        return self._tags[tag_ids]

    def render(self, t: Any) -> dict[str, Any]:
        dmy, iso, formatted = self._day(t.date)
        related = dmy if t.related_date == t.date else self._day(t.related_date)[0]
        return {
            "id": t.id,
            "isSplitted": False,
            "splitId": None,
            "amount": _money(t.amount),
            "date": dmy,
            "dateIso": iso,
            "type": t.type,
            "description": t.description,
            "dateFormatted": formatted,
            "relatedDate": related,
            "confirmAccrual": True,
            "isPlanned": t.is_planned,
            "isReadyToBeConfirmed": t.is_planned and t.date <= self.today,
            "isPeriodic": False,
            "periodicChain": None,
            "period": None,
            "isCommitment": t.is_commitment,
            "isTransfer": t.is_transfer,
            "bankAccount": self._account(t.bank_account_id),
            "category": self._category(t.category_id) if t.category_id is not None else None,
            "contractor": self._contractor(t.contractor_id)
            if t.contractor_id is not None
            else None,
            "project": self._project(t.project_id) if t.project_id is not None else None,
            "business_unit": None,
            "tags": self._tag_list(t.tag_ids) if t.tag_ids else [],
        }


class AdeskEmulator(Emulator):
    source: ClassVar[str] = "adesk"
    # Adesk publishes no numbers; 10 requests/s with a burst of 30 per account (the client's
    # default of 5/s with a burst of 10 stays below it).
    default_rate_limit: ClassVar[ServerRateLimit] = ServerRateLimit(rate=10.0, burst=30)

    def __init__(self, world: Any, sandbox: Any) -> None:
        super().__init__(world, sandbox)
        self.token = SANDBOX_CREDENTIALS["adesk"]["api_token"]
        self._lock = threading.Lock()
        self._ledger: _LedgerIndex | None = None
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
            except _NotFound as exc:
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
            return [_drift(kind, r) for r in records]
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
            raise _NotFound(f"{what} не найден(а)") from None

    def _paging(self, request: SandboxRequest) -> tuple[int, int]:
        start = _int_param(request.param("start"), "start", 0, 0, None)
        length = _int_param(
            request.param("length"), "length", LIST_DEFAULT_LENGTH, 1, LIST_MAX_LENGTH
        )
        return start, length

    # --- rendering --------------------------------------------------------------------------------

    def _legal_entity_ref(self, le_id: int | None) -> dict[str, Any] | None:
        le = self.world.legal_entities.get(le_id) if le_id is not None else None
        return {"id": le.id, "name": le.name} if le else None

    def _contractor_ref(self, cid: int | None) -> dict[str, Any] | None:
        c = self.world.adesk_contractors.get(cid) if cid is not None else None
        return {"id": c.id, "name": c.name} if c else None

    def _group_of(self, group_id: int) -> dict[str, Any] | None:
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
        return _dmy(d) or ""

    def _render_transaction(self, t: Any) -> dict[str, Any]:
        return _TransactionRenderer(self).render(t)

    def _render_category(self, c: Any, full_group: bool) -> dict[str, Any]:
        return {
            "id": c.id,
            "name": c.name,
            "type": c.type,
            "kind": c.kind,
            "isOwnerTransfer": c.is_owner_transfer,
            "isSystem": c.is_system,
            "group": self._group_of(c.group_id) if full_group else c.group_id,
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
            "created": _dmy(p.created),
            "income": _money2(income),
            "outcome": _money2(outcome),
            "grossProfit": _money2(gross),
            "profitability": profitability,
            "isArchived": p.is_archived,
            "planIncome": _money2(p.plan_income),
            "planOutcome": _money2(p.plan_outcome),
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
            "initialAmountDate": _dmy(a.initial_amount_date),
            "initialAmount": _money(a.initial_amount),
            "amount": _money(a.amount),
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
            "phoneNumber": _phone(le.phone),
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
            "phoneNumber": _phone(k.phone),
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
            "phoneNumber": _phone(r.phone),
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
            "amount": _money(c.amount),
            "vat": float(c.vat),
            "vatPercent": c.vat_percent,
            "description": c.description,
            "date": _dmy(c.date),
            "dateFormatted": self._date_formatted(c.date),
            "legalEntity": self._render_legal_entity(le) if le else None,
            "contractor": {
                "id": contractor.id,
                "name": contractor.name,
                "contactPerson": contractor.contact_person,
                "phoneNumber": _phone(contractor.phone),
                "email": contractor.email,
            }
            if contractor
            else None,
            "project": c.project_id,
            "type": c.type,
            "currency": c.currency,
            "transaction": {
                "id": txn.id,
                "amount": _money(txn.amount),
                "date": _dmy(txn.date),
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

    # --- transactions -----------------------------------------------------------------------------

    def _ledger_version(self) -> tuple[int, ...]:
        w = self.world
        return (w.steps, len(w.adesk_transactions), id(w.adesk_transactions))

    def _view(self, status: str, ttype: str, date_type: str) -> tuple[array, array]:
        version = self._ledger_version()
        with self._lock:
            ledger = self._ledger
            if ledger is None or ledger.version != version:
                ledger = self._ledger = _LedgerIndex(version)
            key = (status, ttype, date_type)
            view = ledger.views.get(key)
            if view is not None:
                return view
            base_key = ("all", "all", date_type)
            base = ledger.views.get(base_key)
            txns = self.world.adesk_transactions
            if base is None:
                attr = "date" if date_type == "cashier" else "related_date"
                keys = sorted((getattr(t, attr).toordinal() << 32) | tid for tid, t in txns.items())
                base = (
                    array("i", (k >> 32 for k in keys)),
                    array("q", (k & 0xFFFFFFFF for k in keys)),
                )
                ledger.views[base_key] = base
                del keys
            if key == base_key:
                return base
            ords, ids = array("i"), array("q")
            for day, tid in zip(base[0], base[1], strict=True):
                t = txns[tid]
                if _status_ok(status, t.is_planned) and _type_ok(ttype, t.type, t.is_transfer):
                    ords.append(day)
                    ids.append(tid)
            ledger.views[key] = (ords, ids)
            return ords, ids

    def _transaction_filter(self, request: SandboxRequest) -> Callable[[Any], bool] | None:
        """The documented filters other than status/type/range (applied by scanning)."""
        w = self.world
        checks: list[Callable[[Any], bool]] = []
        bank_account = request.param("bank_account")
        legal_entity = request.param("legal_entity")
        if bank_account:
            acc_id = _int_param(bank_account, "bank_account", 0, 0, None)
            checks.append(lambda t: t.bank_account_id == acc_id)
        elif legal_entity:
            le_id = _int_param(legal_entity, "legal_entity", 0, 0, None)
            accounts = {a.id for a in w.bank_accounts.values() if a.legal_entity_id == le_id}
            checks.append(lambda t: t.bank_account_id in accounts)
        category = request.param("category")
        if category and category != "all":
            if category == "no_category":
                checks.append(lambda t: t.category_id is None)
            else:
                cat_id = _int_param(category, "category", 0, 0, None)
                checks.append(lambda t: t.category_id == cat_id)
        contractor = request.param("contractor")
        contractor_inn = request.param("contractor_inn")
        if contractor:
            cid = _int_param(contractor, "contractor", 0, 0, None)
            checks.append(lambda t: t.contractor_id == cid)
        elif contractor_inn:
            with_inn = {
                r.contractor_id
                for r in w.adesk_contractor_requisites.values()
                if r.inn == contractor_inn
            }
            checks.append(lambda t: t.contractor_id in with_inn)
        project = request.param("project")
        if project:
            if project == "no_project":
                checks.append(lambda t: t.project_id is None)
            elif project == "any_project":
                checks.append(lambda t: t.project_id is not None)
            else:
                pid = _int_param(project, "project", 0, 0, None)
                checks.append(lambda t: t.project_id == pid)
        business_unit = request.param("business_unit")
        if business_unit and business_unit not in ("no_business_unit",):
            checks.append(lambda t: False)  # the world has no business units
        for name, flag_of in (
            ("owner_transfer", lambda c: c.is_owner_transfer),
            ("taxes", lambda c: c.name == _TAXES_CATEGORY),
        ):
            value = request.param(name) or "all"
            if value not in ("true", "false", "all"):
                raise BadParams(name, f"Недопустимое значение параметра {name}: {value}")
            if value != "all":
                flagged = {c.id for c in w.categories.values() if flag_of(c)}
                want = value == "true"
                checks.append(lambda t, f=flagged, want=want: (t.category_id in f) == want)
        if not checks:
            return None
        return lambda t: all(check(t) for check in checks)

    def _transactions(self, request: SandboxRequest) -> SandboxResponse:
        status = request.param("status") or "completed"
        if status not in _TXN_STATUSES:
            raise BadParams("status", f"Недопустимое значение параметра status: {status}")
        ttype = request.param("type") or "all"
        if ttype not in _TXN_TYPES:
            raise BadParams("type", f"Недопустимое значение параметра type: {ttype}")
        date_type = request.param("date_type") or "cashier"
        if date_type not in _DATE_TYPES:
            raise BadParams("date_type", f"Недопустимое значение параметра date_type: {date_type}")
        bounds = _range_bounds(request.param, self.world.today())
        start, length = self._paging(request)
        extra = self._transaction_filter(request)
        ords, ids = self._view(status, ttype, date_type)
        if bounds is None:
            lo, hi = 0, len(ids)
        else:
            lo = bisect_left(ords, bounds[0].toordinal())
            hi = bisect_right(ords, bounds[1].toordinal())
            hi = max(hi, lo)
        txns = self.world.adesk_transactions
        if extra is None:
            total = hi - lo
            top = hi - start  # newest first: position `start` counts back from the end
            bottom = max(lo, top - length)
            page_ids = [ids[i] for i in range(top - 1, bottom - 1, -1)] if top > lo else []
        else:
            matching = [ids[i] for i in range(hi - 1, lo - 1, -1) if extra(txns[ids[i]])]
            total = len(matching)
            page_ids = matching[start : start + length]
        renderer = _TransactionRenderer(self)
        rows = self._out("transaction", (renderer.render(txns[i]) for i in page_ids))
        return self._list_answer("transactions", rows, total)

    def _transaction(self, request: SandboxRequest, raw_id: str) -> SandboxResponse:
        t = self.world.adesk_transactions.get(self._record_id(raw_id, "Операция"))
        if t is None:
            raise _NotFound("Операция не найдена")
        (row,) = self._out("transaction", [self._render_transaction(t)])
        return SandboxResponse.json({"success": True, "transaction": row})

    # --- reference lists --------------------------------------------------------------------------

    def _categories(self, request: SandboxRequest) -> SandboxResponse:
        ctype = request.param("type")
        if ctype not in (None, "", "income", "outcome"):
            raise BadParams("type", f"Недопустимое значение параметра type: {ctype}")
        full_group = (request.param("full_group") or "false").lower() == "true"
        wanted = {"income": 1, "outcome": 2}.get(ctype or "")
        cats = [c for c in self.world.categories.values() if wanted is None or c.type == wanted]
        rows = self._out("category", (self._render_category(c, full_group) for c in cats))
        return self._list_answer("categories", rows, len(rows))

    def _project_totals_of(self) -> dict[int, tuple[Decimal, Decimal]]:
        version = self._ledger_version()
        with self._lock:
            cached = self._project_totals
            if cached is not None and cached[0] == version:
                return cached[1]
        totals: dict[int, list[Decimal]] = {}
        for t in self.world.adesk_transactions.values():
            if t.project_id is None or t.is_planned or t.is_transfer:
                continue
            pair = totals.setdefault(t.project_id, [Decimal(0), Decimal(0)])
            pair[0 if t.type == 1 else 1] += t.amount
        result = {pid: (v[0], v[1]) for pid, v in totals.items()}
        with self._lock:
            self._project_totals = (version, result)
        return result

    def _projects(self, request: SandboxRequest) -> SandboxResponse:
        status = request.param("status") or "active"
        if status not in ("active", "archived", "all"):
            raise BadParams("status", f"Недопустимое значение параметра status: {status}")
        sorting = request.param("sorting") or "last_modified"
        if sorting not in ("alphabetically", "last_modified", "popularity"):
            raise BadParams("sorting", f"Недопустимое значение параметра sorting: {sorting}")
        start, length = self._paging(request)
        projects = [
            p
            for p in self.world.projects.values()
            if status == "all" or p.is_archived == (status == "archived")
        ]
        category = request.param("category")
        if category:
            cat_id = _int_param(category, "category", 0, 0, None)
            projects = [p for p in projects if p.category_id == cat_id]
        q = (request.param("q") or "").strip().lower()
        if q:
            projects = [p for p in projects if q in p.name.lower()]
        if sorting == "alphabetically":
            projects.sort(key=lambda p: (p.name.lower(), p.id))
        else:  # the world keeps no edit times: newest first stands in for "last modified"
            projects.sort(key=lambda p: p.id, reverse=True)
        page = projects[start : start + length]
        totals = self._project_totals_of()
        reduced = (request.param("reduced") or "false").lower() == "true"
        if reduced:
            rendered = [{"id": p.id, "name": p.name, "isFinished": p.is_archived} for p in page]
        else:
            rendered = [self._render_project(p, totals) for p in page]
        rows = self._out("project", rendered)
        income = sum((totals.get(p.id, (Decimal(0), Decimal(0)))[0] for p in projects), Decimal(0))
        outcome = sum((totals.get(p.id, (Decimal(0), Decimal(0)))[1] for p in projects), Decimal(0))
        gross = income - outcome
        answer = {
            "success": True,
            "recordsTotal": len(rows),
            "recordsFiltered": len(projects),
            "projects": rows,
            "total": {
                "income": _money2(income),
                "outcome": _money2(outcome),
                "grossProfit": _money2(gross),
                "profitability": int((gross * 100 / income).to_integral_value()) if income else 0,
                "planIncome": _money2(sum((p.plan_income for p in projects), Decimal(0))),
                "planOutcome": _money2(sum((p.plan_outcome for p in projects), Decimal(0))),
            },
        }
        return SandboxResponse.json(answer)

    def _project_categories(self, request: SandboxRequest) -> SandboxResponse:
        rows = self._out(
            "project_category",
            ({"id": c.id, "name": c.name} for c in self.world.project_categories.values()),
        )
        return self._list_answer("categories", rows, len(rows))

    def _bank_accounts(self, request: SandboxRequest) -> SandboxResponse:
        start, length = self._paging(request)
        kind = request.param("bank_account_type")
        if kind not in (None, "", "Bank", "Cash"):
            raise BadParams("bank_account_type", f"Недопустимое значение: {kind}")
        status = request.param("status")
        if status not in (None, "", "open", "closed"):
            raise BadParams("status", f"Недопустимое значение параметра status: {status}")
        accounts = [
            a
            for a in sorted(self.world.bank_accounts.values(), key=lambda a: a.id)
            if (not kind or a.type == kind) and (not status or a.status == status)
        ]
        page = accounts[start : start + length]
        if (request.param("reduced") or "false").lower() == "true":
            rendered = [{"id": a.id, "name": a.name, "currency": a.currency} for a in page]
        else:
            rendered = [self._render_bank_account(a) for a in page]
        rows = self._out("bank_account", rendered)
        answer: dict[str, Any] = {
            "success": True,
            "recordsTotal": len(rows),
            "recordsFiltered": len(accounts),
            "bankAccounts": rows,
        }
        if (request.param("with_sum_amount") or "false").lower() == "true":
            answer["sumAmount"] = _money(sum((a.amount for a in accounts), Decimal(0)))
        return SandboxResponse.json(answer)

    def _bank_account(self, request: SandboxRequest, raw_id: str) -> SandboxResponse:
        a = self.world.bank_accounts.get(self._record_id(raw_id, "Счет"))
        if a is None:
            raise _NotFound("Счет не найден")
        (row,) = self._out("bank_account", [self._render_bank_account(a)])
        return SandboxResponse.json({"success": True, "bankAccount": row})

    def _legal_entities(self, request: SandboxRequest) -> SandboxResponse:
        rows = self._out(
            "legal_entity",
            (self._render_legal_entity(le) for le in self.world.legal_entities.values()),
        )
        return self._list_answer("legalEntities", rows, len(rows))

    def _legal_entity(self, request: SandboxRequest, raw_id: str) -> SandboxResponse:
        le = self.world.legal_entities.get(self._record_id(raw_id, "Юридическое лицо"))
        if le is None:
            raise _NotFound("Юридическое лицо не найдено")
        (row,) = self._out("legal_entity", [self._render_legal_entity(le)])
        return SandboxResponse.json({"success": True, "legalEntity": row})

    # --- contractors ----------------------------------------------------------------------------

    def _contractors(self, request: SandboxRequest) -> SandboxResponse:
        w = self.world
        contractors = sorted(w.adesk_contractors.values(), key=lambda k: k.id)
        q = (request.param("q") or "").strip().lower()
        if q:
            contractors = [k for k in contractors if q in k.name.lower()]
        inn = (request.param("inn") or "").strip()
        if inn:
            with_inn = {
                r.contractor_id
                for r in w.adesk_contractor_requisites.values()
                if r.inn and inn in r.inn
            }
            contractors = [k for k in contractors if k.id in with_inn]
        account = (request.param("checking_bank_account") or "").strip()
        if account:
            with_account = {
                r.contractor_id
                for r in w.adesk_contractor_requisites.values()
                if r.bank_account_number and account in r.bank_account_number
            }
            contractors = [k for k in contractors if k.id in with_account]
        bounds = _range_bounds(request.param, w.today())
        if bounds is not None:
            active = {
                t.contractor_id
                for t in w.adesk_transactions.values()
                if bounds[0] <= t.date <= bounds[1]
            }
            contractors = [k for k in contractors if k.id in active]
        balances = self._contractor_balances()
        if (request.param("with_balance") or "false").lower() == "true":
            contractors = [k for k in contractors if balances.get(k.id)]
        if (request.param("reduced") or "false").lower() == "true":
            rendered = [{"id": k.id, "name": k.name} for k in contractors]
        else:
            rendered = [self._render_contractor(k, balances) for k in contractors]
        rows = self._out("contractor", rendered)
        return self._list_answer("contractors", rows, len(rows))

    def _contractor_or_404(self, raw_id: str) -> Any:
        k = self.world.adesk_contractors.get(self._record_id(raw_id, "Контрагент"))
        if k is None:
            raise _NotFound("Контрагент не найден")
        return k

    def _contractor(self, request: SandboxRequest, raw_id: str) -> SandboxResponse:
        k = self._contractor_or_404(raw_id)
        (row,) = self._out("contractor", [self._render_contractor(k, self._contractor_balances())])
        return SandboxResponse.json({"success": True, "contractor": row})

    def _requisites_index(self) -> dict[int, list[int]]:
        w = self.world
        version = (w.steps, len(w.adesk_contractor_requisites), len(w.adesk_contractors))
        with self._lock:
            cached = self._requisites_by_contractor
            if cached is not None and cached[0] == version:
                return cached[1]
            index: dict[int, list[int]] = {}
            for rid in sorted(w.adesk_contractor_requisites):
                index.setdefault(w.adesk_contractor_requisites[rid].contractor_id, []).append(rid)
            self._requisites_by_contractor = (version, index)
            return index

    def _contractor_requisites(self, request: SandboxRequest, raw_id: str) -> SandboxResponse:
        k = self._contractor_or_404(raw_id)
        reqs = self.world.adesk_contractor_requisites
        ids = [rid for rid in self._requisites_index().get(k.id, []) if rid in reqs]
        rows = self._out("requisite", (self._render_requisite(reqs[rid]) for rid in ids))
        return self._list_answer("requisites", rows, len(rows))

    def _contractor_commitments(self, request: SandboxRequest, raw_id: str) -> SandboxResponse:
        k = self._contractor_or_404(raw_id)
        items = sorted(
            (c for c in self.world.adesk_commitments.values() if c.contractor_id == k.id),
            key=lambda c: c.id,
        )
        rows = self._out("commitment", (self._render_commitment(c) for c in items))
        return self._list_answer("commitments", rows, len(rows))

    # --- commitments (POST form) ---------------------------------------------------------------

    @staticmethod
    def _id_list(values: list[tuple[str, str]], name: str) -> set[int] | None:
        found: list[str] = []
        for key, value in values:
            if key in (name, f"{name}[]"):
                found.extend(v for v in value.split(",") if v.strip())
        if not found:
            return None
        try:
            return {int(v) for v in found}
        except ValueError:
            raise BadParams(name, f"Параметр {name} должен быть массивом чисел") from None

    def _commitments(self, request: SandboxRequest) -> SandboxResponse:
        form = request.form()

        def param(name: str) -> str | None:
            for key, value in form:
                if key == name:
                    return value
            return request.param(name)

        bounds = _range_bounds(param, self.world.today())
        contractors = self._id_list(form + request.query, "contractors")
        projects = self._id_list(form + request.query, "projects")
        items = []
        for c in sorted(
            self.world.adesk_commitments.values(), key=lambda c: (c.date, c.id), reverse=True
        ):
            if bounds is not None and not bounds[0] <= c.date <= bounds[1]:
                continue
            if contractors is not None and c.contractor_id not in contractors:
                continue
            if projects is not None and c.project_id not in projects:
                continue
            items.append(c)
        rows = self._out("commitment", (self._render_commitment(c) for c in items))
        return self._list_answer("commitments", rows, len(rows))

    # --- warehouse and tags ---------------------------------------------------------------------

    def _products(self, request: SandboxRequest) -> SandboxResponse:
        search = (request.param("search") or "").strip().lower()
        products = [
            p
            for p in sorted(self.world.adesk_products.values(), key=lambda p: p.id)
            if not search or search in p.name.lower() or search in (p.sku or "").lower()
        ]
        rows = self._out("product", (self._render_product(p) for p in products))
        return self._list_answer("products", rows, len(rows))

    def _units(self, request: SandboxRequest) -> SandboxResponse:
        rows = self._out(
            "unit",
            (self._render_unit(u) for u in sorted(self.world.units.values(), key=lambda u: u.id)),
        )
        return SandboxResponse.json({"success": True, "units": rows})

    def _tags(self, request: SandboxRequest) -> SandboxResponse:
        search = (request.param("search") or "").strip().lower()
        tags = [
            t
            for t in sorted(self.world.tags.values(), key=lambda t: t.id)
            if not search or search in t.name.lower()
        ]
        rows = self._out("tag", ({"id": t.id, "name": t.name, "color": t.color} for t in tags))
        return SandboxResponse.json({"success": True, "tags": rows})

    def _tag(self, request: SandboxRequest, raw_id: str) -> SandboxResponse:
        t = self.world.tags.get(self._record_id(raw_id, "Тег"))
        if t is None:
            raise _NotFound("Тег не найден")
        (row,) = self._out("tag", [{"id": t.id, "name": t.name, "color": t.color}])
        return SandboxResponse.json({"success": True, "tag": row})

    # --- v2 ---------------------------------------------------------------------------------------

    def _custom_report_groups(self, request: SandboxRequest) -> SandboxResponse:
        # The synthetic business defines no custom report sections.
        return SandboxResponse.json({"success": True, "data": []})
