"""Transactions: the ledger index, the renderer shared by a page's rows, and the
/v1/transactions and /v1/transaction/<id> endpoints."""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from finance_sandbox.adesk.protocol import (
    DATE_TYPES,
    TAXES_CATEGORY,
    TXN_STATUSES,
    TXN_TYPES,
    BadParams,
    NotFound,
)
from finance_sandbox.adesk.values import int_param, money, phone, range_bounds
from finance_sandbox.core import (
    SandboxRequest,
    SandboxResponse,
)

if TYPE_CHECKING:  # the emulator imports this module
    from finance_sandbox.adesk.emulator import AdeskEmulator


# --- the ledger index --------------------------------------------------------------------------


class LedgerIndex:
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


class TransactionRenderer:
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
        self._units: dict[int, dict[str, Any] | None] = {}
        self._rates: dict[tuple[str, int, int], float] = {}
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
                    # The v2 operation's account carries its rate to the base currency
                    # (adesk-api.md l.1229 `"rate": 1.0` for a rouble account): today's rate.
                    "rate": self._rate(acc.currency, self.today),
                    "legalEntity": {"id": le.id, "name": le.name} if le else None,
                }
            self._accounts[acc_id] = rendered
        return self._accounts[acc_id]

    def _rate(self, currency: str, d: date) -> float:
        """Roubles (the workspace's base currency) for one unit of `currency` in d's month, a
        number as in the docs' example (`"exchangeRate": 1.0`, adesk-api.md l.1250)."""
        key = (currency, d.year, d.month)
        rate = self._rates.get(key)
        if rate is None:
            rate = self._rates[key] = float(self.world.rub_per_unit(currency, d))
        return rate

    def _business_unit(self, unit_id: int) -> dict[str, Any] | None:
        """`{"id", "name"}` of a business direction (adesk-api.md l.1103-1106; the directions
        are the project categories of GET v1/projects/categories, l.337)."""
        if unit_id not in self._units:
            unit = self.world.project_categories.get(unit_id)
            self._units[unit_id] = {"id": unit.id, "name": unit.name} if unit else None
        return self._units[unit_id]

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
                    "group": self.em.group_of(c.group_id),
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
                    "phoneNumber": phone(k.phone) or "",
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

    def _transfer_fields(self, t: Any, with_pair: bool) -> dict[str, Any]:
        """How a transfer leg names its transfer and its other leg: `transferId`,
        `pairedTransactionId`, `pairTransferTransaction` (adesk-api.md, v2 operation object
        l.1254-1256; undescribed there, null on ordinary operations). Read here as: the id of
        the transfer object (l.934, the same on both legs), the other leg's id, and the other
        leg itself (rendered without its own pair, so the nesting stops)."""
        transfer = self.world.adesk_transfers.get(t.transfer_id) if t.is_transfer else None
        if transfer is None:
            return {
                "transferId": None,
                "pairedTransactionId": None,
                "pairTransferTransaction": None,
            }
        other_id = (
            transfer.income_transaction_id
            if t.id == transfer.outcome_transaction_id
            else transfer.outcome_transaction_id
        )
        other = self.world.adesk_transactions.get(other_id)
        return {
            "transferId": transfer.id,
            "pairedTransactionId": other_id if other is not None else None,
            "pairTransferTransaction": self.render(other, with_pair=False)
            if other is not None and with_pair
            else None,
        }

    def render(self, t: Any, with_pair: bool = True) -> dict[str, Any]:
        """One operation in the v1 object's shape (adesk-api.md l.1035-1114) plus the fields the
        v2 operation object adds for currencies and transfers (l.1229-1260). A transfer leg's
        `amount` is in its own account's currency: the outcome leg carries the transfer's
        `amount` (sender's currency, l.951), the income leg what arrived (`amount_to`, l.982)."""
        dmy, iso, formatted = self._day(t.date)
        related = dmy if t.related_date == t.date else self._day(t.related_date)[0]
        account = self._account(t.bank_account_id)
        unit_id = t.business_unit_id
        return {
            "id": t.id,
            "isSplitted": False,
            "splitId": None,
            "amount": money(t.amount),
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
            "exchangeRate": self._rate(account["currency"], t.date) if account else 1.0,
            **self._transfer_fields(t, with_pair),
            "bankAccount": account,
            "category": self._category(t.category_id) if t.category_id is not None else None,
            "contractor": self._contractor(t.contractor_id)
            if t.contractor_id is not None
            else None,
            "project": self._project(t.project_id) if t.project_id is not None else None,
            # v1 spelling (l.1103); the v2 example spells it `businessUnit` (l.1260), which the
            # drifting API answers (drift.py).
            "business_unit": self._business_unit(unit_id) if unit_id is not None else None,
            "tags": self._tag_list(t.tag_ids) if t.tag_ids else [],
        }


