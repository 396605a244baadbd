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
  "Неизвестный пользователь"), request name (402 "Неизвестный метод") (developer/v3/index.php,
  methods/invoice.php `default:`).
* `offset` is a page number: invoice.php `list` sets `page = (int)offset > 0 ? (int)offset : 0`
  and Invoice::list() turns page <= 0 into 1. So 0, 1, anything below 1 and anything PHP's
  `(int)` reads as 0 ("abc", null) give page 1, "2.7" or 2.7 gives page 2; `params.page`
  echoes the 1-based page. A page past the end is empty. Rows a page: `$GLOBALS['num_client']`
  (an account setting; the documentation says 200, the sandbox uses 200).
* Default order: invoice.php `list` sets `ord = order != '' ? order : 'datum'`, so without
  `order` the list is by creation date (the documentation says `datePlan`), newest first
  (`tuda` = DESC unless `first=old`). Invoice::list() maps the synonyms (date_create, dateCreate,
  date_plan, datePlan, date_fact, dateFact, summa) and falls back to `datum_credit` (the plan
  date) for an unknown value. MySQL orders ties arbitrarily; the sandbox breaks them by id.
* `active` is NOT a filter: Invoice::list() never reads it (paid/unpaid filters are `pay1`/`pay2`
  = "yes" and `pay[on]`/`pay[off]`, the web UI's). With or without `active`, the list holds
  paid and unpaid invoices alike. `user` (a login) is not read either.
* Date filters (Invoice::list(), "для API"): for dateCreate/datePlan/dateFact, only `*Start`
  gives `column > Start`, only `*End` gives `column < End`, both give `column BETWEEN Start AND
  End` (inclusive; on the DATETIME `datum` the End day counts only at 00:00:00). Except that a
  lone `dateCreateStart` compares with `$params['dateStart']` (a bug): without `dateStart` that
  is `datum > ''`, true for every row, so it filters nothing. `dateStart`/`dateEnd` (mapped to
  d1/d2 by invoice.php) produce a malformed WHERE clause (`crd.crid > 0 ( DATE(...) ) AND and`):
  SafeMySQL throws, PHP dies with a fatal error: HTTP 500 and a PHP error text, not JSON.
* Visibility (Invoice::list()): with `iduser` > 0 the list is that user's invoices, whoever
  asks; otherwise the invoices of `get_people($iduser1, "yes")`, the caller and their
  subordinates. In the sandbox the pipeline's login heads the team (sees everyone's invoices);
  the two other users see only their own.
* `info`: 405 without `id`. For an unknown id Invoice::info() still returns its array (every key
  present, `crid` 0, values empty), so invoice.php answers it as data: the documented 404 and the
  code's 403 "Счет не найден" are never sent (`!empty($invoice)` is always true). `dealinfo` is
  read with PHP truthiness (`if ($dealinclude)`): true, 1, "true", "false", "no" include the
  deal; false, 0, "0", "", absent do not. With it, `deal` is Deal::info($did) (inc/class/
  Deal.php): the deal, its invoices, `speca` (the specification), `client` and `payer`
  (get_client_info + `recv`), `person`; for a missing deal Deal::info() returns
  `{"code": 400, "result": "error", "error": "Сделка не найдена"}`.
