"""Bitrix24 REST emulator: an inbound webhook of a cloud portal, over the World's records.

What it reproduces (from the official REST docs, github.com/bitrix24/b24restdocs):

URL and auth
    `https://<portal>/rest/<user id>/<key>/<method>` (optionally `<method>.json`, a trailing
    slash is tolerated). Parameters come from the query string and/or the body (JSON, or a
    form), both parsed the PHP way (`filter[>=id]=5`, `select[]=id`). A wrong user id or key
    answers 401 `INVALID_CREDENTIALS`; no credentials 401 `NO_AUTH_FOUND`; an unknown method 404
    `ERROR_METHOD_NOT_FOUND` "Method not found!". Every answer carries `time` (start, finish,
    duration, processing, date_start, date_finish, operating_reset_at, operating).

Limits
    Leaky bucket per portal: 50 requests, drained at 2/s (Sandbox applies it with this
    emulator's `default_rate_limit`); over it: 503 `QUERY_LIMIT_EXCEEDED` "Too many requests".
    A `batch` is one request. Server time of a list call that counts (`start` >= 0, the default)
    grows with the size of the filtered list (the docs measured 49.9 s vs 0.097 s on 2.39 M
    leads); `start=-1` skips the count (no `total`, no `next` for crm.item.*; the classic
    methods answer `"total": 0` as in the docs' example). That time is `cost_seconds` and the
    `operating` of the answer; a method that accumulates more than 480 s of it within 10 minutes
    is blocked: 429 `OPERATION_TIME_LIMIT`.

Methods
    crm.item.list (entityTypeId 31: smart invoices; camelCase fields, numbers as numbers,
    `{"result": {"items": [...]}, "total", "next"}`), crm.item.productrow.list (`=ownerType` and
    `=ownerId` required, `=ownerId` also takes an array; filters only on id/productId/owner,
    order only by id/sort), crm.company.list, crm.requisite.list, crm.product.list (classic
    methods: UPPERCASE fields, values as strings, `result` is the array itself; PHONE/EMAIL only
    when selected), batch (at most 50 commands; more end in `ERROR_BATCH_LENGTH_EXCEEDED`, a
    nested batch in `ERROR_BATCH_METHOD_NOT_ALLOWED`; `$result[cmd][...]` references resolved
    the way CRestUtil::processBatchElement does), server.time, profile.
    Pages hold 50 records, always.

Where the docs disagree or are silent
    `=ownerId` of crm.item.productrow.list accepts an array here: the method's page said for
    years "`=` — equals (works with arrays as well)" and integrations rely on it; its latest
    revision says only `@id` takes arrays. A scalar `=ownerId` of a missing invoice answers 400
    `ACCESS_DENIED` (documented); missing owners in an array are skipped. A missing
    `entityTypeId` answers 400 with error `100` "Could not find value for parameter
    {entityTypeId}" (the generic controller error). Requisites' DATE_MODIFY is null until the
    first edit (RequisiteTable has no default for it). Measure and VAT ids of products are the
    portal's own catalog ids (a fixed table below). Values a batch command takes from the query
    string are strings, exactly as PHP's parse_str gives them (at most 10,000 per command, the
    max_input_vars Bitrix24's site checker asks for).

Deleted records simply disappear from lists (the REST API has no tombstones).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, ClassVar
from urllib.parse import unquote, unquote_plus

from finance_sandbox.core import (
    SANDBOX_CREDENTIALS,
    Emulator,
    SandboxRequest,
    SandboxResponse,
    ServerRateLimit,
)

PAGE_SIZE = 50
BATCH_MAX_LENGTH = 50
MSK = timezone(timedelta(hours=3))
COUNT_COST_PER_ROW = 20e-6  # seconds of server time per row counted for `total`
OPERATING_LIMIT = 480.0  # seconds of server time per method ...
OPERATING_WINDOW = 600.0  # ... within 10 minutes
MAX_INPUT_VARS = 10_000  # php.ini max_input_vars that Bitrix's site checker asks for
INVOICE_ENTITY_TYPE_ID = 31
KNOWN_EMPTY_ENTITY_TYPES = {1, 2, 3, 4, 7}  # leads, deals, contacts, companies, quotes
SMART_INVOICE_OWNER_TYPE = "SI"


class RestError(Exception):
    """An error answer: HTTP status, Bitrix24 error code and description."""

    def __init__(self, status: int, code: Any, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "error_description": self.description}


def _invalid_filter(name: str) -> RestError:
    return RestError(400, "INVALID_ARG_VALUE", f"Invalid filter: field '{name}' has invalid value")


# ---------------------------------------------------------------------------------------------
# PHP query strings (parse_str) and PHP arrays
# ---------------------------------------------------------------------------------------------

_CANONICAL_INT = re.compile(r"^(0|-?[1-9][0-9]*)$")


def _next_index(array: dict[str, Any]) -> int:
    ints = [int(k) for k in array if _CANONICAL_INT.match(k)]
    return max(ints) + 1 if ints else 0


@lru_cache(maxsize=65536)
def _key_path(name: str) -> tuple[str, tuple[str | None, ...]] | None:
    """A variable name split the way PHP's php_register_variable_ex reads it: the base name
    (spaces and dots become '_') and the bracketed keys (None for `[]`); None to skip it."""
    name = name.lstrip(" ")
    bracket = name.find("[")
    if bracket > 0 and "]" not in name[bracket:]:
        # An unterminated index: PHP turns the '[' into '_' and keeps a plain name.
        name = name[:bracket] + "_" + name[bracket + 1 :]
        bracket = -1
    base = name if bracket < 0 else name[:bracket]
    base = base.replace(" ", "_").replace(".", "_")
    if not base:
        return None
    keys: list[str | None] = []
    if bracket >= 0:
        pos = bracket
        while pos < len(name) and name[pos] == "[":
            end = name.find("]", pos + 1)
            if end < 0:
                break
            inner = name[pos + 1 : end]
            keys.append(None if inner == "" else inner)
            pos = end + 1  # anything after a ']' that is not '[' is ignored
    return base, tuple(keys)


def php_assign(target: dict[str, Any], name: str, value: Any) -> None:
    """Register one decoded `name=value` pair the way PHP's php_register_variable_ex does."""
    path = _key_path(name)
    if path is None:
        return
    base, keys = path
    if not keys:
        target[base] = value
        return
    node = target.get(base)
    if not isinstance(node, dict):
        node = target[base] = {}
    last = len(keys) - 1
    for i, key in enumerate(keys):
        if key is None:
            key = str(_next_index(node))
        if i == last:
            node[key] = value
        else:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child


def php_parse_pairs(pairs: Iterable[tuple[str, str]], max_vars: int = MAX_INPUT_VARS) -> dict:
    result: dict[str, Any] = {}
    for count, (key, value) in enumerate(pairs, start=1):
        if count > max_vars:
            break  # PHP warns "Input variables exceeded" and drops the rest
        php_assign(result, key, value)
    return result


@lru_cache(maxsize=65536)
def _decode_key(text: str) -> str:
    return unquote_plus(text)


def _decode(text: str) -> str:
    return unquote_plus(text) if "%" in text or "+" in text else text


def php_parse_str(query: str) -> dict[str, Any]:
    """parse_str(): '&'-separated pairs, each split at its first '=', urldecoded."""
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        pairs.append((_decode_key(key), _decode(value) if sep else ""))
    return php_parse_pairs(pairs)


