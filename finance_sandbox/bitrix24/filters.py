"""Values as Bitrix24 writes them, and the fields, filters and order of list calls."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from finance_sandbox.bitrix24.php import CANONICAL_INT, as_list
from finance_sandbox.bitrix24.protocol import MSK, RestError, invalid_filter

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


def field_key(name: str) -> str:
    """A field name folded so that camelCase and UPPER_CASE spellings meet: `stageId`,
    `STAGE_ID` and `stageid` all fold to "STAGEID"; `ufCrm5_123` and `UF_CRM_5_123` to
    "UFCRM5123"."""
    return name.upper().replace("_", "")


class FieldSet(dict[str, Field]):
    """The fields of one method, keyed by their REST name.

    `any_case` is set for crm.item.*: the docs (b24restdocs api-reference/crm/universal/index.md,
    "Features of Working with Field Names") say the fields are stored in UPPER_CASE and converted
    to camelCase for REST, and crm.item.fields publishes each field's `upperName`
    (crm-item-fields.md); portals accept either spelling in select/order/filter and always answer
    in camelCase. Classic methods (crm.company.list, ...) keep their own UPPER names, and
    crm.item.productrow.list documents camelCase only ("Write the filter keys in camelCase").
    """

    def __init__(self, fields: dict[str, Field], any_case: bool = False) -> None:
        super().__init__(fields)
        self.any_case = any_case
        self._folded = {field_key(name): name for name in fields}

    def resolve(self, name: str) -> Field | None:
        spec = self.get(name)
        if spec is None and self.any_case:
            canonical = self._folded.get(field_key(name))
            spec = None if canonical is None else self[canonical]
        return spec

    def canonical(self, name: str) -> str | None:
        spec = self.resolve(name)
        return None if spec is None else spec.name


def resolve_field(fields: dict[str, Field], name: str) -> Field | None:
    return fields.resolve(name) if isinstance(fields, FieldSet) else fields.get(name)


def _coerce(kind: str, value: Any, name: str) -> Any:
    """A filter value in the field's comparable form (None stands for "empty")."""
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise invalid_filter(name)
    if kind in (INT, NUM, LIST):
        if isinstance(value, bool):
            return int(value)
        text = str(value).strip()
        if text == "":
            return None
        try:
            parsed = Decimal(text)
        except InvalidOperation:
            raise invalid_filter(name) from None
        if not parsed.is_finite():
            raise invalid_filter(name)
        if kind in (INT, LIST):
            return int(parsed) if parsed == parsed.to_integral_value() else parsed
        return parsed
    if kind in (DT, DATE):
        if str(value).strip() == "":
            return None
        try:
            moment = parse_moment(value)
        except ValueError:
            raise invalid_filter(name) from None
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
        raise invalid_filter(name)  # an array after a comparison prefix
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
    raw: Any,
    fields: dict[str, Field],
    id_field: str,
    strict: bool,
    bounds: IdBounds,
    top: bool,
    logic: str,
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
        if isinstance(value, (dict, list)) and CANONICAL_INT.match(str(key)):
            sub = value if isinstance(value, dict) else {str(i): v for i, v in enumerate(value)}
            sub_logic = str(sub.get("logic", sub.get("LOGIC", "AND"))).upper()
            tests.append(
                _compile_group(sub, fields, id_field, strict, bounds, top=False, logic=sub_logic)
            )
            continue
        op, name = split_key(str(key))
        spec = resolve_field(fields, name)
        if spec is None or not spec.filterable:
            if strict and spec is None:
                raise RestError(
                    400,
                    "INVALID_ARG_VALUE",
                    f"Invalid filter: field '{name}' is not allowed in filter",
                )
            continue
        match = _matcher(op, spec.kind, value, name)
        if top and logic == "AND" and spec.name == id_field:
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


def sort_key(kind: str, getter: Callable[[Any], Any]) -> Callable[[Any], tuple[int, Any]]:
    def key(rec: Any) -> tuple[int, Any]:
        value = _record_value(kind, getter(rec))
        if value is None:
            return (0, 0)
        return (1, _fold(value) if isinstance(value, str) else value)

    return key
