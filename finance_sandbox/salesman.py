"""SalesMan CRM API v3, method "invoice": the requests the pipeline uses (`list`, `info`).

Rendered from the `World`'s SalesMan invoices the way SalesMan's own PHP renders them (the v3
entry point `developer/v3/index.php`, `methods/invoice.php` and `Invoice::list()/info()` of the
open SalesMan CRM source), within what the documentation (api-docs/salesman-invoice-api-v3.md)
says. Behaviour worth knowing, all taken from the vendor's code where the doc is silent:

* URL `{base}/developer/v3/<method>/<request>`; the request name may also come as `action`.
* Parameters come from the JSON body when the `Content-Type` header is exactly
  `application/json` (then `apikey`/`login` are read from the headers, falling back to the
  body); otherwise from the query string / form, and then `apikey`/`login` must be parameters
  too (SalesMan ignores the headers on that path).
* Every answer, errors included, is HTTP 200 with `{"result":"Error","error":{"code","text"}}`
  for errors. Checks run in this order: API key (400 "Не верный API key"), user (401
  "Неизвестный пользователь"), request name (402 "Неизвестный метод").
* `offset` is a page number (200 rows a page): 0, 1 and anything below 1 give page 1, n gives
  page n; `params.page` echoes the 1-based page. The sandbox is stricter than SalesMan's
  `(int)` cast: a non-integer offset (or a malformed date / `active`) answers 400
  "Не правильный запрос" (the vendor's own text for a bad request) instead of page 1.
* `info` answers 405 without `id` and 404 "Документ не найден" (as documented) for an unknown
  id. (The vendor code of 2024.1 answers a record with `crid` 0 instead; the client copes with
  both.)

Where SalesMan says nothing the sandbox decides:
* rate limiting: HTTP 429 with `{"result":"Error","error":{"code":429,"text":...}}` and
  `Retry-After: 1`;
* server failure: HTTP 500 with the same envelope, code 500;
* a path outside `/developer/v3/` answers the web server's HTML 404.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, ClassVar

from finance_sandbox.core import (
    SANDBOX_CREDENTIALS,
    Emulator,
    SandboxRequest,
    SandboxResponse,
    ServerRateLimit,
)
from finance_sandbox.world import SalesmanInvoice

PAGE_SIZE = 200  # "установлен лимит в 200 записей на страницу"
API_PREFIX = "/developer/v3/"
VALUTA = "р."

# Users of the sandbox account (login -> iduser). The pipeline's login is the first one.
USERS: dict[str, int] = {
    SANDBOX_CREDENTIALS["salesman"]["login"]: 20,
    "a.petrova@finance.example": 22,
    "i.smirnov@finance.example": 25,
}

# Own company behind the bank accounts (`rs`) invoices are issued on: (mc id, name as SalesMan
# stores it - its input cleaner turns quotes into ”).
COMPANIES: dict[int, tuple[int, str]] = {
    5: (1, "ООО ”Тэкон Трейд”"),
    6: (1, "ООО ”Тэкон Трейд”"),
}

TEMPLATES: dict[str, dict[str, Any]] = {
    "default": {"id": 33, "title": "Базовый шаблон", "file": "invoice.tpl", "typeid": 94},
    "qr": {"id": 155, "title": "Счет с QRcode", "file": "invoice_qr.tpl", "typeid": 94},
}

SUFFIX = (
    "<p>&nbsp;</p>\r\n\r\n<p><b>ВНИМАНИЕ! СЧЕТ ДЕЙСТВИТЕЛЕН В ТЕЧЕНИЕ 5 ДНЕЙ С ДАТЫ "
    "СОЗДАНИЯ.</b></p>\r\n"
)

# Accepted `order` values and their columns (synonyms of Invoice::list()); others fall back to
# the plan date, like SalesMan does.
ORDER_SYNONYMS = {
    "date_create": "datum",
    "dateCreate": "datum",
    "date_plan": "datum_credit",
    "datePlan": "datum_credit",
    "date_fact": "invoice_date",
    "dateFact": "invoice_date",
    "summa": "summa_credit",
}
ORDER_COLUMNS = ("datum", "datum_credit", "summa_credit", "invoice_date", "invoice")

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INT_RE = re.compile(r"^\s*-?\d+\s*$")


@dataclass
class _Groups:
    parts: dict[tuple[str, int], list[SalesmanInvoice]] = field(default_factory=dict)
    deal_totals: dict[int, Decimal] = field(default_factory=dict)


class _Rejected(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


def error_body(code: int, text: str) -> dict[str, Any]:
    return {"result": "Error", "error": {"code": code, "text": text}}


def num_format(value: Decimal | float, places: int = 2) -> str:
    """PHP number_format($v, 2, ',', ' '): "200 000,00"."""
    return f"{value:,.{places}f}".replace(",", " ").replace(".", ",")


def php_number(value: Decimal | float) -> int | float:
    """A (float) as SalesMan's JSON shows it: 200000, 1234.5."""
    number = float(value)
    return int(number) if number.is_integer() else number