def as_list(value: Any) -> list[Any] | None:
    """A PHP array used as a list (a JSON list, or keys 0..n): its values; else None."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return None


def php_array(value: dict[str, Any]) -> Any:
    """How PHP's json_encode renders an array: [] when empty, a list when keyed 0..n-1, else an
    object (one level: the values are already JSON-ready)."""
    if not value:
        return []
    keys = list(value)
    if keys == [str(i) for i in range(len(keys))]:
        return list(value.values())
    return value


def _is_true(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "y", "true", "yes", "on")
    return bool(value)


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(MSK).isoformat(timespec="seconds")


def iso_date(day: date | None) -> str | None:
    return None if day is None else f"{day.isoformat()}T00:00:00+03:00"


def number(value: Decimal | int | None) -> int | float | None:
    """A number as Bitrix24's crm.item.* renders it: 19000, 999.9."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def money_str(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def parse_moment(value: Any) -> datetime:
    """A filter date: ISO 8601 (with or without time/offset) or DD.MM.YYYY[ HH:MM[:SS]]."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=MSK)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=MSK)
    text = str(value).strip()
    if not text:
        raise ValueError("empty date")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
        for fmt in ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y"):
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        if parsed is None:
            raise
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=MSK)


# ---------------------------------------------------------------------------------------------
# Fields, filters, order
# ---------------------------------------------------------------------------------------------

INT, NUM, STR, DT, DATE, YN, LIST, MULTI = "int", "num", "str", "dt", "date", "yn", "list", "multi"


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    get: Callable[[Any], Any]
    filterable: bool = True
    sortable: bool = True


def _coerce(kind: str, value: Any, name: str) -> Any:
    """A filter value in the field's comparable form (None stands for "empty")."""
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise _invalid_filter(name)
    if kind in (INT, NUM, LIST):
        if isinstance(value, bool):
            return int(value)
        text = str(value).strip()
        if text == "":
            return None
        try:
            parsed = Decimal(text)
        except InvalidOperation:
            raise _invalid_filter(name) from None
        if not parsed.is_finite():
            raise _invalid_filter(name)
        if kind in (INT, LIST):
            return int(parsed) if parsed == parsed.to_integral_value() else parsed
        return parsed
    if kind in (DT, DATE):
        if str(value).strip() == "":
            return None
        try:
            moment = parse_moment(value)
        except ValueError:
            raise _invalid_filter(name) from None
        return moment.astimezone(MSK).date() if kind == DATE else moment
    if kind == YN:
        if isinstance(value, bool):
            return "Y" if value else "N"
        text = str(value).strip().upper()
        return {"1": "Y", "0": "N", "TRUE": "Y", "FALSE": "N"}.get(text, text)
    text = "1" if value is True else "" if value is False else str(value)
    return text


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _record_value(kind: str, raw: Any) -> Any:
    """A record's value in comparable form."""
    if raw is None:
        return None
    if kind == INT:
        return int(raw)
    if kind == NUM:
        return raw if isinstance(raw, Decimal) else Decimal(str(raw))
    if kind == DT:
        return raw
    if kind == DATE:
        return raw if not isinstance(raw, datetime) else raw.astimezone(MSK).date()
    return raw


def _like(pattern: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in pattern.split("%")]
    return re.compile("^" + ".*".join(parts) + "$", re.IGNORECASE | re.DOTALL)


_PREFIXES = ("!=%", "!%=", ">=", "<=", "!@", "=%", "%=", "!%", "!=", ">", "<", "@", "%", "=", "!")
_COMPARE = {">", ">=", "<", "<="}


def split_key(key: str) -> tuple[str, str]:
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            return prefix, key[len(prefix) :]
    return "", key


def _matcher(op: str, kind: str, fv: Any, name: str) -> Callable[[Any], bool]:
    """Predicate over the record's comparable value for one filter condition."""
    values = as_list(fv)
    if op in ("", "=", "!", "!=") and values is not None:
        wanted = {_fold(_coerce(kind, v, name)) for v in values}
        negate = op in ("!", "!=")

        def in_set(rv: Any) -> bool:
            if kind in (LIST, MULTI):
                hit = any(_fold(x) in wanted for x in (rv or []))
            else:
                hit = rv is not None and _fold(rv) in wanted
            return hit != negate

        return in_set
    if op in ("@", "!@"):
        items = values if values is not None else [fv]
        wanted = {_fold(_coerce(kind, v, name)) for v in items}
        if op == "@":
            if kind in (LIST, MULTI):
                return lambda rv: any(_fold(x) in wanted for x in (rv or []))
            return lambda rv: rv is not None and _fold(rv) in wanted
        if kind in (LIST, MULTI):
            return lambda rv: not any(_fold(x) in wanted for x in (rv or []))
        return lambda rv: rv is not None and _fold(rv) not in wanted
    if values is not None:
        raise _invalid_filter(name)  # an array after a comparison prefix
    if op in _COMPARE:
        target = _coerce(kind, fv, name)
        if target is None:
            return lambda rv: False
        if kind == STR:
            target = str(target)

        def compare(rv: Any) -> bool:
            if rv is None:
                return False
            try:
                if op == ">":
                    return rv > target
                if op == ">=":
                    return rv >= target
                if op == "<":
                    return rv < target
                return rv <= target
            except TypeError:
                return False

        return compare
    if op in ("%", "!%", "=%", "%=", "!=%", "!%="):
        text = "" if fv is None else str(fv)
        regex = _like(f"%{text}%" if op in ("%", "!%") else text)
        negate = op.startswith("!")

        def like(rv: Any) -> bool:
            candidates = rv if isinstance(rv, list) else [rv]
            hit = any(c is not None and regex.match(str(c)) for c in candidates)
            return hit != negate if rv is not None else False

        return like
    # equality ("" or "=") and inequality ("!" or "!=") with a scalar
    target = _coerce(kind, fv, name)
    negate = op in ("!", "!=")
    if target is None or target == "":

        def empty(rv: Any) -> bool:
            blank = rv is None or rv == "" or (isinstance(rv, list) and not rv)
            return blank != negate

        return empty
    folded = _fold(target)

    def equal(rv: Any) -> bool:
        if kind in (LIST, MULTI):
            hit = any(_fold(x) == folded for x in (rv or []))
        else:
            hit = rv is not None and _fold(rv) == folded
        return hit != negate

    return equal


@dataclass
class IdBounds:
    lo: int | None = None  # inclusive
    hi: int | None = None  # inclusive
    ids: set[int] | None = None

    def add(self, op: str, value: Any) -> None:
        if op == ">":
            self._lo(math.floor(value) + 1)
        elif op == ">=":
            self._lo(math.ceil(value))
        elif op == "<":
            self._hi(math.ceil(value) - 1)
        elif op == "<=":
            self._hi(math.floor(value))

    def _lo(self, v: int) -> None:
        self.lo = v if self.lo is None else max(self.lo, v)

    def _hi(self, v: int) -> None:
        self.hi = v if self.hi is None else min(self.hi, v)

    def restrict(self, ids: set[int]) -> None:
        self.ids = ids if self.ids is None else self.ids & ids


@dataclass
class Compiled:
    predicate: Callable[[Any], bool]
    bounds: IdBounds


