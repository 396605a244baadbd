"""Bitrix24 entities: what is extracted, and which batch reads (`batch.py`) fetch each.

Product rows
    crm.item.productrow.list needs `=ownerType` and `=ownerId`; `=ownerId` takes an array, so a
    chain reads the rows of a chunk of up to 500 invoices (kept well below PHP's max_input_vars
    per command) in row-id order. The first round assumes few rows per invoice (the history of
    the raw table when there is one, else 1), so its pages come back full and its counted last
    pages tell the rest per chunk; the second round reads that rest (plus a page), packed.

Incremental syncs
    Invoices: `>=updatedTime` since the cursor minus `INVOICE_LOOKBACK`. Any change of a smart
    invoice (stage, amount, rows, title) moves `updatedTime`, so the lookback is only for clock
    skew and writes committing late. Companies: `>=DATE_MODIFY`; products: `>=TIMESTAMP_X`;
    requisites: `>=DATE_MODIFY` or `>=DATE_CREATE` (a requisite's DATE_MODIFY stays empty until
    its first edit). Product rows: re-read for every invoice whose raw row changed (`changed_at`)
    since the product-row cursor (a watermark of raw.bitrix24_invoices.changed_at); those
    invoices are declared complete, so their vanished rows are marked deleted, and the rows of
    invoices deleted upstream are marked deleted too.

    Deletions of invoices, companies, requisites and products (Bitrix24 lists have no
    tombstones) are found the same run by comparing the full id list (bitrix24/reconcile.py);
    missed until the next full refresh: only edits that do not move the change timestamp
    (none known for these entities).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from finance_pipeline.sources.bitrix24.batch import (
    SOURCE,
    ListCall,
    Scan,
    ScanStats,
    Window,
    filtered_scan,
    full_scan,
)
from finance_pipeline.sources.bitrix24.reconcile import IdListPlan
from finance_pipeline.sources.extraction import EntitySpec, ExtractContext, parse_cursor

INVOICE_ENTITY_TYPE_ID = 31
OWNER_TYPE = "SI"  # product rows of smart invoices
OWNERS_PER_COMMAND = 500
INVOICE_LOOKBACK = timedelta(minutes=10)
CLASSIC_LOOKBACK = timedelta(minutes=10)
DEFAULT_ROWS_PER_INVOICE = 1.0  # first-round assumption when the warehouse has no history


# --- entities ---------------------------------------------------------------------------------

INVOICE_CALL = ListCall(
    "crm.item.list", {"entityTypeId": INVOICE_ENTITY_TYPE_ID, "select": ["*"]}, {}, "id", "items"
)
COMPANY_CALL = ListCall(
    "crm.company.list", {"select": ["*", "UF_*", "PHONE", "EMAIL", "WEB", "IM"]}, {}, "ID", None
)
REQUISITE_CALL = ListCall("crm.requisite.list", {"select": ["*", "UF_*"]}, {}, "ID", None)
PRODUCT_CALL = ListCall("crm.product.list", {"select": ["*"]}, {}, "ID", None)


def _since_text(ctx: ExtractContext) -> str:
    assert ctx.since is not None
    return ctx.since.astimezone(UTC).isoformat(timespec="seconds")


def _read(ctx: ExtractContext, call: ListCall, changed_fields: tuple[str, ...], label: str,
          stats: ScanStats | None = None) -> Iterator[list[dict[str, Any]]]:
    if ctx.since is None:
        yield from full_scan(ctx, call, label, stats)
        return
    since = _since_text(ctx)
    calls = [
        ListCall(call.method, call.params, {**call.filter, f">={name}": since}, call.id_field,
                 call.rows_key)
        for name in changed_fields
    ]
    yield from filtered_scan(ctx, calls, label, stats)


def fetch_invoices(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
    yield from _read(ctx, INVOICE_CALL, ("updatedTime",), "invoices")


def fetch_companies(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
    yield from _read(ctx, COMPANY_CALL, ("DATE_MODIFY",), "companies")


def fetch_requisites(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
    yield from _read(ctx, REQUISITE_CALL, ("DATE_MODIFY", "DATE_CREATE"), "requisites")


def fetch_products(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
    yield from _read(ctx, PRODUCT_CALL, ("TIMESTAMP_X",), "products")


# --- product rows ---------------------------------------------------------------------------

ROW_CALL = ListCall(
    "crm.item.productrow.list", {}, {"=ownerType": OWNER_TYPE}, "id", "productRows"
)


def _rows_per_invoice(ctx: ExtractContext) -> float:
    """Rows per invoice seen by earlier syncs; a low first guess keeps first pages full."""
    counts = ctx.query(
        "SELECT (SELECT count(*) FROM raw.bitrix24_invoice_product_rows WHERE deleted_at IS NULL),"
        " (SELECT count(*) FROM raw.bitrix24_invoices WHERE deleted_at IS NULL)"
    )
    if counts and counts[0][0] and counts[0][1] and counts[0][1] >= 50:
        return max(0.2, float(counts[0][0]) / float(counts[0][1]))
    return DEFAULT_ROWS_PER_INVOICE


def product_row_windows(invoice_ids: list[int], per_invoice: float) -> list[Window]:
    ids = sorted(set(invoice_ids))
    windows = []
    for i in range(0, len(ids), OWNERS_PER_COMMAND):
        chunk = ids[i : i + OWNERS_PER_COMMAND]
        windows.append(
            Window(ROW_CALL, est=max(1.0, per_invoice * len(chunk)), extra={"=ownerId": chunk})
        )
    return windows


def fetch_product_rows(ctx: ExtractContext, stats: ScanStats | None = None
                       ) -> Iterator[list[dict[str, Any]]]:
    watermark = ctx.query("SELECT max(changed_at) FROM raw.bitrix24_invoices")
    if watermark and watermark[0][0] is not None:
        ctx.new_cursor = _iso(watermark[0][0])
    if ctx.since is None:
        live = ctx.query("SELECT id FROM raw.bitrix24_invoices WHERE deleted_at IS NULL")
        ids = [int(r[0]) for r in live]
        gone: list[int] = []
    else:
        since = ctx.since
        changed = ctx.query(
            "SELECT id, deleted_at IS NOT NULL FROM raw.bitrix24_invoices WHERE changed_at > ?",
            [since],
        )
        ids = [int(r[0]) for r in changed if not r[1]]
        gone = [int(r[0]) for r in changed if r[1]]
        # Every row of these invoices was read (or they no longer exist): missing rows of
        # theirs in the warehouse were deleted upstream.
        ctx.declare_complete_for(ids + gone)
    ctx.progress(
        f"bitrix24 product rows: {len(ids)} invoices to read"
        + (f", {len(gone)} deleted" if gone else "")
    )
    if not ids:
        if ctx.since is None and not (watermark and watermark[0][0] is not None):
            ctx.progress("bitrix24 product rows: raw.bitrix24_invoices is empty; sync invoices first")
        return
    windows = product_row_windows(ids, _rows_per_invoice(ctx))
    scan = Scan(ctx.client, windows, label="product rows", stats=stats)
    yield from scan.pages(ctx, ROW_CALL.method)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat()
    return str(value)


def _id_list(call: ListCall, table: str, label: str) -> Callable[[], IdListPlan]:
    """The entity's reconciliation: its full id list vs ours (bitrix24/reconcile.py)."""
    return lambda: IdListPlan(call, table, label)


