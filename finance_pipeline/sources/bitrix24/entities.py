"""Bitrix24 entities: what is extracted, and which batch reads (`batch.py`) fetch each.

Product rows
    crm.item.productrow.list needs `=ownerType` and `=ownerId`; only `@id` is documented to take
    an array, so a chain reads the rows of a chunk of up to 500 invoices (`=ownerId` array, kept
    well below PHP's max_input_vars per command) in row-id order only as a proven optimisation:
    every row's owner is checked, refusals and invoices that must have rows but got none are
    read one invoice per command (scalar `=ownerId`, correct under every reading; see "product
    rows" below). The first round assumes few rows per invoice (the history of the raw table
    when there is one, else 1), so its pages come back full and its counted last pages tell the
    rest per chunk; the second round reads that rest (plus a page), packed.

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
    (none known for these entities). Contacts are reconciled the same way. Legacy invoices
    (below) are not yet: a legacy invoice deleted upstream stays live until the next full
    refresh (its repair would need crm.invoice.get per id, not the list's @ID read).

Around the smart invoices (issue 13): the stages of every invoice funnel with their semantics,
the contacts invoices are issued to, and the legacy invoices (entity type 5) that older portals
keep for their pre-2021 history.

Stages
    crm.status.list (b24restdocs api-reference/crm/status/crm-status-list.md) lists every stage
    dictionary of the portal; invoice funnels are `SMART_INVOICE_STAGE_<category>` and the legacy
    statuses `INVOICE_STATUS` (crm-status-entity-types.md). Each stage carries `SEMANTICS` (S
    success, F failure, null in progress) as the portal reports it, renamed and custom stages
    (`DT31_7:UC_…`) included. The dictionary is small: read whole on every run (a complete read,
    so stages removed on the portal are marked deleted).

Contacts
    crm.contact.list (crm-contact-list.md): a smart invoice's client is one company or, for a
    private person, a contact (`contactId`, api-reference/crm/universal/invoice.md). Read like the
    companies: `>=DATE_MODIFY` since the cursor, keyset-paged by ID.

Legacy invoices
    crm.invoice.list (crm-invoice-list.md: "The method does not return properties and line items
    of the invoice") gives the ids of the invoices changed since the cursor (`>=DATE_UPDATE`);
    crm.invoice.get (crm-invoice-get.md) of each, 50 per batch request, gives the invoice with its
    PRODUCT_ROWS, which is what is landed. An invoice deleted between the two calls answers "Not
    found" and is simply not landed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from finance_pipeline.http.errors import BadResponseError, NotFoundError
from finance_pipeline.sources.bitrix24.batch import (
    BATCH,
    SOURCE,
    Batcher,
    ListCall,
    Scan,
    ScanStats,
    Window,
    filtered_scan,
    full_scan,
    http_build_query,
)
from finance_pipeline.sources.bitrix24.reconcile import IdListPlan
from finance_pipeline.sources.bitrix24.resource import api_error_of
from finance_pipeline.sources.extraction import EntitySpec, ExtractContext, parse_cursor

INVOICE_ENTITY_TYPE_ID = 31
OWNER_TYPE = "SI"  # product rows of smart invoices
OWNERS_PER_COMMAND = 500  # invoices per `=ownerId` array (proven on every read, see below)
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


# Products: catalog.product.list where the portal has it (api-reference/catalog/product/
# catalog-product-list.md: camelCase, `result.products`, select must hold id and iblockId, filter
# must hold iblockId, no prices: "use catalog.price.*"), else the deprecated crm.product.list
# (UPPER_CASE, PRICE included). The CRM catalog's info block comes from catalog.catalog.list; a
# portal without the catalog.* methods answers it 404 ERROR_METHOD_NOT_FOUND.
CATALOG_PRODUCT_SELECT = [
    "id", "iblockId", "name", "active", "code", "xmlId", "iblockSectionId", "type", "measure",
    "vatId", "vatIncluded", "dateCreate", "timestampX",
]
PRICE_SELECT = ["id", "productId", "catalogGroupId", "price", "currency", "timestampX"]


def _first_of(ctx: ExtractContext, method: str, key: str, params: dict[str, Any]
              ) -> list[dict[str, Any]] | None:
    """The records of a small catalog.* list (one page), or None when the portal lacks it."""
    try:
        body = ctx.client.request("POST", method, endpoint=method, json_body=params)
    except NotFoundError:
        return None
    result = body.get("result") if isinstance(body, dict) else None
    rows = result.get(key) if isinstance(result, dict) else None
    if not isinstance(rows, list):
        raise BadResponseError(SOURCE, method, f"expected result.{key} as a list")
    return [r for r in rows if isinstance(r, dict)]


def catalog_iblock(ctx: ExtractContext) -> int | None:
    """The CRM product catalog's info block, or None on a portal without catalog.* methods."""
    catalogs = _first_of(ctx, "catalog.catalog.list", "catalogs", {})
    if catalogs is None:
        return None
    crm = [c for c in catalogs if c.get("iblockTypeId") == "CRM_PRODUCT_CATALOG"] or catalogs
    if not crm:
        raise BadResponseError(SOURCE, "catalog.catalog.list", "the portal lists no catalog")
    return int(crm[0]["iblockId"])