def compile_filter(raw: Any, fields: dict[str, Field], id_field: str, strict: bool) -> Compiled:
    bounds = IdBounds()
    predicate = _compile_group(raw, fields, id_field, strict, bounds, top=True, logic="AND")
    return Compiled(predicate, bounds)


def _compile_group(
    raw: Any, fields: dict[str, Field], id_field: str, strict: bool, bounds: IdBounds,
    top: bool, logic: str,
) -> Callable[[Any], bool]:
    if raw is None or raw == "" or raw == []:
        return lambda rec: True
    if isinstance(raw, list):
        raw = {str(i): v for i, v in enumerate(raw)}
    if not isinstance(raw, dict):
        if strict:
            raise RestError(400, "INVALID_ARG_VALUE", "Invalid filter: filter must be an array")
        return lambda rec: True
    tests: list[Callable[[Any], bool]] = []
    for key, value in raw.items():
        if str(key).upper() == "LOGIC":
            continue
        if isinstance(value, (dict, list)) and _CANONICAL_INT.match(str(key)):
            sub = value if isinstance(value, dict) else {str(i): v for i, v in enumerate(value)}
            sub_logic = str(sub.get("logic", sub.get("LOGIC", "AND"))).upper()
            tests.append(
                _compile_group(sub, fields, id_field, strict, bounds, top=False, logic=sub_logic)
            )
            continue
        op, name = split_key(str(key))
        spec = fields.get(name)
        if spec is None or not spec.filterable:
            if strict and spec is None:
                raise RestError(
                    400, "INVALID_ARG_VALUE", f"Invalid filter: field '{name}' is not allowed in filter"
                )
            continue
        match = _matcher(op, spec.kind, value, name)
        if top and logic == "AND" and name == id_field:
            values = as_list(value)
            if op in _COMPARE:
                target = _coerce(INT, value, name)
                if target is not None:
                    bounds.add(op, target)
            elif op in ("", "=", "@") and (values is not None or op != "@"):
                items = values if values is not None else [value]
                wanted = set()
                for v in items:
                    c = _coerce(INT, v, name)
                    if isinstance(c, int):
                        wanted.add(c)
                bounds.restrict(wanted)
        getter, kind = spec.get, spec.kind
        tests.append(lambda rec, g=getter, k=kind, m=match: m(_record_value(k, g(rec))))
    if not tests:
        return lambda rec: True
    if logic == "OR":
        return lambda rec: any(t(rec) for t in tests)
    return lambda rec: all(t(rec) for t in tests)


def _sort_key(kind: str, getter: Callable[[Any], Any]) -> Callable[[Any], tuple[int, Any]]:
    def key(rec: Any) -> tuple[int, Any]:
        value = _record_value(kind, getter(rec))
        if value is None:
            return (0, 0)
        return (1, _fold(value) if isinstance(value, str) else value)

    return key


# ---------------------------------------------------------------------------------------------
# Entities
# ---------------------------------------------------------------------------------------------


@dataclass
class View:
    """How one World table looks through one REST method."""

    name: str
    table: Callable[[], dict[int, Any]]
    fields: dict[str, Field]
    id_field: str
    render: Callable[[Any, list[str] | None, bool], dict[str, Any]]


def _fields(*items: Field) -> dict[str, Field]:
    return {f.name: f for f in items}


def _drift_for(record_id: int) -> int:
    return int(hashlib.sha256(str(record_id).encode()).hexdigest()[:4], 16) % 4


# --- smart invoices (crm.item.list, entityTypeId 31) ----------------------------------------

INVOICE_FIELDS = _fields(
    Field("id", INT, lambda r: r.id),
    Field("xmlId", STR, lambda r: None),
    Field("title", STR, lambda r: r.title),
    Field("createdBy", INT, lambda r: r.assigned_by_id),
    Field("updatedBy", INT, lambda r: r.assigned_by_id),
    Field("movedBy", INT, lambda r: r.assigned_by_id),
    Field("createdTime", DT, lambda r: r.created_time),
    Field("updatedTime", DT, lambda r: r.updated_time),
    Field("movedTime", DT, lambda r: r.moved_time),
    Field("categoryId", INT, lambda r: int(r.stage_id.split(":")[0].split("_")[1])),
    Field("opened", YN, lambda r: "Y"),
    Field("stageId", STR, lambda r: r.stage_id),
    Field("previousStageId", STR, lambda r: None),
    Field("begindate", DATE, lambda r: r.begindate),
    Field("closedate", DATE, lambda r: r.closedate),
    Field("companyId", INT, lambda r: r.company_id or 0),
    Field("contactId", INT, lambda r: 0),
    Field("opportunity", NUM, lambda r: r.opportunity),
    Field("isManualOpportunity", YN, lambda r: "Y" if r.is_manual_opportunity else "N"),
    Field("taxValue", NUM, lambda r: r.tax_value),
    Field("currencyId", STR, lambda r: r.currency_id),
    Field("opportunityAccount", NUM, lambda r: r.opportunity),
    Field("taxValueAccount", NUM, lambda r: r.tax_value),
    Field("accountCurrencyId", STR, lambda r: r.currency_id),
    Field("mycompanyId", INT, lambda r: 0),
    Field("sourceId", STR, lambda r: None),
    Field("sourceDescription", STR, lambda r: None),
    Field("webformId", INT, lambda r: 0),
    Field("assignedById", INT, lambda r: r.assigned_by_id),
    Field("lastActivityBy", INT, lambda r: r.assigned_by_id),
    Field("lastActivityTime", DT, lambda r: r.updated_time),
    Field("parentId2", INT, lambda r: r.deal_id),
    Field("accountNumber", STR, lambda r: r.account_number),
    Field("comments", STR, lambda r: None),
    Field("utmSource", STR, lambda r: None),
    Field("utmMedium", STR, lambda r: None),
    Field("utmCampaign", STR, lambda r: None),
    Field("utmContent", STR, lambda r: None),
    Field("utmTerm", STR, lambda r: None),
    Field("observers", LIST, lambda r: [], filterable=True, sortable=False),
    Field("contactIds", LIST, lambda r: [], filterable=True, sortable=False),
    Field("entityTypeId", INT, lambda r: INVOICE_ENTITY_TYPE_ID),
)


_CONVERT: dict[str, Callable[[Any], Any] | None] = {DT: iso, DATE: iso_date, NUM: number}


def _renderer(fields: dict[str, Field]) -> list[tuple[str, Callable[[Any], Any], Any]]:
    return [(n, f.get, _CONVERT.get(f.kind)) for n, f in fields.items()]


def _render_all(plan: list[tuple[str, Callable[[Any], Any], Any]], rec: Any) -> dict[str, Any]:
    out = {}
    for name, get, convert in plan:
        value = get(rec)
        out[name] = convert(value) if convert is not None and value is not None else value
    return out


def render_invoice(rec: Any, select: list[str] | None, drift: bool) -> dict[str, Any]:
    item = _render_all(_INVOICE_PLAN, rec)
    if select is not None and "*" not in select:
        wanted = set(select) | {"id"}
        item = {k: v for k, v in item.items() if k in wanted}
    if drift:
        variant = _drift_for(rec.id)
        item["ufCrm_SMART_INVOICE_1731586310"] = None if variant else "Договор поставки"
        if "opportunity" in item and variant in (0, 1):
            item["opportunity"] = f"{rec.opportunity:.2f}"  # a number sent as a string
        if "comments" in item and variant in (1, 2):
            del item["comments"]  # an optional field left out
        if "closedate" in item and variant == 3:
            item["closedate"] = None  # null where a value was
    return item


