"""ApiPay.kz entities: invoices (`GET /invoices`), refunds (`GET /refunds`), and ApiPay's own
catalog (`GET /catalog`) and units of measure (`GET /catalog/units`).

Read shapes follow ApiPay's openapi.yaml 2.1 (github.com/bazarbaykz/apipay-docs): an invoice's
cart is `items` (schema `InvoiceItem`: `id, invoice_id, catalog_item_id, name, price, count,
unit_id, discount`), the payer is `phone` in a list item (`InvoiceListItem`) and `phone_number`
in older answers; both land as sent (raw keeps the payload) and staging reads either.

Catalog and units
    Small reference lists with no change filter: every run reads them whole (a complete
    snapshot; what vanished is marked deleted). The catalog is read with every status
    (`statuses[]` active, pending, deleting, deleted, failed): without it ApiPay lists only
    `active` items, and an old invoice's item may name one deleted since. Units are one
    request (`{"data": [...]}`, not paged). Unit ids are ApiPay's own: they are never joined to
    another system's units.

Invoices
    The list can filter by *creation* date only (`date_from`/`date_to`, whole days), not by
    change, and its default order (newest first) shifts under offset paging while invoices are
    created, so every read asks `sort_by=id&sort_order=asc` (unique and append-only, where
    `created_at` has ties) with `per_page=100` (the maximum): new invoices land after the last
    page instead of pushing rows across pages. Paging (PageNumberPaginator, http/paging.py)
    ends on an empty page or the count (`total`, flat as the vendor's OpenAPI 2.1.0 has it, or
    `meta.total` as our doc has it); a server serving fewer than 100 a page is read on.

    Full sync: the whole list without any status filter (the documented default is "no filter",
    so every status is included; distinct ids must equal the count, else IncompleteReadError).

    Statuses differ between our doc and the vendor's OpenAPI 2.1.0: the doc has `refunded`,
    the vendor says "Статуса refunded НЕ существует" (a full refund stays `paid` with
    `is_fully_refunded: true`) and adds `processing`. No read filters on `refunded`, and
    `processing` is asked on its own (a server that refuses it has no such status).

    Incremental sync (cursor = newest `created_at` seen), the union by id of:
      1. everything created since the cursor minus `INVOICE_LOOKBACK` (3 days): `date_from` is a
         whole day in the merchant's zone (Asia/Almaty per the vendor; unstated in our doc), and
         the UTC date we send is never after the Almaty date of the same moment, so either way
         the cursor's own day and the day before are always re-read; the rest is margin for
         invoices that become visible late. Invoices this young are also the ones that change
         most;
      2. every invoice in a state that still changes by itself, whatever its age:
         `status[]=pending` (paid/cancelled/expired within 72 hours), `cancelling` (becomes
         `cancelled`) and `partially_refunded` (can be refunded further), and, in a request of
         its own, `processing` (vendor only);
      3. the invoices of every refund created since the refund window's first day (one page of
         `GET /refunds?date_from=`, the same window the refunds asset reads), each re-read by
         `GET /invoices/{id}`: a full refund is found whether it turns the invoice `refunded`
         (our doc) or leaves it `paid` with `is_fully_refunded` (the vendor).
    `paid` invoices that were partly refunded show up in (2) whatever their age.

    After the read, ApiPay's counts (every invoice, `paid` ones) are compared with ours and
    differing creation periods re-read whole (apipay/reconcile.py): an invoice that vanished
    is marked deleted the same run. Edits of fields other than status/refund totals on invoices
    older than the lookback, and status corrections no count shows, are found by the rolling
    re-read within FINANCE_REVERIFY_DAYS runs.

Refunds
    `GET /refunds` lists every refund of the organisation (all invoices), paged with `page` and
    `per_page` (100, the maximum), newest first (`meta.total`, `meta.last_page`), filterable by
    `status[]`, `invoice_id` and creation date (`date_from`/`date_to`, whole days). It has no
    sort parameter and no change filter, so:

    Full sync: the whole list at per_page=100, one request per 100 refunds (not one per
    refundable invoice, as reading `GET /invoices/{id}/refunds` would cost). It is a complete
    snapshot, so the landing marks every refund missing from it deleted, including the refunds
    of invoices deleted upstream (they leave the list with their invoice).

    Incremental sync (cursor = newest refund `created_at` seen), the union by id of:
      1. every refund created since the cursor minus `REFUND_LOOKBACK` (3 days), as
         `date_from` = that moment's UTC date. The window is never later than the newest refund
         the warehouse holds minus the lookback (a cursor stored by an older version of this
         asset, or a refund that vanished, cannot move it forward), and it reaches back to the
         oldest refund the warehouse still holds as `pending`/`processing`, so a refund that
         was open at the last sync is re-read once it is `completed` or `failed`.
         Why 3 days: (a) `date_from` is a whole day in a time zone the docs do not state (the
         merchant's Asia/Almaty day per ApiPay's later openapi 2.1, UTC in the sandbox); a UTC
         date is never after the Almaty date of the same moment, so either way the requested
         day starts before the cursor minus the lookback, and the rounding eats up to one day
         of it; (b) `created_at` is the moment of the refund operation (openapi 2.1: the window
         is "по времени ОПЕРАЦИИ возврата"), and a refund not made through this API
         (`initiated_by` other than `api`: the Kaspi Pay app, the ApiPay cabinet) can reach
         ApiPay after that moment: the other two days catch refunds that turn up that late;
         (c) it is free: at this business's volume (a few refunds a month, far under 100 in 3
         days) the window is one page of 100, the request that is made anyway; a busier
         account pays one request per further 100 refunds in the window. Runs that fail or are
         skipped need no margin: the cursor moves only when a run lands;
      2. every refund whose status can still change, whatever its age: `status[]=pending` and
         `status[]=processing` (pending -> processing -> completed | failed), one request;
      3. no request: the live refunds of invoices that raw.apipay_invoices marks deleted (its
         full refresh saw them vanish) are reported deleted, unless this run read them.
    A re-run with nothing changed upstream makes two requests.

    Repaired the same run by the reconciliation after the read (apipay/reconcile.py: counts of
    every refund and of `completed` ones, differing periods re-read whole): refunds deleted
    upstream while their invoice lives on, and a refund that ApiPay registers more than the
    lookback after its `created_at` already `completed`/`failed`. Left to the rolling re-read
    (within FINANCE_REVERIFY_DAYS runs): edits of a closed refund older than the window (e.g.
    `reason`), and the embedded `invoice` summary
    (status, `total_refunded`) of refunds older than the window, which goes stale when a later
    refund or status change moves its invoice (raw.apipay_invoices holds the current invoice).
    A refund deleted upstream during a full sync shifts the newest-first pages and can make
    the sync skip one neighbour (then marked deleted until a later run re-reads it; the paging
    warns when the rows received differ from `meta.total`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from finance_pipeline.http.answer import verbatim_records
from finance_pipeline.http.errors import BadResponseError, NotFoundError, RequestRejectedError
from finance_pipeline.http.paging import (
    Page,
    PageNumberPaginator,
    PagingReport,
    read_pages,
)
from finance_pipeline.sources.answers import as_int, shape_of
from finance_pipeline.sources.extraction import EntitySpec, ExtractContext, parse_cursor

SOURCE = "apipay"
PER_PAGE = 100  # the documented maximum of per_page (1-100)
INVOICE_LOOKBACK = timedelta(days=3)
REFUND_LOOKBACK = timedelta(days=3)  # why 3 days: see the module docstring
REFUND_WINDOW = timedelta(days=30)
ORDER = [("sort_by", "id"), ("sort_order", "asc")]
# Statuses in which an invoice still changes by itself (see the module docstring), valid in
# our doc and in the vendor's OpenAPI; `processing` exists only in the latter.
OPEN_STATUSES = ("pending", "cancelling", "partially_refunded")
VENDOR_ONLY_OPEN_STATUSES = ("processing",)
# Refund statuses that still change (pending -> processing -> completed | failed).
OPEN_REFUND_STATUSES = ("pending", "processing")


# --- invoices ---------------------------------------------------------------------------------


def rows_and_meta(body: Any, endpoint: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The records and the paging figures: `total`/`last_page` flat at the top (the vendor's
    OpenAPI 2.1.0 for /invoices and /refunds) or inside `meta` (our doc; /catalog)."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise BadResponseError(
            SOURCE, endpoint, f"expected {{'data': [...], 'total': n}}, got {shape_of(body)}"
        )
    rows = body["data"]
    if not all(isinstance(row, dict) and row.get("id") is not None for row in rows):
        raise BadResponseError(SOURCE, endpoint, "a record in 'data' is not an object with an id")
    meta = body.get("meta")
    figures = dict(meta) if isinstance(meta, dict) else {}
    for name in ("total", "last_page"):
        if name not in figures and name in body:
            figures[name] = body[name]
    return rows, figures


def _merge(into: PagingReport, part: PagingReport) -> None:
    into.merge(part)
    if part.announced_total is not None:
        into.announced_total = (into.announced_total or 0) + part.announced_total


class _Union:
    """Several list queries read as one: each record once (the first time it arrives), and each
    query's paging report (its own announced total) merged into the run's report."""

    def __init__(self, ctx: ExtractContext) -> None:
        self.ctx = ctx
        self.seen: set[str] = set()

    def read(
        self, reader: Callable[[PagingReport], Iterable[list[dict[str, Any]]]]
    ) -> Iterator[list[dict[str, Any]]]:
        part = PagingReport()
        try:
            for rows in reader(part):
                new = [row for row in rows if str(row["id"]) not in self.seen]
                self.seen.update(str(row["id"]) for row in new)
                if new:
                    yield rows if len(new) == len(rows) else new  # whole: still verbatim
        finally:
            _merge(self.ctx.report, part)


def read_list_pages(
    ctx: ExtractContext, path: str, params: list[tuple[str, str]], label: str,
    report: PagingReport, *, per_page: int = PER_PAGE,
) -> Iterator[list[dict[str, Any]]]:
    """Page through one list query (`page`/`per_page`), proven complete by its count."""
    endpoint = f"{path} ({label})"

    def fetch(paging: dict[str, Any]) -> Page:
        body = ctx.client.request(
            "GET", path, endpoint=endpoint,
            params=[*params, *((name, str(value)) for name, value in paging.items())],
        )
        _, figures = rows_and_meta(body, endpoint)
        total = as_int(figures.get("total"))
        # Only the server's own page count: one computed from our page size proves nothing.
        return Page(verbatim_records(body, "data"), total=total,  # landed as the server wrote them
                    pages_total=as_int(figures.get("last_page")))

    yield from read_pages(
        PageNumberPaginator(per_page), fetch, source=SOURCE, endpoint=endpoint, report=report,
        progress=ctx.progress,
    )


def _read_invoices(
    ctx: ExtractContext, params: list[tuple[str, str]], label: str, report: PagingReport
) -> Iterator[list[dict[str, Any]]]:
    """Page through one `GET /invoices` query (per_page=100, by id ascending)."""
    yield from read_list_pages(ctx, "invoices", params, label, report)


def _day(moment: datetime) -> date:
    """The UTC calendar day of a moment (the date filters are taken as UTC days)."""
    return moment.astimezone(UTC).date() if moment.tzinfo else moment.date()


def fetch_invoices(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
    if ctx.full_refresh or ctx.since is None:
        ctx.progress("apipay invoices: reading every invoice (all statuses)")
        yield from _read_invoices(ctx, list(ORDER), "all", ctx.report)
        return

    union = _Union(ctx)

    def run(params: list[tuple[str, str]], label: str) -> Iterator[list[dict[str, Any]]]:
        return union.read(lambda part: _read_invoices(ctx, params, label, part))

    since_day = _day(ctx.since)
    anchor = ctx.since
    if ctx.state.cursor:
        anchor = max(anchor, parse_cursor(ctx.state.cursor))
    window_day = min(since_day, _day(anchor - REFUND_WINDOW))

    # 1. Created recently (the lookback is already subtracted from the cursor).
    yield from run([*ORDER, ("date_from", since_day.isoformat())], f"created since {since_day}")
    # 2. Still open, whatever their age; `processing` alone, as a server may not know it.
    yield from run([*ORDER, *(("status[]", s) for s in OPEN_STATUSES)], "open statuses")
    try:
        yield from run([*ORDER, *(("status[]", s) for s in VENDOR_ONLY_OPEN_STATUSES)],
                       "processing")
    except RequestRejectedError:
        ctx.progress("apipay invoices: this server has no `processing` status (our doc's list)")
    # 3. Refunded since the refund window began, whatever the invoice's age or new status.
    yield from _invoices_of_recent_refunds(ctx, union, window_day)


def _invoices_of_recent_refunds(
    ctx: ExtractContext, union: _Union, day: date
) -> Iterator[list[dict[str, Any]]]:
    """Each invoice with a refund created since `day`, read by id unless already read."""
    part = PagingReport()
    invoice_ids: set[str] = set()
    for rows in _read_refunds(ctx, [("date_from", day.isoformat())], f"created since {day}",
                              part):
        invoice_ids.update(str(row["invoice_id"]) for row in rows if row.get("invoice_id"))
    _merge(ctx.report, part)
    for invoice_id in sorted(invoice_ids - union.seen, key=lambda i: (len(i), i)):
        try:
            body = ctx.client.request("GET", f"invoices/{invoice_id}", endpoint="invoices/<id>")
        except NotFoundError:
            continue  # deleted since its refund: the full refresh marks it
        row = body.get("data", body) if isinstance(body, dict) else None
        if not isinstance(row, dict) or row.get("id") is None:
            raise BadResponseError(SOURCE, "invoices/<id>", f"expected an invoice, got {shape_of(body)}")
        ctx.report.pages += 1
        ctx.report.rows += 1
        union.seen.add(str(row["id"]))
        yield [row]


# --- refunds ----------------------------------------------------------------------------------


def _read_refunds(
    ctx: ExtractContext, params: list[tuple[str, str]], label: str, report: PagingReport
) -> Iterator[list[dict[str, Any]]]:
    """Page through one `GET /refunds` query (per_page=100; no documented order, so only the
    count and distinct ids prove the read)."""
    yield from read_list_pages(ctx, "refunds", params, label, report)


def _refund_window_day(ctx: ExtractContext) -> date:
    """The first creation day an incremental run re-reads (see the module docstring, 1.)."""
    assert ctx.since is not None
    day = _day(ctx.since)
    open_statuses = ", ".join(f"'{s}'" for s in OPEN_REFUND_STATUSES)
    rows = ctx.query(
        f"""
        SELECT max(json_extract_string(payload, '$.created_at')),
               min(json_extract_string(payload, '$.created_at'))
                   FILTER (WHERE json_extract_string(payload, '$.status') IN ({open_statuses}))
        FROM raw.apipay_refunds
        WHERE deleted_at IS NULL
        """
    )
    newest, oldest_open = rows[0] if rows else (None, None)
    if newest:
        day = min(day, _day(parse_cursor(newest) - REFUND_LOOKBACK))
    if oldest_open:
        day = min(day, _day(parse_cursor(oldest_open)))
    return day


def _refunds_of_deleted_invoices(ctx: ExtractContext) -> list[str]:
    rows = ctx.query(
        """
        SELECT r.id
        FROM raw.apipay_refunds AS r
        JOIN raw.apipay_invoices AS i
          ON i.id = json_extract_string(r.payload, '$.invoice_id')
        WHERE r.deleted_at IS NULL AND i.deleted_at IS NOT NULL
        ORDER BY r.id
        """
    )
    return [str(row[0]) for row in rows]


def fetch_refunds(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
    if ctx.full_refresh or ctx.since is None:
        # A complete snapshot: the landing marks every refund missing from it deleted.
        ctx.progress("apipay refunds: reading every refund (GET /refunds)")
        yield from _read_refunds(ctx, [], "all", ctx.report)
        return

    union = _Union(ctx)
    window_day = _refund_window_day(ctx)
    ctx.progress(f"apipay refunds: created since {window_day}, and every refund still open")
    # 1. Created recently (the lookback is already subtracted from the cursor).
    yield from union.read(lambda part: _read_refunds(
        ctx, [("date_from", window_day.isoformat())], f"created since {window_day}", part
    ))
    # 2. Still open, whatever their age.
    yield from union.read(lambda part: _read_refunds(
        ctx, [("status[]", s) for s in OPEN_REFUND_STATUSES], "open statuses", part
    ))
    # 3. Refunds of invoices deleted upstream are gone with them.
    gone = [rid for rid in _refunds_of_deleted_invoices(ctx) if rid not in union.seen]
    if gone:
        ctx.progress(f"apipay refunds: {len(gone)} refunds of deleted invoices marked deleted")
        ctx.report_deleted(gone)


# --- catalog and units ------------------------------------------------------------------------

CATALOG_PER_PAGE = 200  # openapi listCatalogItems: per_page 1..200
CATALOG_STATUSES = ("active", "pending", "deleting", "deleted", "failed")


def fetch_catalog_items(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
    """Every catalog item of every status, page by page (`{data, links, meta}`)."""
    endpoint = "catalog"
    params = [("statuses[]", status) for status in CATALOG_STATUSES]
    ctx.progress("apipay catalog: reading every item (all statuses)")

    yield from read_list_pages(ctx, endpoint, params, "all statuses", ctx.report,
                           per_page=CATALOG_PER_PAGE)


def fetch_units(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
    """ApiPay's units of measure: one unpaged list."""
    body = ctx.client.request("GET", "catalog/units", endpoint="catalog/units")
    rows, _ = rows_and_meta(body, "catalog/units")
    ctx.report.pages += 1
    ctx.report.rows += len(rows)
    if rows:
        yield rows


