"""Executing a list call: filter, order, page (`start`), count (`total`)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from finance_sandbox.bitrix24.entities import View
from finance_sandbox.bitrix24.filters import Compiled, Field, resolve_field, sort_key
from finance_sandbox.bitrix24.php import as_list
from finance_sandbox.bitrix24.protocol import COUNT_COST_PER_ROW, PAGE_SIZE, RestError

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


def start_of(params: dict[str, Any], classic: bool) -> int:
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


def order_of(
    raw: Any,
    fields: dict[str, Field],
    id_field: str,
    strict: bool,
    only: set[str] | None = None,
) -> list[tuple[Field, bool]]:
    order: list[tuple[Field, bool]] = []
    if isinstance(raw, list):
        raw = {str(i): v for i, v in enumerate(raw)} if raw else {}
    if isinstance(raw, dict):
        for name, direction in raw.items():
            spec = resolve_field(fields, str(name))
            direction_text = str(direction).strip().upper()
            if spec is None or not spec.sortable or (only is not None and spec.name not in only):
                if strict:
                    raise RestError(
                        400,
                        "INVALID_ARG_VALUE",
                        f"Invalid order: field '{name}' is not allowed in order",
                    )
                continue
            if direction_text not in ("ASC", "DESC"):
                if strict:
                    raise RestError(
                        400,
                        "INVALID_ARG_VALUE",
                        "Invalid order: allowed sort directions are ASC, DESC. "
                        f"But got '{direction}' for field '{name}'",
                    )
                direction_text = "ASC"
            order.append((spec, direction_text == "DESC"))
    if not any(spec.name == id_field for spec, _ in order):
        order.append((fields[id_field], False))  # ties are broken by id
    return order


def run_list(
    ctx: CallContext,
    view: View,
    compiled: Compiled,
    order: list[tuple[Field, bool]],
    start: int,
    select: list[str] | None,
    envelope: str,
    classic: bool,
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
            matched.sort(key=sort_key(spec.kind, spec.get), reverse=descending)
        page = matched[offset:need]
    rows = [view.render(rec, select, ctx.drift) for rec in page]
    cost = total * COUNT_COST_PER_ROW if counting else 0.0
    if not counting:
        return ListAnswer(rows, 0 if classic else None, None, cost, envelope)
    following = offset + PAGE_SIZE
    return ListAnswer(rows, total, following if following < total else None, cost, envelope)


def select_of(params: dict[str, Any]) -> list[str] | None:
    """The `select` list; None when absent or empty (the method's default fields)."""
    raw = params.get("select")
    values = as_list(raw)
    if values is None:
        return None if raw in (None, "") else [str(raw)]
    names = [str(v) for v in values]
    return names or None


def entity_type_id_of(params: dict[str, Any]) -> int:
    raw = params.get("entityTypeId", params.get("ENTITY_TYPE_ID"))
    if raw is None or raw == "":
        raise RestError(400, 100, "Could not find value for parameter {entityTypeId}")
    try:
        return int(Decimal(str(raw)))
    except (InvalidOperation, ValueError):
        raise RestError(400, "NOT_FOUND", "Smart process not found") from None