# --- product rows (crm.item.productrow.list) ------------------------------------------------

ROW_FIELDS = _fields(
    Field("id", INT, lambda r: r.id),
    Field("ownerId", INT, lambda r: r.owner_id),
    Field("ownerType", STR, lambda r: SMART_INVOICE_OWNER_TYPE),
    Field("productId", INT, lambda r: r.product_id),
    Field("productName", STR, lambda r: r.product_name, filterable=False, sortable=False),
    Field("price", NUM, lambda r: r.price, filterable=False, sortable=False),
    Field("priceAccount", NUM, lambda r: r.price, filterable=False, sortable=False),
    Field("priceExclusive", NUM, lambda r: r.price_exclusive, filterable=False, sortable=False),
    Field("priceNetto", NUM, lambda r: r.price_netto, filterable=False, sortable=False),
    Field("priceBrutto", NUM, lambda r: r.price_brutto, filterable=False, sortable=False),
    Field("quantity", NUM, lambda r: r.quantity, filterable=False, sortable=False),
    Field("discountTypeId", INT, lambda r: r.discount_type_id, filterable=False, sortable=False),
    Field("discountRate", NUM, lambda r: r.discount_rate, filterable=False, sortable=False),
    Field("discountSum", NUM, lambda r: r.discount_sum, filterable=False, sortable=False),
    Field("taxRate", NUM, lambda r: r.tax_rate, filterable=False, sortable=False),
    Field("taxIncluded", YN, lambda r: r.tax_included, filterable=False, sortable=False),
    Field("customized", YN, lambda r: "Y", filterable=False, sortable=False),
    Field("measureCode", INT, lambda r: r.measure_code, filterable=False, sortable=False),
    Field("measureName", STR, lambda r: r.measure_name, filterable=False, sortable=False),
    Field("sort", INT, lambda r: r.sort, filterable=False, sortable=True),
    Field("xmlId", STR, lambda r: None, filterable=False, sortable=False),
    Field("type", INT, lambda r: 1, filterable=False, sortable=False),
    Field("storeId", INT, lambda r: None, filterable=False, sortable=False),
)


def render_row(rec: Any, select: list[str] | None, drift: bool) -> dict[str, Any]:
    row = _render_all(_ROW_PLAN, rec)
    if drift:
        variant = _drift_for(rec.id)
        row["taxName"] = f"НДС {rec.tax_rate}%"
        if variant in (0, 1):
            row["quantity"] = str(number(rec.quantity))
        if variant == 2:
            del row["xmlId"]
        if variant == 3:
            row["measureName"] = None
    return row


_INVOICE_PLAN = _renderer(INVOICE_FIELDS)
_ROW_PLAN = _renderer(ROW_FIELDS)


# --- classic methods: companies, requisites, products --------------------------------------


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


def _fm_id(record_id: int, kind: str) -> str:
    return str(record_id * 2 + (1 if kind == "EMAIL" else 0) + 100_000)


COMPANY_FIELDS = _fields(
    Field("ID", INT, lambda r: r.id),
    Field("COMPANY_TYPE", STR, lambda r: r.company_type),
    Field("TITLE", STR, lambda r: r.title),
    Field("LOGO", STR, lambda r: None),
    Field("LEAD_ID", INT, lambda r: None),
    Field("HAS_PHONE", YN, lambda r: "Y" if r.phone else "N"),
    Field("HAS_EMAIL", YN, lambda r: "Y" if r.email else "N"),
    Field("HAS_IMOL", YN, lambda r: "N"),
    Field("ASSIGNED_BY_ID", INT, lambda r: r.assigned_by_id),
    Field("CREATED_BY_ID", INT, lambda r: r.assigned_by_id),
    Field("MODIFY_BY_ID", INT, lambda r: r.assigned_by_id),
    Field("BANKING_DETAILS", STR, lambda r: None),
    Field("INDUSTRY", STR, lambda r: "OTHER"),
    Field("REVENUE", NUM, lambda r: Decimal(0)),
    Field("CURRENCY_ID", STR, lambda r: "RUB"),
    Field("EMPLOYEES", STR, lambda r: None),
    Field("COMMENTS", STR, lambda r: None),
    Field("DATE_CREATE", DT, lambda r: r.created_time),
    Field("DATE_MODIFY", DT, lambda r: r.updated_time),
    Field("OPENED", YN, lambda r: "Y"),
    Field("IS_MY_COMPANY", YN, lambda r: "N"),
    Field("ORIGINATOR_ID", STR, lambda r: None),
    Field("ORIGIN_ID", STR, lambda r: None),
    Field("ORIGIN_VERSION", STR, lambda r: None),
    Field("ADDRESS", STR, lambda r: None),
    Field("ADDRESS_CITY", STR, lambda r: None),
    Field("ADDRESS_POSTAL_CODE", STR, lambda r: None),
    Field("ADDRESS_COUNTRY", STR, lambda r: None),
    Field("UTM_SOURCE", STR, lambda r: None),
    Field("UTM_MEDIUM", STR, lambda r: None),
    Field("UTM_CAMPAIGN", STR, lambda r: None),
    Field("UTM_CONTENT", STR, lambda r: None),
    Field("UTM_TERM", STR, lambda r: None),
    Field("LAST_ACTIVITY_BY", INT, lambda r: r.assigned_by_id),
    Field("LAST_ACTIVITY_TIME", DT, lambda r: r.updated_time),
    # multifields: filterable by value, returned only when selected by name
    Field("PHONE", MULTI, lambda r: [r.phone] if r.phone else [], sortable=False),
    Field("EMAIL", MULTI, lambda r: [r.email] if r.email else [], sortable=False),
    Field("WEB", MULTI, lambda r: [], sortable=False),
    Field("IM", MULTI, lambda r: [], sortable=False),
)
COMPANY_MULTI = ("PHONE", "EMAIL", "WEB", "IM")


def _classic_value(spec: Field, raw: Any) -> Any:
    if raw is None:
        return None
    if spec.kind == DT:
        return iso(raw)
    if spec.kind == DATE:
        return iso_date(raw)
    if spec.kind == NUM:
        return str(number(raw)) if spec.name not in ("PRICE",) else money_str(raw)
    return str(raw)


def _classic_names(all_fields: dict[str, Field], select: list[str] | None, multi: tuple) -> list:
    plain = [n for n in all_fields if n not in multi]
    if select is None or not select:
        return plain
    wanted = {s.upper() for s in select}
    names = plain if "*" in wanted else [n for n in plain if n in wanted]
    if "ID" not in names:
        names = ["ID", *names]
    return names + [n for n in multi if n in wanted]