def morph(n: int, one: str, few: str, many: str) -> str:
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def _dmy(d: date | None) -> str:
    return d.strftime("%d.%m.%Y") if d else ""


def _as_bool(value: Any) -> bool | None:
    """A documented bool parameter: true/false, "true"/"false", 1/0; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise _Rejected(400, f"Не правильный запрос: active = {str(value)[:40]!r}")


def _as_int(value: Any) -> int:
    """PHP (int) cast of an optional id filter (junk reads as 0 = no filter)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    match = re.match(r"^\s*(-?\d+)", str(value or ""))
    return int(match.group(1)) if match else 0


def _offset(value: Any) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise _Rejected(400, "Не правильный запрос: offset должен быть целым числом")
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and _INT_RE.match(value):
        return int(value)
    raise _Rejected(400, "Не правильный запрос: offset должен быть целым числом")


def _day(name: str, value: Any) -> datetime | None:
    """A YYYY-MM-DD filter bound, as MySQL compares it with a DATE/DATETIME column (midnight)."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if not _DATE_RE.match(text):
        raise _Rejected(400, f"Не правильный запрос: {name} должен быть в формате YYYY-MM-DD")
    try:
        return datetime.combine(date.fromisoformat(text), time(0))
    except ValueError:
        raise _Rejected(400, f"Не правильный запрос: {name} - неверная дата") from None


class SalesmanEmulator(Emulator):
    source: ClassVar[str] = "salesman"
    # SalesMan publishes no limit; the sandbox assumes a cloud front-end allowing 5 requests a
    # second with bursts of 10 per API key (the client's defaults stay below that).
    default_rate_limit: ClassVar[ServerRateLimit] = ServerRateLimit(rate=5.0, burst=10)

    # --- request parsing ------------------------------------------------------------------
    @staticmethod
    def _is_json(request: SandboxRequest) -> bool:
        # index.php: $headers["Content-Type"] == "application/json" - an exact comparison.
        return request.headers.get("content-type", "").strip().lower() == "application/json"

    def _params(self, request: SandboxRequest) -> dict[str, Any]:
        if self._is_json(request):
            try:
                body = request.json()
            except (ValueError, UnicodeDecodeError):
                body = None  # json_decode() of junk is null: no parameters at all
            return body if isinstance(body, dict) else {}
        params: dict[str, Any] = {}
        for key, value in [*request.query, *request.form()]:
            params[key] = value.strip()
        return params

    def _credentials(
        self, request: SandboxRequest, params: dict[str, Any]
    ) -> tuple[str | None, str | None]:
        if self._is_json(request):
            key, login = request.headers.get("apikey"), request.headers.get("login")
        else:
            key, login = params.get("apikey"), params.get("login")
        if key is None and params.get("apikey") is not None:
            key, login = params.get("apikey"), params.get("login")
        return (
            str(key) if key is not None else None,
            str(login) if login is not None else None,
        )

    def account_of(self, request: SandboxRequest) -> str | None:
        key, login = self._credentials(request, self._params(request))
        if key == SANDBOX_CREDENTIALS["salesman"]["api_key"] and login in USERS:
            return key
        return None

    # --- answers ---------------------------------------------------------------------------
    def throttled(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json(
            error_body(429, "Превышен лимит запросов к API. Повторите запрос позже"),
            status=429,
            headers={"retry-after": "1"},
        )

    def server_error(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json(error_body(500, "Внутренняя ошибка сервера"), status=500)

    def error_answer(self, request: SandboxRequest, status: int) -> SandboxResponse:
        """Persistent faults: SalesMan's own error codes come, like all its answers, as HTTP 200."""
        texts = {
            400: "Не верный API key",
            401: "Неизвестный пользователь",
            402: "Неизвестный метод",
            403: "Счет по ID или Номеру не найден",
            404: "Документ не найден",
            405: "Отсутствуют параметры - id Счета",
        }
        if status in texts:
            return SandboxResponse.json(error_body(status, texts[status]))
        return SandboxResponse.json(error_body(status, f"HTTP {status}"), status=status)

    def cost_seconds(self, request: SandboxRequest) -> float:
        if request.path.endswith("/list"):
            return 0.02 + 0.000005 * len(self.world.salesman_invoices)
        return 0.002

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if not request.path.startswith(API_PREFIX):
            return SandboxResponse.html(
                "<html><head><title>404 Not Found</title></head><body><center><h1>404 Not "
                "Found</h1></center><hr><center>nginx</center></body></html>",
                status=404,
            )
        parts = request.path[len(API_PREFIX) :].strip("/").split("/")
        method = parts[0] if parts and parts[0] else "client"
        params = self._params(request)
        action = parts[1] if len(parts) > 1 else ""
        key, login = self._credentials(request, params)
        if key != SANDBOX_CREDENTIALS["salesman"]["api_key"]:
            return SandboxResponse.json(error_body(400, "Не верный API key"))
        if login not in USERS:
            return SandboxResponse.json(error_body(401, "Неизвестный пользователь"))
        if params.get("action"):
            action = str(params["action"])
        try:
            if method == "invoice" and action == "list":
                return SandboxResponse.json(self._list(params))
            if method == "invoice" and action == "info":
                return SandboxResponse.json(self._info(params))
            if method == "user" and action == "list":
                return SandboxResponse.json(self._users())
        except _Rejected as rejected:
            return SandboxResponse.json(error_body(rejected.code, rejected.text))
        # Other methods of the API (client, deal, ...) and other invoice requests (add, do,
        # mail, ...) are not emulated: they answer like an unknown request.
        return SandboxResponse.json(error_body(402, "Неизвестный метод"))

    # --- invoice/list ----------------------------------------------------------------------
    def _list(self, params: dict[str, Any]) -> dict[str, Any]:
        offset = _offset(params.get("offset"))
        page = offset if offset > 0 else 1
        order = str(params.get("order") or "datePlan")
        ord_ = ORDER_SYNONYMS.get(order, order)
        if ord_ not in ORDER_COLUMNS:
            ord_ = "datum_credit"
        descending = params.get("first") != "old"
        variant = self.sandbox.variant(self.source)
        active = _read_active(_as_bool(params.get("active")), variant.salesman_active)
        page_size = variant.page_cap or PAGE_SIZE  # the account's num_client setting
        bounds = {
            column: (
                _day(f"{name}Start", params.get(f"{name}Start")),
                _day(f"{name}End", params.get(f"{name}End")),
            )
            for name, column in (
                ("dateCreate", "datum"),
                ("datePlan", "datum_credit"),
                ("dateFact", "invoice_date"),
            )
        }
        iduser = _as_int(params.get("iduser"))
        if iduser <= 0 and params.get("user"):
            iduser = USERS.get(str(params["user"]), -1)
        # Without `iduser` the list holds what the login may see (ServerVariant).
        visible = variant.salesman_visible_users if iduser == 0 else None
        clid, did = _as_int(params.get("clid")), _as_int(params.get("did"))
        word = str(params.get("word") or "").lower()
        client_word = str(params.get("client") or "").lower()

        rows = []
        for inv in self.world.salesman_invoices.values():
            if active is not None and inv.paid != active:
                continue
            if not all(
                _within(_column(inv, column), lo, hi) for column, (lo, hi) in bounds.items()
            ):
                continue
            if (iduser > 0 and inv.iduser != iduser) or iduser < 0:
                continue
            if visible is not None and inv.iduser not in visible:
                continue
            if (clid > 0 and inv.clid != clid) or (did > 0 and inv.did != did):
                continue
            client = self._client_title(inv)
            if word and not any(
                word in (text or "").lower()
                for text in (inv.invoice, inv.contract, inv.deal, client)
            ):
                continue
            if client_word and client_word not in client.lower():
                continue
            rows.append(inv)
        rows.sort(key=lambda inv: _sort_key(inv, ord_), reverse=descending)
        count = len(rows)
        chunk = rows[(page - 1) * page_size : page * page_size]
        groups = self._groups()
        data = [self._list_record(inv, groups, variant.salesman_acs_credit) for inv in chunk]
        answer_params: dict[str, Any] = {
            "page": page,
            "pageall": math.ceil(count / page_size),
            "ord": ord_,
            "tuda": "DESC" if descending else "",
            "valuta": VALUTA,
            "count": count,
        }
        if self._drift():
            answer_params["pageall"] = str(answer_params["pageall"])
            answer_params["sort"] = None
        return {"data": data, "params": answer_params, "count": count}

    def _groups(self) -> _Groups:
        """Records sharing a number within a deal (split invoices) and each deal's total."""
        groups = _Groups()
        for inv in self.world.salesman_invoices.values():
            groups.parts.setdefault((inv.invoice, inv.did), []).append(inv)
            groups.deal_totals[inv.did] = groups.deal_totals.get(inv.did, Decimal(0)) + inv.summa
        return groups

    def _client_title(self, inv: SalesmanInvoice) -> str:
        client = self.world.salesman_clients.get(inv.clid)
        return client.title if client is not None else inv.client

    def _list_record(
        self, inv: SalesmanInvoice, groups: _Groups, acs_credit: bool = True
    ) -> dict[str, Any]:
        group = groups.parts.get((inv.invoice, inv.did), [inv])
        count = len(group)
        group_sum = sum((i.summa for i in group), Decimal(0))
        dole = None
        if count > 1:
            dole = num_format(float(inv.summa) / float(group_sum) * 100) if group_sum else 0
        deal_total = groups.deal_totals.get(inv.did, Decimal(0))
        delta = float(inv.summa) / float(deal_total) * 100 if deal_total > 0 else 0.0
        mc, company = COMPANIES.get(inv.rs, (0, None))
        record: dict[str, Any] = {
            "id": inv.id,
            "crid": inv.id,
            "date_create": inv.date_create.strftime("%Y-%m-%d %H:%M:%S"),
            "date_createf": inv.date_create.strftime("%d.%m.%y"),
            "date_plan": inv.date_plan.isoformat(),
            "date_planf": _dmy(inv.date_plan),
            "date_fact": inv.date_fact.isoformat() if inv.date_fact else None,
            "date_factf": _dmy(inv.date_fact),
            "contract": inv.contract or "",
            "invoice": inv.invoice,
            "summaf": num_format(inv.summa),
            "summa": php_number(inv.summa),
            "color": None if inv.paid else "redbg-sublite",
            # Invoice::list(): an unpaid row says `do: true` when the login lacks acs_credit.
            "ddo": True if inv.paid or not acs_credit else None,
            "warning": None,
            "do": True if inv.paid or not acs_credit else None,
            "cando": None if inv.paid or not acs_credit else True,
            "view": 1,
            "clid": inv.clid,
            "client": self._client_title(inv),
            "pid": 0,
            "person": None,
            "did": inv.did,
            "deal": inv.deal,
            "isclose": None,
            "count": f"{count} {morph(count, 'часть', 'части', 'частей')}",
            "dole": dole,
            "company": company,
            "mc": mc,
            "deltaf": num_format(delta),
            "delta": php_number(delta),
        }
        if self._drift():
            record["summa"] = str(record["summa"])
            record["contract"] = None
            record["uid"] = f"ext-{inv.id}"
            record["tags"] = []
            for optional in ("dole", "warning", "view"):
                record.pop(optional, None)
        return record

    # --- user/list ---------------------------------------------------------------------------
    def _users(self) -> dict[str, Any]:
        """developer/v3/methods/user.php `case 'list'`: every user of the account, whoever
        asks (no visibility rule), as `{"data": [{iduser, uid, oid, title, login, email,
        active}]}` (`active` is the user's `secrty` flag)."""
        return {
            "data": [
                {"iduser": iduser, "uid": None, "oid": None, "title": login.split("@")[0],
                 "login": login, "email": login, "active": "yes"}
                for login, iduser in USERS.items()
            ]
        }

    # --- invoice/info ----------------------------------------------------------------------
    def _info(self, params: dict[str, Any]) -> dict[str, Any]:
        if "id" not in params or params.get("id") is None:
            return error_body(405, "Отсутствуют параметры - id Счета")
        inv = self.world.salesman_invoices.get(_as_int(params.get("id")))
        if inv is None:
            return error_body(404, "Документ не найден")
        template = TEMPLATES["qr" if inv.tip == "Счет-договор" else "default"]
        data: dict[str, Any] = {
            "crid": inv.id,
            "invoice": inv.invoice,
            "datum": inv.date_create.strftime("%Y-%m-%d %H:%M:%S"),
            "datum_credit": inv.date_plan.isoformat(),
            "invoice_date": inv.date_fact.isoformat() if inv.date_fact else None,
            "contractnum": inv.contract,
            "summa": php_number(inv.summa),
            "nds": php_number(inv.nds),
            "clid": inv.clid,
            "pid": 0,
            "did": inv.did,
            "tip": inv.tip,
            "rs": inv.rs,
            "iduser": inv.iduser,
            "do": "on" if inv.paid else "no",
            "suffix": SUFFIX,
            "valuta": VALUTA,
            "template": [dict(template)],
            "idcurrency": 0,
            "currency": [],
            "idcourse": 0,
            "course": [],
            "signer": None,
        }
        if _as_bool_lenient(params.get("dealinfo")):
            data["deal"] = {
                "did": inv.did,
                "title": inv.deal,
                "clid": inv.clid,
                "client": self._client_title(inv),
                "kol": php_number(self._groups().deal_totals.get(inv.did, Decimal(0))),
                "iduser": inv.iduser,
                "mcid": COMPANIES.get(inv.rs, (0, None))[0],
            }
        if self._drift():
            data["nds"] = str(data["nds"])
            data["valuta"] = None
            data["author"] = inv.iduser
            data.pop("suffix", None)
        return {"data": data}

    def _drift(self) -> bool:
        return self.sandbox.fault_plan(self.source).drift