def fetch_products(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
    iblock = catalog_iblock(ctx)
    if iblock is None:
        ctx.progress("bitrix24 products: no catalog.* methods on this portal; crm.product.list")
        yield from _read(ctx, PRODUCT_CALL, ("TIMESTAMP_X",), "products")
        return
    call = ListCall("catalog.product.list", {"select": CATALOG_PRODUCT_SELECT},
                    {"iblockId": iblock}, "id", "products")
    yield from _read(ctx, call, ("timestampX",), "products")


def fetch_product_prices(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
    """Base prices (catalog.price.list of the price type with `base` "Y",
    catalog-price-type-list.md); nothing on a portal whose crm.product.list carries PRICE."""
    if catalog_iblock(ctx) is None:
        return
    types = _first_of(ctx, "catalog.priceType.list", "priceTypes", {}) or []
    base = [t for t in types if str(t.get("base", "")).upper() == "Y"]
    if not base:
        raise BadResponseError(SOURCE, "catalog.priceType.list", "no base price type")
    call = ListCall("catalog.price.list", {"select": PRICE_SELECT},
                    {"catalogGroupId": int(base[0]["id"])}, "id", "prices")
    yield from _read(ctx, call, ("timestampX",), "product prices")


# --- product rows ---------------------------------------------------------------------------
#
# crm-item-productrow-list.md (b24restdocs) says "The only key that accepts an array of values is
# `@id`", that other keys ignore an array "in the same way as an unsupported condition" (so the
# required `=ownerId` is missing, or the condition is simply dropped), and its error table gives
# INVALID_ARG_VALUE for "an array in the value of a filter key with a comparison prefix"; older
# revisions said `=` "works with arrays as well", and portals in use still do. So an array of
# owners is only an optimisation that must prove itself on every read:
#   - refused (INVALID_ARG_VALUE, REQUIRED_ARG_MISSING): those owners are read one per command;
#   - a row of an owner not asked for: the condition was dropped; everything is read again one
#     owner per command;
#   - an invoice that must have rows got none (`isManualOpportunity` "N" with an amount: the
#     amount is the sum of its rows) — an array read as something other than IN, or an invoice
#     deleted meanwhile: those owners are read one per command; if any of them has rows there,
#     the array reading is wrong and every owner is read one per command.
# One owner per command (scalar `=ownerId`) is correct under every reading: 50 invoices per
# batch request. ACCESS_DENIED for a single owner means the invoice no longer exists ("The method
# returns the same error if the CRM object with the provided =ownerId does not exist").

ROW_CALL = ListCall(
    "crm.item.productrow.list", {}, {"=ownerType": OWNER_TYPE}, "id", "productRows",
    refusable=frozenset({"INVALID_ARG_VALUE", "REQUIRED_ARG_MISSING"}),
)
ROW_CALL_ONE_OWNER = ListCall(
    "crm.item.productrow.list", {}, {"=ownerType": OWNER_TYPE}, "id", "productRows",
    refusable=frozenset({"ACCESS_DENIED"}),
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


def product_row_windows(
    invoice_ids: list[int], per_invoice: float, one_owner: bool = False
) -> list[Window]:
    """Windows of up to OWNERS_PER_COMMAND invoices (an `=ownerId` array), or of one invoice
    each (a scalar `=ownerId`)."""
    ids = sorted(set(invoice_ids))
    if one_owner:
        return [
            Window(ROW_CALL_ONE_OWNER, est=max(1.0, per_invoice), extra={"=ownerId": i})
            for i in ids
        ]
    windows = []
    for i in range(0, len(ids), OWNERS_PER_COMMAND):
        chunk = ids[i : i + OWNERS_PER_COMMAND]
        windows.append(
            Window(ROW_CALL, est=max(1.0, per_invoice * len(chunk)), extra={"=ownerId": chunk})
        )
    return windows


def _owner_of(row: dict[str, Any]) -> int | None:
    try:
        owner = int(str(row.get("ownerId")))
    except ValueError:
        return None
    return owner if str(row.get("ownerType", OWNER_TYPE)).upper() == OWNER_TYPE else None


def _invoices_that_have_rows(ctx: ExtractContext, ids: list[int]) -> set[int]:
    """Invoices whose amount is computed from their rows (crm-item-add.md: isManualOpportunity
    "N") and is not zero: each has at least one row."""
    found = ctx.query(
        "SELECT id FROM raw.bitrix24_invoices WHERE deleted_at IS NULL"
        " AND payload ->> 'isManualOpportunity' = 'N'"
        " AND TRY_CAST(payload ->> 'opportunity' AS DECIMAL(18, 2)) <> 0"
    )
    return {int(r[0]) for r in found} & set(ids)


class _OwnerFilterDropped(Exception):
    """A page held a row of an invoice that was not asked for."""


def _read_rows(ctx: ExtractContext, windows: list[Window], asked: set[int], seen: set[int],
               stats: ScanStats | None) -> Iterator[list[dict[str, Any]]]:
    """Rows of the windows, each checked to belong to an asked invoice; returns the refusals."""
    scan = Scan(ctx.client, windows, label="product rows", stats=stats)
    for page in scan.pages(ctx, ROW_CALL.method):
        owners = [_owner_of(row) for row in page]
        if any(owner not in asked for owner in owners):
            raise _OwnerFilterDropped
        seen.update(o for o in owners if o is not None)
        yield page
    return scan.refused


def _one_owner_each(ctx: ExtractContext, ids: list[int], per_invoice: float,
                    stats: ScanStats | None, seen: set[int]) -> Iterator[list[dict[str, Any]]]:
    windows = product_row_windows(ids, per_invoice, one_owner=True)
    refused = yield from _read_rows(ctx, windows, set(ids), seen, stats)
    vanished = [w.extra["=ownerId"] for w, _ in refused if w.extra]
    if vanished:
        ctx.progress(f"bitrix24 product rows: {len(vanished)} invoice(s) deleted since listed")


def read_product_rows(ctx: ExtractContext, ids: list[int], per_invoice: float,
                      stats: ScanStats | None = None) -> Iterator[list[dict[str, Any]]]:
    """Every row of these invoices, proven whatever the portal does with an owner array."""
    asked = set(ids)
    seen: set[int] = set()
    if len(ids) <= BATCH:  # one owner per command costs no more here
        yield from _one_owner_each(ctx, ids, per_invoice, stats, seen)
        return
    try:
        refused = yield from _read_rows(ctx, product_row_windows(ids, per_invoice), asked, seen,
                                        stats)
    except _OwnerFilterDropped:
        ctx.report.warnings.append(
            "bitrix24 crm.item.productrow.list dropped the =ownerId array (rows of other "
            "invoices came back): every invoice was read one per command"
        )
        yield from _one_owner_each(ctx, ids, per_invoice, stats, set())
        return
    again = {o for w, _ in refused if w.extra for o in w.extra["=ownerId"]}
    if again:
        ctx.progress(f"bitrix24 product rows: the portal refused =ownerId arrays ({refused[0][1]})"
                     f"; {len(again)} invoices read one per command")
    unproven = (_invoices_that_have_rows(ctx, ids) - seen) - again
    if again:
        yield from _one_owner_each(ctx, sorted(again), per_invoice, stats, seen)
    if unproven:
        before = set(seen)
        yield from _one_owner_each(ctx, sorted(unproven), per_invoice, stats, seen)
        if (seen - before) & unproven:
            ctx.report.warnings.append(
                "bitrix24 crm.item.productrow.list missed rows of invoices asked in an =ownerId "
                "array: every invoice was read one per command"
            )
            rest = sorted(asked - unproven - again)
            yield from _one_owner_each(ctx, rest, per_invoice, stats, seen)


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
    yield from read_product_rows(ctx, ids, _rows_per_invoice(ctx), stats)


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


# --- the portal around the invoices: stages, contacts, legacy invoices --------------------

STAGE_CALL = ListCall("crm.status.list", {}, {}, "ID", None)
CONTACT_CALL = ListCall(
    "crm.contact.list", {"select": ["*", "UF_*", "PHONE", "EMAIL"]}, {}, "ID", None
)
LEGACY_LIST_CALL = ListCall("crm.invoice.list", {"select": ["ID", "DATE_UPDATE"]}, {}, "ID", None)
LEGACY_GET = "crm.invoice.get"


def fetch_stages(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
    yield from full_scan(ctx, STAGE_CALL, "stages")


def fetch_contacts(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
    yield from _read(ctx, CONTACT_CALL, ("DATE_MODIFY",), "contacts")


def _is_not_found(error: Any) -> bool:
    parsed = api_error_of(error) if isinstance(error, dict) else None
    return parsed is not None and parsed[1].strip().lower() == "not found"


def get_legacy_invoices(ctx: ExtractContext, ids: list[int]) -> Iterator[list[dict[str, Any]]]:
    """crm.invoice.get of each id, 50 commands per batch request."""
    batcher = Batcher(ctx.client)
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        names = batcher.names(len(chunk))
        answer = batcher.send(
            {name: f"{LEGACY_GET}?{http_build_query({'id': i})}" for name, i in zip(names, chunk, strict=True)}
        )
        invoices = []
        for name, invoice_id in zip(names, chunk, strict=True):
            raw_error = answer["result_error"].get(name)
            if raw_error is not None and _is_not_found(raw_error):
                continue  # deleted since it was listed
            error = Batcher.command_error(answer, name, LEGACY_GET)
            if error is not None:
                raise error
            invoice = answer["result"].get(name)
            if not isinstance(invoice, dict) or str(invoice.get("ID")) != str(invoice_id):
                raise BadResponseError(
                    SOURCE, f"batch: {LEGACY_GET}",
                    f"expected legacy invoice {invoice_id}, got {str(invoice)[:120]}",
                )
            invoices.append(invoice)
        if invoices:
            yield invoices


def _stored_legacy_updates(ctx: ExtractContext, ids: list[int]) -> dict[int, str]:
    """DATE_UPDATE of these legacy invoices as landed last time."""
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    found = ctx.query(
        "SELECT id, payload ->> 'DATE_UPDATE' FROM raw.bitrix24_legacy_invoices"
        f" WHERE deleted_at IS NULL AND id IN ({marks})",
        [str(i) for i in ids],
    )
    return {int(r[0]): r[1] for r in found if r[1] is not None}


def fetch_legacy_invoices(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
    fetched: set[int] = set()  # a full scan reads small lists from both ends: ids repeat
    for rows in _read(ctx, LEGACY_LIST_CALL, ("DATE_UPDATE",), "legacy invoices"):
        updated = {LEGACY_LIST_CALL.id_of(row, LEGACY_LIST_CALL.method): row.get("DATE_UPDATE")
                   for row in rows}
        new = sorted(set(updated) - fetched)
        fetched.update(new)
        if ctx.since is not None:
            # The lookback lists again what was read last time: crm.invoice.get only for the
            # invoices whose DATE_UPDATE moved (every change of an invoice moves it).
            stored = _stored_legacy_updates(ctx, new)
            new = [i for i in new if stored.get(i) is None or stored[i] != updated[i]]
        yield from get_legacy_invoices(ctx, new)


PORTAL_ENTITIES: list[EntitySpec] = [  # issue 13: the portal around the invoices
    EntitySpec(
        source=SOURCE,
        entity="stages",
        description=(
            "Stages of every Bitrix24 stage dictionary (crm.status.list): the invoice funnels "
            "(SMART_INVOICE_STAGE_<category>, custom stages included) and the legacy invoice "
            "statuses (INVOICE_STATUS), each with the SEMANTICS the portal reports."
        ),
        fetch=fetch_stages,
        id_paths=("$.ID",),
    ),
    EntitySpec(
        source=SOURCE,
        entity="contacts",
        description="Bitrix24 contacts (crm.contact.list): the people invoices are issued to.",
        fetch=fetch_contacts,
        id_paths=("$.ID",),
        cursor_of=_record_cursor("DATE_MODIFY", "DATE_CREATE"),
        lookback=CLASSIC_LOOKBACK,
        reconcile=_id_list(CONTACT_CALL, "bitrix24_contacts", "contacts"),
    ),
    EntitySpec(
        source=SOURCE,
        entity="legacy_invoices",
        description=(
            "Bitrix24 legacy invoices (entity type 5, crm.invoice.get after crm.invoice.list): "
            "the portal's pre-2021 history, each with its PRODUCT_ROWS."
        ),
        fetch=fetch_legacy_invoices,
        id_paths=("$.ID",),
        cursor_of=_record_cursor("DATE_UPDATE", "DATE_INSERT"),
        lookback=CLASSIC_LOOKBACK,
    ),
]


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
        description=(
            "Bitrix24 catalog products: catalog.product.list (camelCase) where the portal has "
            "it, else crm.product.list (UPPER_CASE, with PRICE)."
        ),
        fetch=fetch_products,
        id_paths=("$.ID", "$.id"),  # crm.product.list / catalog.product.list
        cursor_of=_record_cursor("TIMESTAMP_X", "DATE_CREATE", "timestampX", "dateCreate"),
        lookback=CLASSIC_LOOKBACK,
        reconcile=_id_list(PRODUCT_CALL, "bitrix24_products", "products"),
    ),
    EntitySpec(
        source=SOURCE,
        entity="product_prices",
        description=(
            "Base prices of the catalog products (catalog.price.list); empty on portals whose "
            "crm.product.list carries the price."
        ),
        fetch=fetch_product_prices,
        id_paths=("$.id",),
        cursor_of=_record_cursor("timestampX"),
        lookback=CLASSIC_LOOKBACK,
    ),
]
ENTITIES += PORTAL_ENTITIES