def render_company(rec: Any, select: list[str] | None, drift: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _classic_names(COMPANY_FIELDS, select, COMPANY_MULTI):
        if name in COMPANY_MULTI:
            values = COMPANY_FIELDS[name].get(rec)
            if values:
                out[name] = [
                    {"ID": _fm_id(rec.id, name), "VALUE_TYPE": "WORK", "VALUE": v,
                     "TYPE_ID": name}
                    for v in values
                ]
            continue
        spec = COMPANY_FIELDS[name]
        out[name] = _classic_value(spec, spec.get(rec))
    if drift:
        variant = _drift_for(rec.id)
        out["UF_CRM_1731586310"] = "" if variant else "VIP"
        if variant == 1:
            out.pop("COMMENTS", None)
        if variant == 2 and "INDUSTRY" in out:
            out["INDUSTRY"] = None
    return out


def _person(rec: Any) -> list[str]:
    return (rec.rq_name or "").split() if rec.preset_id == 2 else []


REQUISITE_FIELDS = _fields(
    Field("ID", INT, lambda r: r.id),
    Field("ENTITY_TYPE_ID", INT, lambda r: r.entity_type_id),
    Field("ENTITY_ID", INT, lambda r: r.entity_id),
    Field("PRESET_ID", INT, lambda r: r.preset_id),
    Field("DATE_CREATE", DT, lambda r: r.created_time),
    # DATE_MODIFY has no default in RequisiteTable: it stays empty until the first edit.
    Field("DATE_MODIFY", DT, lambda r: r.updated_time if r.updated_time != r.created_time else None),
    Field("CREATED_BY_ID", INT, lambda r: 1),
    Field("MODIFY_BY_ID", INT, lambda r: 1 if r.updated_time != r.created_time else None),
    Field("NAME", STR, lambda r: r.name),
    Field("CODE", STR, lambda r: None),
    Field("XML_ID", STR, lambda r: None),
    Field("ORIGINATOR_ID", STR, lambda r: None),
    Field("ACTIVE", YN, lambda r: "Y"),
    Field("ADDRESS_ONLY", YN, lambda r: "N"),
    Field("SORT", INT, lambda r: 500),
    Field("RQ_NAME", STR, lambda r: r.rq_name),
    Field("RQ_FIRST_NAME", STR, lambda r: (_person(r)[1:2] or [None])[0]),
    Field("RQ_LAST_NAME", STR, lambda r: (_person(r)[0:1] or [None])[0]),
    Field("RQ_SECOND_NAME", STR, lambda r: (_person(r)[2:3] or [None])[0]),
    Field("RQ_COMPANY_ID", STR, lambda r: None),
    Field("RQ_COMPANY_NAME", STR, lambda r: r.rq_company_name),
    Field("RQ_COMPANY_FULL_NAME", STR, lambda r: r.rq_company_full_name),
    Field("RQ_COMPANY_REG_DATE", STR, lambda r: None),
    Field("RQ_DIRECTOR", STR, lambda r: None),
    Field("RQ_ACCOUNTANT", STR, lambda r: None),
    Field("RQ_CEO_NAME", STR, lambda r: None),
    Field("RQ_CEO_WORK_POS", STR, lambda r: None),
    Field("RQ_CONTACT", STR, lambda r: None),
    Field("RQ_EMAIL", STR, lambda r: None),
    Field("RQ_PHONE", STR, lambda r: None),
    Field("RQ_FAX", STR, lambda r: None),
    Field("RQ_IDENT_DOC", STR, lambda r: None),
    Field("RQ_INN", STR, lambda r: r.rq_inn),
    Field("RQ_KPP", STR, lambda r: r.rq_kpp),
    Field("RQ_USRLE", STR, lambda r: None),
    Field("RQ_IFNS", STR, lambda r: None),
    Field("RQ_OGRN", STR, lambda r: r.rq_ogrn),
    Field("RQ_OGRNIP", STR, lambda r: r.rq_ogrnip),
    Field("RQ_OKPO", STR, lambda r: None),
    Field("RQ_OKTMO", STR, lambda r: None),
    Field("RQ_OKVED", STR, lambda r: None),
    Field("RQ_VAT_PAYER", YN, lambda r: "N"),
    Field("RQ_VAT_ID", STR, lambda r: None),
    Field("RQ_RESIDENCE_COUNTRY", STR, lambda r: None),
    Field("RQ_BASE_DOC", STR, lambda r: None),
)


def render_requisite(rec: Any, select: list[str] | None, drift: bool) -> dict[str, Any]:
    out = {
        name: _classic_value(REQUISITE_FIELDS[name], REQUISITE_FIELDS[name].get(rec))
        for name in _classic_names(REQUISITE_FIELDS, select, ())
    }
    if drift:
        variant = _drift_for(rec.id)
        out["UF_CRM_1731586311"] = None
        if variant == 0:
            out.pop("RQ_BASE_DOC", None)
        if variant == 3 and "RQ_KPP" in out:
            out["RQ_KPP"] = None
    return out


# Catalog measures and VAT rates of the portal (ids are the portal's own).
MEASURE_IDS = {796: 5, 356: 11, 166: 9, 876: 13, 6: 1, 112: 3, 778: 15, 163: 7}
VAT_IDS = {0: 2, 10: 3, 20: 4}

PRODUCT_FIELDS = _fields(
    Field("ID", INT, lambda r: r.id),
    Field("CATALOG_ID", INT, lambda r: 23),
    Field("PRICE", NUM, lambda r: r.price),
    Field("CURRENCY_ID", STR, lambda r: r.currency_id),
    Field("NAME", STR, lambda r: r.name),
    Field("CODE", STR, lambda r: None),
    Field("DESCRIPTION", STR, lambda r: None),
    Field("DESCRIPTION_TYPE", STR, lambda r: "text"),
    Field("ACTIVE", YN, lambda r: "Y"),
    Field("SECTION_ID", INT, lambda r: None),
    Field("SORT", INT, lambda r: 500),
    Field("VAT_ID", INT, lambda r: VAT_IDS.get(r.vat_rate, 1)),
    Field("VAT_INCLUDED", YN, lambda r: "Y" if r.vat_included else "N"),
    Field("MEASURE", INT, lambda r: MEASURE_IDS.get(r.measure_code, 5)),
    Field("XML_ID", STR, lambda r: r.article if r.article else str(r.id)),
    Field("PREVIEW_PICTURE", STR, lambda r: None),
    Field("DETAIL_PICTURE", STR, lambda r: None),
    Field("DATE_CREATE", DT, lambda r: r.created_time),
    Field("TIMESTAMP_X", DT, lambda r: r.updated_time),
    Field("MODIFIED_BY", INT, lambda r: 1),
    Field("CREATED_BY", INT, lambda r: 1),
)


def render_product(rec: Any, select: list[str] | None, drift: bool) -> dict[str, Any]:
    out = {
        name: _classic_value(PRODUCT_FIELDS[name], PRODUCT_FIELDS[name].get(rec))
        for name in _classic_names(PRODUCT_FIELDS, select, ())
    }
    if drift:
        variant = _drift_for(rec.id)
        out["PROPERTY_105"] = None if variant else {"valueId": "77", "value": "Да"}
        if variant == 2:
            out.pop("DESCRIPTION", None)
        if variant == 3 and "PRICE" in out:
            out["PRICE"] = float(rec.price)  # a string field sent as a number
    return out


# ---------------------------------------------------------------------------------------------
# Executing list calls
# ---------------------------------------------------------------------------------------------


@dataclass
class ListAnswer:
    rows: list[dict[str, Any]]
    total: int | None
    next: int | None
    cost: float
    envelope: str  # "items" | "productRows" | "plain"


@dataclass
class CallContext:
    """State shared by the calls of one HTTP request (a batch runs many)."""

    world: Any
    drift: bool
    sorted_ids: dict[str, list[int]] = field(default_factory=dict)
    cost: float = 0.0

    def ids(self, view: View) -> list[int]:
        cached = self.sorted_ids.get(view.name)
        if cached is None:
            cached = self.sorted_ids[view.name] = sorted(view.table())
        return cached


def _start_of(params: dict[str, Any], classic: bool) -> int:
    raw = params.get("start", 0)
    try:
        start = int(Decimal(str(raw).strip() or "0"))
    except (InvalidOperation, ValueError):
        start = 0
    if start == -1:
        return -1
    if start < 0:
        return 0
    # Classic methods page by page number: start=75 is page 2 (offset 50).
    return start // PAGE_SIZE * PAGE_SIZE if classic else start


def _order_of(
    raw: Any, fields: dict[str, Field], id_field: str, strict: bool, only: set[str] | None = None,
) -> list[tuple[Field, bool]]:
    order: list[tuple[Field, bool]] = []
    if isinstance(raw, list):
        raw = {str(i): v for i, v in enumerate(raw)} if raw else {}
    if isinstance(raw, dict):
        for name, direction in raw.items():
            spec = fields.get(str(name))
            direction_text = str(direction).strip().upper()
            if spec is None or not spec.sortable or (only is not None and spec.name not in only):
                if strict:
                    raise RestError(
                        400, "INVALID_ARG_VALUE",
                        f"Invalid order: field '{name}' is not allowed in order",
                    )
                continue
            if direction_text not in ("ASC", "DESC"):
                if strict:
                    raise RestError(
                        400, "INVALID_ARG_VALUE",
                        "Invalid order: allowed sort directions are ASC, DESC. "
                        f"But got '{direction}' for field '{name}'",
                    )
                direction_text = "ASC"
            order.append((spec, direction_text == "DESC"))
    if not any(spec.name == id_field for spec, _ in order):
        order.append((fields[id_field], False))  # ties are broken by id
    return order


def run_list(
    ctx: CallContext, view: View, compiled: Compiled, order: list[tuple[Field, bool]],
    start: int, select: list[str] | None, envelope: str, classic: bool,
) -> ListAnswer:
    counting = start >= 0
    offset = max(start, 0)
    need = offset + PAGE_SIZE
    table = view.table()
    bounds = compiled.bounds
    predicate = compiled.predicate
    matched: list[Any] = []
    total = 0
    if bounds.ids is not None:
        candidates: Iterable[int] = sorted(i for i in bounds.ids if i in table)
        if bounds.lo is not None:
            candidates = [i for i in candidates if i >= bounds.lo]
        if bounds.hi is not None:
            candidates = [i for i in candidates if i <= bounds.hi]
        id_list = list(candidates)
    else:
        ids = ctx.ids(view)
        lo = 0 if bounds.lo is None else bisect_left(ids, bounds.lo)
        hi = len(ids) if bounds.hi is None else bisect_right(ids, bounds.hi)
        id_list = ids[lo:hi]
    by_id_only = len(order) == 1 and order[0][0].name == view.id_field
    if by_id_only:
        sequence = reversed(id_list) if order[0][1] else id_list
        for record_id in sequence:
            rec = table.get(record_id)
            if rec is None or not predicate(rec):
                continue
            total += 1
            if len(matched) < need:
                matched.append(rec)
            elif not counting:
                break
        page = matched[offset:need]
    else:
        for record_id in id_list:
            rec = table.get(record_id)
            if rec is not None and predicate(rec):
                matched.append(rec)
        total = len(matched)
        for spec, descending in reversed(order):
            matched.sort(key=_sort_key(spec.kind, spec.get), reverse=descending)
        page = matched[offset:need]
    rows = [view.render(rec, select, ctx.drift) for rec in page]
    cost = total * COUNT_COST_PER_ROW if counting else 0.0
    if not counting:
        return ListAnswer(rows, 0 if classic else None, None, cost, envelope)
    following = offset + PAGE_SIZE
    return ListAnswer(rows, total, following if following < total else None, cost, envelope)


def _select_of(params: dict[str, Any]) -> list[str] | None:
    """The `select` list; None when absent or empty (the method's default fields)."""
    raw = params.get("select")
    values = as_list(raw)
    if values is None:
        return None if raw in (None, "") else [str(raw)]
    names = [str(v) for v in values]
    return names or None


def _entity_type_id(params: dict[str, Any]) -> int:
    raw = params.get("entityTypeId", params.get("ENTITY_TYPE_ID"))
    if raw is None or raw == "":
        raise RestError(400, 100, "Could not find value for parameter {entityTypeId}")
    try:
        return int(Decimal(str(raw)))
    except (InvalidOperation, ValueError):
        raise RestError(400, "NOT_FOUND", "Smart process not found") from None


# ---------------------------------------------------------------------------------------------
# The emulator
# ---------------------------------------------------------------------------------------------

_PATH = re.compile(r"^/rest/(?:(?P<user>[^/]+)/(?P<key>[^/]+)/)?(?P<method>[^/]*)/?$")


class Bitrix24Emulator(Emulator):
    source: ClassVar[str] = "bitrix24"
    default_rate_limit: ClassVar[ServerRateLimit] = ServerRateLimit(rate=2.0, burst=50)

    def __init__(self, world: Any, sandbox: Any) -> None:
        super().__init__(world, sandbox)
        creds = SANDBOX_CREDENTIALS["bitrix24"]
        self.user_id = creds["user_id"]
        self.webhook_key = creds["webhook_key"]
        self._operating: dict[str, deque[tuple[float, float]]] = {}
        self._operating_lock = threading.Lock()
        self._prepared: dict[int, tuple[SandboxRequest, SandboxResponse, float]] = {}
        self._prepared_lock = threading.Lock()
        w = world
        self.views = {
            "invoices": View("invoices", lambda: w.bitrix_invoices, INVOICE_FIELDS, "id",
                             render_invoice),
            "companies": View("companies", lambda: w.bitrix_companies, COMPANY_FIELDS, "ID",
                              render_company),
            "requisites": View("requisites", lambda: w.bitrix_requisites, REQUISITE_FIELDS, "ID",
                               render_requisite),
            "products": View("products", lambda: w.bitrix_products, PRODUCT_FIELDS, "ID",
                             render_product),
        }
        self.methods: dict[str, Callable[[CallContext, dict[str, Any]], Any]] = {
            "crm.item.list": self._crm_item_list,
            "crm.item.productrow.list": self._productrow_list,
            "crm.company.list": self._classic_list("companies"),
            "crm.requisite.list": self._classic_list("requisites"),
            "crm.product.list": self._classic_list("products"),
            "server.time": lambda ctx, params: datetime.now(MSK).isoformat(timespec="seconds"),
            "profile": lambda ctx, params: {
                "ID": self.user_id, "ADMIN": True, "NAME": "Интеграция", "LAST_NAME": "Финансы",
                "PERSONAL_GENDER": "", "TIME_ZONE": "", "TIME_ZONE_OFFSET": 10800,
            },
        }

    # -- routing and auth ----------------------------------------------------------------------
    def _route(self, request: SandboxRequest) -> tuple[str | None, str | None, str] | None:
        match = _PATH.match(request.path)
        if match is None:
            return None
        user = unquote(match["user"]) if match["user"] else None
        key = unquote(match["key"]) if match["key"] else None
        method = unquote(match["method"]).lower()
        if method.endswith(".json"):
            method = method[: -len(".json")]
        return user, key, method

    def account_of(self, request: SandboxRequest) -> str | None:
        route = self._route(request)
        if route is None:
            return None
        user, key, _ = route
        if user == self.user_id and key == self.webhook_key:
            return "portal"  # the limit is per portal, whichever webhook or app calls
        return None

    def throttled(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json(
            {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}, 503
        )

    def server_error(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json(
            {"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"}, 500
        )

    def error_answer(self, request: SandboxRequest, status: int) -> SandboxResponse:
        """Persistent faults, answered the way Bitrix24 answers that kind of failure."""
        if status == 401:
            error = RestError(401, "INVALID_CREDENTIALS", "Invalid request credentials")
        elif status == 402:
            # Bitrix24 has no 402: a portal without REST on its plan answers 401 ACCESS_DENIED.
            error = RestError(401, "ACCESS_DENIED", "REST is available only by subscription")
        elif status == 403:
            error = RestError(403, "PORTAL_DELETED", "Portal was deleted")
        elif status == 404:
            error = RestError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
        elif status == 429:
            error = RestError(
                429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit"
            )
        else:
            error = RestError(status, "INVALID_ARG_VALUE", "Invalid values for input parameters")
        return SandboxResponse.json(error.body(), error.status)

    # -- the request ---------------------------------------------------------------------------
    def cost_seconds(self, request: SandboxRequest) -> float:
        # The answer is computed here (the cost is what computing it took: counting rows for
        # `total`) and handed to `handle`, which the Sandbox calls after sleeping that long.
        response, cost = self._respond(request)
        with self._prepared_lock:
            self._prepared[id(request)] = (request, response, cost)
        return cost

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        with self._prepared_lock:
            prepared = self._prepared.pop(id(request), None)
        if prepared is not None and prepared[0] is request:
            return prepared[1]
        return self._respond(request)[0]

    def _respond(self, request: SandboxRequest) -> tuple[SandboxResponse, float]:
        started = time.time()
        route = self._route(request)
        if route is None:
            return SandboxResponse.html(
                "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1>"
                "</body></html>", 404
            ), 0.0
        user, key, method = route
        try:
            if user is None:
                if request.param("auth") or self._body_params(request).get("auth"):
                    raise RestError(401, "invalid_token", "Unable to get application by token")
                raise RestError(401, "NO_AUTH_FOUND", "Wrong authorization data")
            if user != self.user_id or key != self.webhook_key:
                raise RestError(401, "INVALID_CREDENTIALS", "Invalid request credentials")
            if method not in self.methods and method != "batch":
                raise RestError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
            params = self._params(request)
            ctx = CallContext(self.world, self.sandbox.fault_plan(self.source).drift)
            if method == "batch":
                payload = self._batch(ctx, params, started)
            else:
                payload = self._call(ctx, method, params)
        except RestError as error:
            return SandboxResponse.json(error.body(), error.status), 0.0
        scaled = ctx.cost * self.sandbox.settings.cost_scale
        payload["time"] = self._time(started, scaled, method)
        return SandboxResponse.json(payload), ctx.cost

    @staticmethod
    def _body_params(request: SandboxRequest) -> dict[str, Any]:
        if not request.body:
            return {}
        ctype = request.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" in ctype:
            return php_parse_pairs(request.form())
        try:
            body = json.loads(request.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            if "json" in ctype:
                raise RestError(400, "INVALID_REQUEST", "Invalid JSON in the request body") from None
            return php_parse_str(request.body.decode("utf-8", "replace"))
        return body if isinstance(body, dict) else {}

    def _params(self, request: SandboxRequest) -> dict[str, Any]:
        params = php_parse_pairs(request.query)
        params.update(self._body_params(request))
        return params

    def _time(self, started: float, cost: float, method: str) -> dict[str, Any]:
        finish = max(time.time(), started + cost)
        reset = self._operating_reset(method)
        return {
            "start": round(started, 6),
            "finish": round(finish, 6),
            "duration": round(finish - started, 6),
            "processing": round(finish - started, 6),
            "date_start": datetime.fromtimestamp(started, MSK).isoformat(timespec="seconds"),
            "date_finish": datetime.fromtimestamp(finish, MSK).isoformat(timespec="seconds"),
            "operating_reset_at": int(reset),
            "operating": round(cost, 6),
        }

    # -- operating-time limit ------------------------------------------------------------------
    def _operating_check(self, method: str) -> None:
        now = time.monotonic()
        with self._operating_lock:
            spent = self._operating.get(method)
            if not spent:
                return
            while spent and spent[0][0] < now - OPERATING_WINDOW:
                spent.popleft()
            if sum(c for _, c in spent) > OPERATING_LIMIT:
                raise RestError(
                    429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit"
                )

    def _operating_add(self, method: str, cost: float) -> None:
        if cost <= 0:
            return
        with self._operating_lock:
            self._operating.setdefault(method, deque()).append(
                (time.monotonic(), cost * self.sandbox.settings.cost_scale)
            )

    def _operating_reset(self, method: str) -> float:
        with self._operating_lock:
            spent = self._operating.get(method)
            first = spent[0][0] if spent else time.monotonic()
        return time.time() + (first + OPERATING_WINDOW - time.monotonic())

    # -- methods -------------------------------------------------------------------------------
    def _call(self, ctx: CallContext, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._operating_check(method)
        before = ctx.cost
        answer = self.methods[method](ctx, params)
        self._operating_add(method, ctx.cost - before)
        if isinstance(answer, ListAnswer):
            if answer.envelope == "plain":
                payload: dict[str, Any] = {"result": answer.rows}
            else:
                payload = {"result": {answer.envelope: answer.rows}}
            if answer.total is not None:
                payload["total"] = answer.total
            if answer.next is not None:
                payload["next"] = answer.next
            return payload
        return {"result": answer}

    def _crm_item_list(self, ctx: CallContext, params: dict[str, Any]) -> ListAnswer:
        entity_type_id = _entity_type_id(params)
        if entity_type_id != INVOICE_ENTITY_TYPE_ID:
            if entity_type_id in KNOWN_EMPTY_ENTITY_TYPES:
                start = _start_of(params, classic=False)
                total = None if start < 0 else 0
                return ListAnswer([], total, None, 0.0, "items")
            raise RestError(400, "NOT_FOUND", "Smart process not found")
        view = self.views["invoices"]
        compiled = compile_filter(params.get("filter"), view.fields, "id", strict=True)
        order = _order_of(params.get("order"), view.fields, "id", strict=True)
        start = _start_of(params, classic=False)
        answer = run_list(
            ctx, view, compiled, order, start, _select_of(params), "items", classic=False
        )
        ctx.cost += answer.cost
        return answer

    def _productrow_list(self, ctx: CallContext, params: dict[str, Any]) -> ListAnswer:
        raw_filter = params.get("filter")
        if isinstance(raw_filter, list):
            raw_filter = {str(i): v for i, v in enumerate(raw_filter)}
        if not isinstance(raw_filter, dict):
            raw_filter = {}
        if "=ownerType" not in raw_filter or "=ownerId" not in raw_filter:
            raise RestError(
                400, "REQUIRED_ARG_MISSING",
                "Required filter keys =ownerType and =ownerId are missing",
            )
        owner_type = str(raw_filter["=ownerType"]).strip().upper()
        owner_raw = raw_filter["=ownerId"]
        owners = as_list(owner_raw)
        invoices = self.world.bitrix_invoices
        if owners is None:
            try:
                owner_id = int(Decimal(str(owner_raw)))
            except (InvalidOperation, ValueError):
                raise RestError(400, "INVALID_ARG_VALUE", "Invalid value of =ownerId") from None
            if owner_type != SMART_INVOICE_OWNER_TYPE or owner_id not in invoices:
                raise RestError(400, "ACCESS_DENIED", "Access denied")
            owner_ids = [owner_id]
        else:
            owner_ids = []
            for value in owners:
                try:
                    owner_ids.append(int(Decimal(str(value))))
                except (InvalidOperation, ValueError):
                    raise RestError(400, "INVALID_ARG_VALUE", "Invalid value of =ownerId") from None
            if owner_type != SMART_INVOICE_OWNER_TYPE:
                owner_ids = []
        rows: dict[int, Any] = {}
        for owner_id in owner_ids:
            invoice = invoices.get(owner_id)
            if invoice is not None:
                for row in invoice.rows:
                    rows[row.id] = row
        # Only id, productId and the owner keys are indexed; other conditions are ignored.
        conditions = {}
        for key, value in raw_filter.items():
            op, name = split_key(str(key))
            if name in ("id", "productId"):
                if as_list(value) is not None and op not in ("@", "", "=", "!", "!="):
                    raise RestError(
                        400, "INVALID_ARG_VALUE",
                        f"Invalid filter: an array is not allowed for '{key}'",
                    )
                conditions[key] = value
        view = View("productrows", lambda: rows, ROW_FIELDS, "id", render_row)
        compiled = compile_filter(conditions, ROW_FIELDS, "id", strict=False)
        raw_order = params.get("order")
        if not raw_order:
            raw_order = {"sort": "ASC"}
        order = _order_of(raw_order, ROW_FIELDS, "id", strict=False, only={"id", "sort"})
        start = _start_of(params, classic=False)
        local = CallContext(self.world, ctx.drift)
        answer = run_list(local, view, compiled, order, start, None, "productRows", classic=False)
        ctx.cost += answer.cost
        return answer

    def _classic_list(self, name: str) -> Callable[[CallContext, dict[str, Any]], ListAnswer]:
        def call(ctx: CallContext, params: dict[str, Any]) -> ListAnswer:
            view = self.views[name]
            compiled = compile_filter(params.get("filter"), view.fields, "ID", strict=False)
            order = _order_of(params.get("order"), view.fields, "ID", strict=False)
            start = _start_of(params, classic=True)
            answer = run_list(
                ctx, view, compiled, order, start, _select_of(params), "plain", classic=True
            )
            ctx.cost += answer.cost
            return answer

        return call

    # -- batch ---------------------------------------------------------------------------------
    def _batch(self, ctx: CallContext, params: dict[str, Any], started: float) -> dict[str, Any]:
        halt = _is_true(params.get("halt", False))
        commands = params.get("cmd")
        if isinstance(commands, list):
            commands = {str(i): v for i, v in enumerate(commands)}
        if not isinstance(commands, dict):
            commands = {}
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        totals: dict[str, Any] = {}
        nexts: dict[str, Any] = {}
        times: dict[str, Any] = {}
        state = {"result": results, "next": nexts, "total": totals, "time": times, "error": errors}
        for index, (name, command) in enumerate(commands.items()):
            if index >= BATCH_MAX_LENGTH:
                errors[name] = {
                    "error": "ERROR_BATCH_LENGTH_EXCEEDED",
                    "error_description": "Max batch length exceeded",
                }
                if halt:
                    break
                continue
            command_started = time.time()
            text = command if isinstance(command, str) else ""
            method, _, query = text.partition("?")
            method = method.strip().lower()
            if method.endswith(".json"):
                method = method[: -len(".json")]
            before = ctx.cost
            try:
                if method == "batch":
                    raise RestError(
                        405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage"
                    )
                if method not in self.methods:
                    raise RestError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
                sub_params = resolve_references(php_parse_str(query), state) if query else {}
                payload = self._call(ctx, method, sub_params)
            except RestError as error:
                errors[name] = error.body()
                if halt:
                    break
                continue
            results[name] = payload["result"]
            if "total" in payload:
                totals[name] = payload["total"]
            if "next" in payload:
                nexts[name] = payload["next"]
            spent = ctx.cost - before
            finish = max(time.time(), command_started + spent)
            times[name] = {
                "start": round(command_started, 6),
                "finish": round(finish, 6),
                "duration": round(finish - command_started, 6),
                "processing": round(finish - command_started, 6),
                "date_start": datetime.fromtimestamp(command_started, MSK).isoformat(
                    timespec="seconds"
                ),
                "date_finish": datetime.fromtimestamp(finish, MSK).isoformat(timespec="seconds"),
                "operating": round(spent, 6),
            }
        return {
            "result": {
                "result": php_array(results),
                "result_error": php_array(errors),
                "result_total": php_array(totals),
                "result_next": php_array(nexts),
                "result_time": php_array(times),
            }
        }


# ---------------------------------------------------------------------------------------------
# batch: $result[...] references (CRestUtil::processBatchStructure / processBatchElement)
# ---------------------------------------------------------------------------------------------

_REFERENCE = re.compile(r"\$(result|next|total|time|error)([^\s]*)", re.IGNORECASE)
_PATH_PART = re.compile(r"\[([^\]]+)\]")


def _php_isset_get(container: Any, key: str) -> tuple[bool, Any]:
    if isinstance(container, dict):
        value = container.get(key)
        return value is not None, value
    if isinstance(container, list):
        if _CANONICAL_INT.match(key) and 0 <= int(key) < len(container):
            value = container[int(key)]
            return value is not None, value
        return False, None
    if isinstance(container, str) and _CANONICAL_INT.match(key) and 0 <= int(key) < len(container):
        return True, container[int(key)]
    return False, None


def resolve_reference_value(value: str, state: dict[str, Any]) -> Any:
    """One parameter value with `$result[cmd][...]` references replaced, as PHP does it.

    A path that does not resolve stops at the last key that existed (so the value becomes that
    array); a value that is exactly one reference takes the referenced value with its type.
    """
    if "$" not in value:
        return value
    matches = list(_REFERENCE.finditer(value))
    if not matches:
        return value
    out: Any = value
    for match in matches:
        parts = _PATH_PART.findall(match.group(2))
        if not parts:
            continue
        current: Any = state.get(match.group(1))  # "$RESULT[...]" is an undefined index: null
        for key in parts:
            ok, child = _php_isset_get(current, key)
            if not ok:
                break
            current = child
        if match.group(0) == value:
            return current
        if isinstance(current, bool):
            continue
        if isinstance(current, (int, float, Decimal)):
            current = str(current)
        if not isinstance(current, str):
            continue
        out = out.replace(match.group(0), current) if isinstance(out, str) else out
    return out


def resolve_references(params: Any, state: dict[str, Any]) -> Any:
    if isinstance(params, dict):
        return {k: resolve_references(v, state) for k, v in params.items()}
    if isinstance(params, str):
        return resolve_reference_value(params, state)
    return params