def _read_active(active: bool | None, reading: str) -> bool | None:
    """The paid filter `active` means under ServerVariant.salesman_active (None: no filter)."""
    if reading == "ignored":
        return None  # invoice.php `case 'list'` never reads it
    if reading == "default_unpaid" and active is None:
        return False  # "(true / false - по умолчанию)": unpaid unless asked otherwise
    return active


def _as_bool_lenient(value: Any) -> bool:
    try:
        return bool(_as_bool(value))
    except _Rejected:
        return False


def _column(inv: SalesmanInvoice, column: str) -> datetime | None:
    if column == "datum":
        return inv.date_create
    if column == "datum_credit":
        return datetime.combine(inv.date_plan, time(0))
    return datetime.combine(inv.date_fact, time(0)) if inv.date_fact else None


def _within(value: datetime | None, lo: datetime | None, hi: datetime | None) -> bool:
    """Invoice::list(): only Start -> `> Start`, only End -> `< End`, both -> BETWEEN."""
    if lo is None and hi is None:
        return True
    if value is None:
        return False  # NULL compares false in SQL
    if lo is not None and hi is not None:
        return lo <= value <= hi
    if lo is not None:
        return value > lo
    assert hi is not None
    return value < hi


def _sort_key(inv: SalesmanInvoice, column: str) -> tuple[Any, ...]:
    if column == "datum":
        return (inv.date_create, inv.id)
    if column == "datum_credit":
        return (inv.date_plan, inv.id)
    if column == "summa_credit":
        return (inv.summa, inv.id)
    if column == "invoice":
        number = int(inv.invoice) if inv.invoice.isdigit() else 0
        return (number, inv.id)
    # invoice_date: NULL sorts first ascending, as in MySQL
    return (inv.date_fact is not None, inv.date_fact or date.min, inv.id)