# --- specs ------------------------------------------------------------------------------------


def _plan(name: str) -> Callable[[], Any]:
    """Counts per status and creation period vs ours after every run (apipay/reconcile.py)."""

    def make() -> Any:
        from finance_pipeline.sources.apipay import reconcile

        return getattr(reconcile, f"{name}_plan")()

    return make

ENTITIES: list[EntitySpec] = [
    EntitySpec(
        source=SOURCE,
        entity="invoices",
        description=(
            "ApiPay.kz invoices (Kaspi Pay, KZT), every status, as GET /invoices returns them "
            "(amount as the API's decimal string, the cart as `items`, total_refunded)."
        ),
        fetch=fetch_invoices,
        cursor_of=lambda row: row.get("created_at"),
        lookback=INVOICE_LOOKBACK,
        reconcile=_plan("invoices"),
    ),
    EntitySpec(
        source=SOURCE,
        entity="refunds",
        description=(
            "ApiPay.kz refunds of every invoice, as GET /refunds lists them (amount as the "
            "API's decimal string, status, Kaspi ids, a summary of the invoice)."
        ),
        fetch=fetch_refunds,
        cursor_of=lambda row: row.get("created_at"),
        lookback=REFUND_LOOKBACK,
        # Read to mark the refunds of invoices deleted upstream deleted between full refreshes.
        reads=("invoices",),
        reconcile=_plan("refunds"),
    ),
    EntitySpec(
        source=SOURCE,
        entity="catalog_items",
        description=(
            "ApiPay.kz's own product catalog (GET /catalog, every status): name, selling "
            "price, ApiPay unit id, status. Read whole on every run."
        ),
        fetch=fetch_catalog_items,
    ),
    EntitySpec(
        source=SOURCE,
        entity="units",
        description=(
            "ApiPay.kz's own units of measure (GET /catalog/units): id, Russian and Kazakh "
            "name. Read whole on every run."
        ),
        fetch=fetch_units,
    ),
]