class TransactionEndpoints:
    """Part of `AdeskEmulator`: the transaction endpoints."""

    # --- transactions -----------------------------------------------------------------------------

    def _ledger_version(self) -> tuple[int, ...]:
        w = self.world
        return (w.steps, len(w.adesk_transactions), id(w.adesk_transactions))

    def _view(self, status: str, ttype: str, date_type: str) -> tuple[array, array]:
        version = self._ledger_version()
        with self._lock:
            ledger = self._ledger
            if ledger is None or ledger.version != version:
                ledger = self._ledger = LedgerIndex(version)
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
            acc_id = int_param(bank_account, "bank_account", 0, 0, None)
            checks.append(lambda t: t.bank_account_id == acc_id)
        elif legal_entity:
            le_id = int_param(legal_entity, "legal_entity", 0, 0, None)
            accounts = {a.id for a in w.bank_accounts.values() if a.legal_entity_id == le_id}
            checks.append(lambda t: t.bank_account_id in accounts)
        category = request.param("category")
        if category and category != "all":
            if category == "no_category":
                checks.append(lambda t: t.category_id is None)
            else:
                cat_id = int_param(category, "category", 0, 0, None)
                checks.append(lambda t: t.category_id == cat_id)
        contractor = request.param("contractor")
        contractor_inn = request.param("contractor_inn")
        if contractor:
            cid = int_param(contractor, "contractor", 0, 0, None)
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
                pid = int_param(project, "project", 0, 0, None)
                checks.append(lambda t: t.project_id == pid)
        business_unit = request.param("business_unit")
        if business_unit:  # adesk-api.md l.1865: an id, no_business_unit, any_business_unit
            if business_unit == "no_business_unit":
                checks.append(lambda t: t.business_unit_id is None)
            elif business_unit == "any_business_unit":
                checks.append(lambda t: t.business_unit_id is not None)
            else:
                unit = int_param(business_unit, "business_unit", 0, 0, None)
                checks.append(lambda t: t.business_unit_id == unit)
        for name, flag_of in (
            ("owner_transfer", lambda c: c.is_owner_transfer),
            ("taxes", lambda c: c.name == TAXES_CATEGORY),
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
        # No default is stated for `status`: the preamble's "no parameter, no filtering" reads
        # as all, the web app shows completed ones (ServerVariant.adesk_default_status).
        status = request.param("status") or self.sandbox.variant("adesk").adesk_default_status
        if status not in TXN_STATUSES:
            raise BadParams("status", f"Недопустимое значение параметра status: {status}")
        ttype = request.param("type") or "all"
        if ttype not in TXN_TYPES:
            raise BadParams("type", f"Недопустимое значение параметра type: {ttype}")
        date_type = request.param("date_type") or "cashier"
        if date_type not in DATE_TYPES:
            raise BadParams("date_type", f"Недопустимое значение параметра date_type: {date_type}")
        bounds = range_bounds(request.param, self.world.today())
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
        renderer = TransactionRenderer(self)
        rows = self._out("transaction", (renderer.render(txns[i]) for i in page_ids))
        return self._list_answer("transactions", rows, total)

    def _transaction(self, request: SandboxRequest, raw_id: str) -> SandboxResponse:
        t = self.world.adesk_transactions.get(self._record_id(raw_id, "Операция"))
        if t is None:
            raise NotFound("Операция не найдена")
        (row,) = self._out("transaction", [self._render_transaction(t)])
        return SandboxResponse.json({"success": True, "transaction": row})