* Currency (Invoice::info()): `idcurrency` and `currency` (Currency::currencyInfo) of the deal,
  `course` (Currency::courseInfo of the deal's `idcourse`), and `idcourse` set to the deal's
  *idcurrency* (a bug of Invoice::info(), kept). Amounts stay in the account's currency ("р."):
  SalesMan converts them for display only (summa / course).

Where SalesMan says nothing the sandbox decides:
* a malformed date filter or `offset` of another JSON type answers 400 "Не правильный запрос"
  (what MySQL makes of a malformed date literal is not SalesMan's doing);
* rate limiting: HTTP 429 with `{"result":"Error","error":{"code":429,"text":...}}` and
  `Retry-After: 1`;
* server failure: HTTP 500 with the same envelope, code 500;
* a path outside `/developer/v3/` answers the web server's HTML 404.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, ClassVar

from finance_sandbox.core import (
    SANDBOX_CREDENTIALS,
    Emulator,
    Sandbox,
    SandboxRequest,
    SandboxResponse,
    ServerRateLimit,
)
from finance_sandbox.salesman_deals import (
    DealExtras,
    course_info,
    currency_info,
    deal_extras,
)
from finance_sandbox.world import SalesmanInvoice, World

PAGE_SIZE = 200  # "установлен лимит в 200 записей на страницу"
API_PREFIX = "/developer/v3/"
VALUTA = "р."

# Users of the sandbox account (login -> iduser). The pipeline's login is the first one.
USERS: dict[str, int] = {
    SANDBOX_CREDENTIALS["salesman"]["login"]: 20,
    "a.petrova@finance.example": 22,
    "i.smirnov@finance.example": 25,
}
USER_NAMES = {20: "Сергей Волков", 22: "Анна Петрова", 25: "Игорь Смирнов"}
# get_people($iduser, "yes"): whose invoices each user sees without `iduser` (self and team).
TEAMS: dict[int, tuple[int, ...]] = {20: (20, 22, 25), 22: (22,), 25: (25,)}

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


# Filtered, sorted `invoice/list` results kept per world version (one per distinct query: a read
# pages through one query, so a handful is plenty).
_LISTS_KEPT = 16


@dataclass
class _Index:
    """What every request would otherwise recompute from the whole list, built once per world
    version: MySQL answers a page from its indexes, so a page must not cost a sort of the whole
    account here either (issue 15: benchmarks measure the pipeline, not the sandbox)."""

    version: tuple[int, ...]
    groups: _Groups
    deal_parts: dict[int, list[SalesmanInvoice]]  # each deal's records, by id
    client_ids: list[int]  # sorted
    # (order, direction, filters) -> the invoices that query selects, in its order.
    lists: dict[tuple[Any, ...], list[SalesmanInvoice]] = field(default_factory=dict)


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
    """invoice.php `list`: `(int)$params['offset']` (PHP's cast: "2.7" -> 2, "abc" -> 0)."""
    if value is None or isinstance(value, (list, dict)):
        if isinstance(value, (list, dict)):
            raise _Rejected(400, "Не правильный запрос: offset должен быть числом")
        return 0
    return _as_int(value)


def _php_truthy(value: Any) -> bool:
    """PHP's `if ($x)`: false for null, false, 0, 0.0, "", "0" and []; true otherwise."""
    if value is None or value is False or value == "" or value == "0":
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0
    if isinstance(value, (list, dict)):
        return bool(value)
    return True


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
    # SalesMan publishes no limit; the sandbox assumes a cloud front-end allowing 20 requests a
    # second with bursts of 20 per API key (the client's live defaults stay far below that; in
    # sandbox mode the client keeps just below it, finance_sandbox/link.py).
    default_rate_limit: ClassVar[ServerRateLimit] = ServerRateLimit(rate=20.0, burst=20)

    def __init__(self, world: World, sandbox: Sandbox) -> None:
        super().__init__(world, sandbox)
        self._lock = threading.Lock()
        self._index: _Index | None = None

    # --- the per-version index -------------------------------------------------------------
    def _version(self) -> tuple[int, ...]:
        # Like the Adesk ledger index: the world changes through advance() (steps) and records
        # are added or deleted (len); a test editing records in place calls invalidate().
        w = self.world
        return (w.steps, len(w.salesman_invoices), id(w.salesman_invoices),
                len(w.salesman_clients))

    def invalidate(self) -> None:
        """Drop the index (for tests that edit world records in place)."""
        with self._lock:
            self._index = None

    def _current(self) -> _Index:
        version = self._version()
        with self._lock:
            index = self._index
            if index is None or index.version != version:
                index = self._index = self._build_index(version)
            return index

    def _build_index(self, version: tuple[int, ...]) -> _Index:
        groups = _Groups()
        deal_parts: dict[int, list[SalesmanInvoice]] = {}
        for inv in self.world.salesman_invoices.values():
            groups.parts.setdefault((inv.invoice, inv.did), []).append(inv)
            groups.deal_totals[inv.did] = groups.deal_totals.get(inv.did, Decimal(0)) + inv.summa
            deal_parts.setdefault(inv.did, []).append(inv)
        for parts in deal_parts.values():
            parts.sort(key=lambda i: i.id)
        return _Index(version, groups, deal_parts, sorted(self.world.salesman_clients))

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
                if params.get("dateStart") or params.get("dateEnd"):
                    return self._sql_error()
                return SandboxResponse.json(self._list(params, USERS[login]))
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
    @staticmethod
    def _sql_error() -> SandboxResponse:
        """`dateStart`/`dateEnd` break Invoice::list()'s WHERE clause: SafeMySQL throws and PHP
        dies (index.php: display_errors on): HTTP 500 with PHP's text, not JSON."""
        return SandboxResponse(
            status=500,
            headers={"content-type": "application/json; charset=utf-8"},
            body=(
                b"<br />\n<b>Fatal error</b>:  Uncaught Exception: You have an error in your SQL "
                b"syntax; check the manual that corresponds to your MySQL server version for the "
                b"right syntax to use near '( DATE(crd.datum) &gt;= ' in "
                b"/var/www/salesman/inc/class/SafeMySQL.php:564"
            ),
        )

    def _list(self, params: dict[str, Any], caller: int) -> dict[str, Any]:
        """methods/invoice.php `list` + inc/class/Invoice.php Invoice::list()."""
        offset = _offset(params.get("offset"))
        page = offset if offset > 0 else 1
        order = str(params.get("order") or "datum")  # invoice.php: default 'datum'
        ord_ = ORDER_SYNONYMS.get(order, order)
        if ord_ not in ORDER_COLUMNS:
            ord_ = "datum_credit"
        descending = params.get("first") != "old"
        variant = self.sandbox.variant(self.source)
        paid_states = _pay_filter(params) & _active_filter(
            params.get("active"), variant.salesman_active
        )
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
        lo, hi = bounds["datum"]
        if lo is not None and hi is None:
            # Invoice::list(): `crd.datum > '$params[dateStart]'`, the wrong parameter; without
            # dateStart (which breaks the query anyway) it is `datum > ''`: every row.
            bounds["datum"] = (None, None)
        iduser = _as_int(params.get("iduser"))
        # Without `iduser`: the caller's team, or whom ServerVariant.salesman_visible_users says.
        visible = (iduser,) if iduser > 0 else (
            variant.salesman_visible_users or TEAMS.get(caller, (caller,))
        )
        clid, did = _as_int(params.get("clid")), _as_int(params.get("did"))
        word = str(params.get("word") or "").lower()
        client_word = str(params.get("client") or "").lower()

        index = self._current()
        key = (ord_, descending, frozenset(paid_states), tuple(bounds.items()), tuple(visible),
               clid, did, word, client_word)
        with self._lock:
            rows = index.lists.get(key)
        if rows is None:
            rows = self._select(paid_states, bounds, visible, clid, did, word, client_word)
            rows.sort(key=lambda inv: _sort_key(inv, ord_), reverse=descending)
            with self._lock:
                while len(index.lists) >= _LISTS_KEPT:
                    index.lists.pop(next(iter(index.lists)))
                index.lists[key] = rows
        count = len(rows)
        chunk = rows[(page - 1) * page_size : page * page_size]
        groups = index.groups
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

    def _select(
        self,
        paid_states: set[bool],
        bounds: dict[str, tuple[datetime | None, datetime | None]],
        visible: tuple[int, ...],
        clid: int,
        did: int,
        word: str,
        client_word: str,
    ) -> list[SalesmanInvoice]:
        """Invoice::list()'s WHERE clause: the invoices a query selects, in no order."""
        rows = []
        for inv in self.world.salesman_invoices.values():
            if inv.paid not in paid_states:
                continue
            if not all(
                _within(_column(inv, column), lo, hi) for column, (lo, hi) in bounds.items()
            ):
                continue
            if inv.iduser not in visible:
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
        return rows

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
        """methods/invoice.php `info` + Invoice::info($crid, $dealinclude)."""
        if "id" not in params or params.get("id") is None:
            return error_body(405, "Отсутствуют параметры - id Счета")
        inv = self.world.salesman_invoices.get(_as_int(params.get("id")))
        with_deal = _php_truthy(params.get("dealinfo"))
        if inv is None:
            # Invoice::info() of a missing row: every key, empty values; never an error.
            data = self._empty_info()
            if with_deal:
                data["deal"] = {"code": 400, "result": "error", "error": "Сделка не найдена"}
            return {"data": data}
        extras = self._deal_extras(inv.did)
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
            "idcurrency": extras.idcurrency,
            "currency": currency_info(extras.idcurrency),
            # Invoice::info(): `$invoice['idcourse'] = (int)$deal['idcurrency']` (sic).
            "idcourse": extras.idcurrency,
            "course": course_info(extras, inv.date_create.date()),
            "signer": None,
        }
        if with_deal:
            data["deal"] = self._deal_info(inv, extras)
        if self._drift():
            data["nds"] = str(data["nds"])
            data["valuta"] = None
            data["author"] = inv.iduser
            data.pop("suffix", None)
        return {"data": data}

    @staticmethod
    def _empty_info() -> dict[str, Any]:
        return {
            "crid": 0, "invoice": None, "datum": None, "datum_credit": None,
            "invoice_date": None, "contractnum": None, "summa": 0, "nds": 0, "clid": 0,
            "pid": 0, "did": 0, "tip": None, "rs": 0, "iduser": 0, "do": None, "suffix": "",
            "valuta": VALUTA, "template": [dict(TEMPLATES["default"])], "idcurrency": 0,
            "currency": [], "idcourse": 0, "course": [], "signer": None,
        }  # fmt: skip

    def _deal_parts(self, did: int) -> list[SalesmanInvoice]:
        return self._current().deal_parts.get(did, [])

    def _deal_extras(self, did: int) -> DealExtras:
        parts = self._deal_parts(did)
        total = sum((i.summa for i in parts), Decimal(0))
        with_vat = any(i.nds > 0 for i in parts)
        clid = parts[0].clid if parts else 0
        others = [c for c in self._current().client_ids if c != clid]
        return deal_extras(did, total, with_vat, clid, others)

    def _deal_info(self, inv: SalesmanInvoice, extras: DealExtras) -> dict[str, Any]:
        """Deal::info($did) (inc/class/Deal.php), the keys SalesMan always sends; `client` and
        `payer` are get_client_info() (a subset of its keys) with `recv`/`bankinfo`."""
        parts = self._deal_parts(inv.did)
        total = sum((i.summa for i in parts), Decimal(0))
        mcid = COMPANIES.get(inv.rs, (0, None))[0]
        user = USER_NAMES.get(inv.iduser, "Не определен")
        return {
            "did": inv.did,
            "dealUID": None,
            "title": inv.deal,
            "datum_plan": inv.date_plan.isoformat(),
            "date_create": inv.date_create.strftime("%Y-%m-%d"),
            "date_update": None,
            "datum_start": None,
            "datum_end": None,
            "stepName": "Счет выставлен",
            "isFrozen": True,
            "idcategory": 6,
            "direction": 1,
            "directionName": "Основное",
            "adres": None,
            "dog_num": None,
            "kol": php_number(total),
            "summa": php_number(total),
            "marga": php_number(total * Decimal("0.2")),
            "kol_fact": php_number(sum((i.summa for i in parts if i.paid), Decimal(0))),
            "iduser": inv.iduser,
            "userUID": None,
            "user": user,
            "autor": inv.iduser,
            "autorName": user,
            "autorUID": None,
            "calculate": "yes",
            "tip": 1,
            "tipName": "Продажа",
            "content": None,
            "mcid": mcid,
            "idcourse": extras.idcourse,
            "idcurrency": extras.idcurrency,
            "accesse": [],
            "contract": {
                "deid": 0, "datum": None, "title": None, "number": None, "datum_start": None,
                "datum_end": None, "des": None, "clid": 0, "did": 0, "idtype": 0, "crid": 0,
            },
            "company": {"id": mcid, "name_ur": COMPANIES.get(inv.rs, (0, None))[1]},
            "invoice": [
                {
                    "id": i.id,
                    "invoice": i.invoice,
                    "date": i.date_create.strftime("%Y-%m-%d"),
                    "datum_credit": i.date_plan.isoformat(),
                    "summa": php_number(i.summa),
                    "nds": php_number(i.nds),
                    "do": "on" if i.paid else None,
                    "date_do": i.date_fact.isoformat() if i.date_fact else None,
                    "contract": i.contract,
                    "rs": i.rs,
                    "tip": i.tip,
                }
                for i in parts
            ],
            "step": {"stepid": 6, "steptitle": 60, "stepname": "Счет выставлен"},
            "close": {"close": "no", "date": None, "summa": 0, "status": None,
                      "statustext": None},
            "speca": [
                {
                    "spid": line.spid,
                    "prid": line.prid,
                    "artikul": line.artikul,
                    "title": line.title,
                    "tip": str(line.tip),
                    "kol": php_number(line.kol),
                    "dop": str(line.dop),
                    "edizm": line.edizm,
                    "price": php_number(line.price),
                    "price_in": php_number(line.price * Decimal("0.8")),
                    "nds": php_number(line.nds),
                    "comment": " ",
                    "comments": " ",
                }
                for line in extras.spec
            ],
            "client": self._client_info(inv.clid),
            "payer": self._client_info(extras.payer_clid),
            "person": [],
        }

    def _client_info(self, clid: int) -> dict[str, Any]:
        client = self.world.salesman_clients.get(clid)
        title = client.title if client is not None else None
        recv = {"castName": title, "castUrName": title, "castInn": None, "castKpp": None}
        return {
            "clid": clid if client is not None else 0,
            "title": title,
            "type": "client",
            "phone": client.phone if client is not None else None,
            "mail_url": client.email if client is not None else None,
            "pid": 0,
            "recv": recv,
            "bankinfo": recv,
        }

    def _drift(self) -> bool:
        return self.sandbox.fault_plan(self.source).drift


def _active_filter(value: Any, reading: str) -> set[bool]:
    """The paid states `active` keeps under ServerVariant.salesman_active: "ignored" (the
    vendor's code never reads it), "filter" (true = paid, false = unpaid, absent = both),
    "default_unpaid" (the doc's "(true / false - по умолчанию)": absent = false)."""
    if reading == "ignored":
        return {True, False}
    text = str(value).strip().lower() if value is not None else ""
    if value is True or text in ("true", "1", "yes", "on"):
        return {True}
    if value is False or text in ("false", "0", "no", "off"):
        return {False}
    return {False} if reading == "default_unpaid" else {True, False}


def _pay_filter(params: dict[str, Any]) -> set[bool]:
    """Invoice::list()'s paid/unpaid filters: `pay1`/`pay2` = "yes" and `pay[on]`/`pay[off]`;
    the `do` values the list keeps. `active` is not among them. Both filters land in the WHERE
    clause, so contradictory ones keep nothing."""
    allowed = {True, False}
    pay1, pay2 = params.get("pay1") == "yes", params.get("pay2") == "yes"
    if pay1 != pay2:
        allowed &= {pay1}
    pay = params.get("pay")
    if isinstance(pay, dict):
        on, off = _php_truthy(pay.get("on")), _php_truthy(pay.get("off"))
        if on != off:
            allowed &= {on}
    return allowed


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