def _record_cursor(*names: str) -> Callable[[dict[str, Any]], str | None]:
    def cursor_of(row: dict[str, Any]) -> str | None:
        values = [row.get(n) for n in names]
        present = [v for v in values if isinstance(v, str) and v]
        if not present:
            return None
        return max(present, key=parse_cursor)

    return cursor_of


ENTITIES: list[EntitySpec] = [
    EntitySpec(
        source=SOURCE,
        entity="invoices",
        description=(
            "Bitrix24 smart invoices (crm.item.list, entityTypeId 31) as the API returns them: "
            "camelCase fields, amounts as numbers, dates with the portal's offset."
        ),
        fetch=fetch_invoices,
        cursor_of=_record_cursor("updatedTime"),
        lookback=INVOICE_LOOKBACK,
        reconcile=_id_list(INVOICE_CALL, "bitrix24_invoices", "invoices"),
    ),
    EntitySpec(
        source=SOURCE,
        entity="invoice_product_rows",
        description=(
            "Product rows of the smart invoices (crm.item.productrow.list, ownerType SI); "
            "re-read for invoices that changed, deleted with their invoice."
        ),
        fetch=fetch_product_rows,
        cursor_of=lambda row: None,  # the cursor is a watermark of raw.bitrix24_invoices
        scope_json_path="$.ownerId",
        reads=("invoices",),
    ),
    EntitySpec(
        source=SOURCE,
        entity="companies",
        description="Bitrix24 companies (crm.company.list) with their phones and e-mails.",
        fetch=fetch_companies,
        id_paths=("$.ID",),
        cursor_of=_record_cursor("DATE_MODIFY"),
        lookback=CLASSIC_LOOKBACK,
        reconcile=_id_list(COMPANY_CALL, "bitrix24_companies", "companies"),
    ),
    EntitySpec(
        source=SOURCE,
        entity="requisites",
        description="Requisites (ИНН/КПП/ОГРН) of Bitrix24 companies (crm.requisite.list).",
        fetch=fetch_requisites,
        id_paths=("$.ID",),
        cursor_of=_record_cursor("DATE_MODIFY", "DATE_CREATE"),
        lookback=CLASSIC_LOOKBACK,
        reconcile=_id_list(REQUISITE_CALL, "bitrix24_requisites", "requisites"),
    ),
    EntitySpec(
        source=SOURCE,
        entity="products",
        description="Bitrix24 catalog products (crm.product.list).",
        fetch=fetch_products,
        id_paths=("$.ID",),
        cursor_of=_record_cursor("TIMESTAMP_X", "DATE_CREATE"),
        lookback=CLASSIC_LOOKBACK,
        reconcile=_id_list(PRODUCT_CALL, "bitrix24_products", "products"),
    ),
]
