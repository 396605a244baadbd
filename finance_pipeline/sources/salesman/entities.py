"""SalesMan CRM entities: invoices (`invoice/list`) and their details (`invoice/info`).

invoices (raw.salesman_invoices)
    `invoice/list` pages of 200 rows (fixed by SalesMan, the largest there is), always ordered
    by creation date, oldest first, so records created while we page land on the last page.
    SalesMan has no "changed since" filter, so an incremental run unions three filtered reads:
      1. invoices created in a trailing window: dateCreate from (cursor - LOOKBACK);
      2. every unpaid invoice (`active=false`): unpaid invoices are the ones that still change
         (payment, plan date, partial payment splitting them);
      3. invoices paid in the same window (dateFact from cursor - LOOKBACK);
    then checks the invoices the warehouse knows as unpaid or recent but that none of the reads
    returned: `invoice/info` tells whether each still exists (deleted otherwise), and the ones
    that do are re-read through `invoice/list?did=`. The cursor is the newest `date_create`
    seen. Date filters are always sent as a Start/End pair: SalesMan 2024.1 ignores a lone
    `dateCreateStart` (it reads the wrong parameter) but handles the pair (BETWEEN) correctly.
    A full refresh reads everything and marks what vanished as deleted.

invoice_details (raw.salesman_invoice_details)
    `invoice/info?id=&dealinfo=true` per invoice (VAT `nds`, `tip`, payment status "on"/"no",
    bank account `rs`, responsible `iduser`, the deal's currency and course are only there).
    `dealinfo` adds the deal as Deal::info() builds it (vladandreevg/salesmancrm,
    inc/class/Deal.php): its specification `speca` (the positions: marts.invoice_lines), its
    `client` and `payer`, its invoices; no extra request. There is no bulk call, so details are fetched
    only for invoices that are new or changed in raw.salesman_invoices since their details were
    last fetched (`changed_at` of the invoice row newer than `extracted_at` of the detail row);
    details of invoices deleted in raw.salesman_invoices are marked deleted. A full refresh
    fetches the details of every live invoice in raw.salesman_invoices.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from finance_pipeline.http.errors import BadResponseError, NotFoundError
from finance_pipeline.http.paging import Page, PagingReport, iter_pages, next_page_number
from finance_pipeline.sources.extraction import EntitySpec, ExtractContext

SOURCE = "salesman"
LIST_PATH = "developer/v3/invoice/list"
INFO_PATH = "developer/v3/invoice/info"
PAGE_SIZE = 200  # fixed by SalesMan ("лимит в 200 записей на страницу"); no parameter for it
# Edits to invoices cluster in the weeks after they are issued (number, contract, amount and
# plan-date corrections, month-end reconciliation); a month plus a few days of slack covers one
# closing cycle. Unpaid invoices are re-read whatever their age, so the window only matters for
# edits to already paid invoices.
LOOKBACK = timedelta(days=35)
OPEN_END = "2100-01-01"  # upper bound of the Start/End pairs (see the module docstring)
# More unexplained vanished invoices than this and the run leaves them to the next full refresh
# rather than spend one request on each.
MAX_VERIFICATIONS = 100
DETAILS_BATCH = 50
# invoice/info may say "not found" for this many of the invoices just listed (deleted in
# between) before a run stops instead of marking their details deleted (with > 10 %).
GONE_TOLERANCE = 3

Rows = list[dict[str, Any]]


def invoice_key(row: dict[str, Any]) -> str | None:
    value = row.get("id", row.get("crid"))
    return None if value is None or value == "" else str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _timestamp(value: Any) -> str | None:
    """SalesMan's "YYYY-MM-DD HH:MM:SS" (or a bare date) as an ISO cursor string."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return datetime.fromisoformat(value.strip()).isoformat()
    except ValueError:
        return None


def invoice_cursor(row: dict[str, Any]) -> str | None:
    # Only the creation time: SalesMan sets it itself, while a payment date is typed by hand
    # and may lie in the future, which would push the window past new invoices.
    return _timestamp(row.get("date_create"))


def details_cursor(row: dict[str, Any]) -> str | None:
    return _timestamp(row.get("datum"))


# --- invoice/list -------------------------------------------------------------------------


def _list_answer(answer: Any) -> tuple[Rows, dict[str, Any], int | None]:
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
        shape = sorted(answer)[:8] if isinstance(answer, dict) else type(answer).__name__
        raise BadResponseError(
            SOURCE, "invoice/list", f"expected {{'data': [...], 'params': {{...}}}}, got {shape}"
        )
    rows = [row for row in answer["data"] if isinstance(row, dict)]
    if len(rows) != len(answer["data"]):
        raise BadResponseError(SOURCE, "invoice/list", "a record in 'data' is not an object")
    params = answer.get("params") if isinstance(answer.get("params"), dict) else {}
    total = _int(answer.get("count"))
    if total is None:
        total = _int(params.get("count"))
    return rows, params, total


def list_invoices(
    ctx: ExtractContext,
    filters: dict[str, Any],
    label: str,
    *,
    first: str = "old",
    totals: list[int] | None = None,
) -> Iterator[Rows]:
    """Every page of one filtered `invoice/list` read, through the shared paging loop."""
    report = PagingReport()

    def fetch(offset: int) -> Page:
        body = {"order": "dateCreate", "first": first, "offset": offset, **filters}
        answer = ctx.client.request("GET", LIST_PATH, endpoint="invoice/list", json_body=body)
        rows, params, total = _list_answer(answer)
        if total is not None and totals is not None:
            totals.append(total)
        # `offset` is a page number and SalesMan echoes the (1-based) page it served: offset 0
        # and 1 both serve page 1, so the next page is always the served page + 1.
        page = _int(params.get("page")) or max(offset, 1)
        pages_total = _int(params.get("pageall"))
        if pages_total is not None and offset > pages_total and page < offset:
            # Asked for the page after the last (it always is when the last page is full; see
            # next_page_number), the server answered its last page again: the list has ended.
            # Within the announced pages a repeated page is a broken cursor (iter_pages).
            return Page(rows=[], next=None, total=total, pages_total=pages_total)
        following = next_page_number(page, len(rows), PAGE_SIZE)
        return Page(rows=rows, next=following, total=total, pages_total=pages_total)

    try:
        yield from iter_pages(
            fetch,
            0,
            source=SOURCE,
            endpoint=f"invoice/list ({label})",
            row_key=invoice_key,
            report=report,
            progress=ctx.progress,
        )
    finally:
        ctx.report.pages += report.pages
        ctx.report.rows += report.rows
        ctx.report.warnings.extend(report.warnings)


class _Seen:
    """Union by id of several reads: each record is staged once per run."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    def fresh(self, rows: Rows) -> Rows:
        out = []
        for row in rows:
            key = invoice_key(row)
            if key is not None and key not in self.ids:
                self.ids.add(key)
                out.append(row)
        return out


def fetch_invoices(ctx: ExtractContext) -> Iterator[Rows]:
    seen = _Seen()
    if ctx.full_refresh or ctx.since is None:
        yield from _full_listing(ctx, seen)
        return
    start = ctx.since.date().isoformat()
    reads: list[tuple[dict[str, Any], str]] = [
        ({"dateCreateStart": start, "dateCreateEnd": OPEN_END}, f"created since {start}"),
        ({"active": False}, "unpaid"),
        ({"dateFactStart": start, "dateFactEnd": OPEN_END}, f"paid since {start}"),
    ]
    paid_in_unpaid = 0
    for filters, label in reads:
        for rows in list_invoices(ctx, filters, label):
            if filters.get("active") is False:
                paid_in_unpaid += sum(1 for row in rows if row.get("do") is True)
            new = seen.fresh(rows)
            if new:
                yield new
    if paid_in_unpaid:
        ctx.report.warnings.append(
            f"salesman invoice/list: active=false returned {paid_in_unpaid} paid invoices; this "
            "SalesMan does not filter by `active` as documented, so incremental runs read more "
            "invoices than needed (the result is still complete)"
        )
    yield from _recheck_vanished(ctx, start, seen)


def _full_listing(ctx: ExtractContext, seen: _Seen) -> Iterator[Rows]:
    totals: list[int] = []
    for rows in list_invoices(ctx, {}, "all", totals=totals):
        new = seen.fresh(rows)
        if new:
            yield new
    # Paging by offset is only exact when nothing is deleted meanwhile (rows shift back a
    # place) and ties in the sort order stay put. If the count moved or ids are missing, read
    # once more from the other end, so a complete snapshot never misses a live invoice.
    if totals and (len(set(totals)) > 1 or len(seen.ids) < totals[-1]):
        ctx.progress(
            f"salesman invoice/list: {len(seen.ids)} ids for {totals[-1]} announced; "
            "reading again newest first"
        )
        for rows in list_invoices(ctx, {}, "all, newest first", first="new"):
            new = seen.fresh(rows)
            if new:
                yield new


def _recheck_vanished(ctx: ExtractContext, start: str, seen: _Seen) -> Iterator[Rows]:
    """Invoices known unpaid or recent that no read returned: deleted, or moved out of reach."""
    known = ctx.query(
        """
        SELECT id,
               json_extract_string(payload, '$.date_create'),
               json_extract_string(payload, '$.do'),
               json_extract_string(payload, '$.did')
        FROM raw.salesman_invoices
        WHERE deleted_at IS NULL
        ORDER BY id
        """
    )
    suspects: list[tuple[str, int | None]] = []
    for key, created, paid, did in known:
        if key in seen.ids:
            continue
        # Recent ones should have come with the dateCreate window, unpaid ones with active=false.
        recent = created is not None and created >= start
        if recent or paid not in ("true", "1"):
            suspects.append((key, _int(did)))
    if not suspects:
        return
    if len(suspects) > MAX_VERIFICATIONS:
        ctx.report.warnings.append(
            f"salesman invoices: {len(suspects)} known invoices were not returned; too many to "
            "check one by one, the next full refresh will reconcile them"
        )
        return
    ctx.progress(f"salesman invoices: checking {len(suspects)} invoices no read returned")
    gone: list[str] = []
    deals: set[int] = set()
    for key, did in suspects:
        if _invoice_info(ctx, key) is None:
            gone.append(key)
        elif did:
            deals.add(did)
    ctx.report_deleted(gone)
    for did in sorted(deals):
        for rows in list_invoices(ctx, {"did": did}, f"deal {did}"):
            new = seen.fresh(rows)
            if new:
                yield new


# --- invoice/info -------------------------------------------------------------------------


def _invoice_info(
    ctx: ExtractContext, key: str, *, with_deal: bool = False
) -> dict[str, Any] | None:
    """The invoice's `info` record (with its deal when `with_deal`), or None when SalesMan says
    it does not exist."""
    invoice_id = _int(key)
    if invoice_id is None:
        return None
    body: dict[str, Any] = {"id": invoice_id}
    if with_deal:
        # Invoice::info() tests it with PHP truthiness: a JSON true is unambiguous.
        body["dealinfo"] = True
    try:
        answer = ctx.client.request("GET", INFO_PATH, endpoint="invoice/info", json_body=body)
    except NotFoundError as error:
        if error.status == 200:  # SalesMan's own "not found" (its errors come as HTTP 200)
            return None
        raise
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict):
        raise BadResponseError(SOURCE, "invoice/info", "expected {'data': {...}}")
    crid = _int(data.get("crid"))
    if not crid:  # SalesMan 2024.1 answers an unknown id with an all-empty record
        return None
    if crid != invoice_id:
        raise BadResponseError(
            SOURCE, "invoice/info", f"asked for invoice {invoice_id}, got crid {crid}"
        )
    return data


def _details_to_fetch(ctx: ExtractContext) -> list[str]:
    live = "SELECT id FROM raw.salesman_invoices WHERE deleted_at IS NULL"
    if ctx.full_refresh or not ctx.query("SELECT count(*) FROM raw.salesman_invoice_details"):
        return [row[0] for row in ctx.query(f"{live} ORDER BY id")]
    stale = ctx.query(
        """
        SELECT i.id
        FROM raw.salesman_invoices i
        LEFT JOIN raw.salesman_invoice_details d ON d.id = i.id
        WHERE i.deleted_at IS NULL
          AND (d.id IS NULL OR d.deleted_at IS NOT NULL OR i.changed_at > d.extracted_at)
        ORDER BY i.id
        """
    )
    ids = [row[0] for row in stale]
    if ctx.since is not None and ctx.since != _cursor_since(ctx):
        # A run from start_date: also re-read the details of invoices issued since then.
        since = ctx.since.strftime("%Y-%m-%d %H:%M:%S")
        extra = ctx.query(
            f"{live} AND json_extract_string(payload, '$.date_create') >= ? ORDER BY id",
            [since],
        )
        ids = sorted(set(ids) | {row[0] for row in extra}, key=lambda k: (_int(k) or 0, k))
    orphans = ctx.query(
        """
        SELECT d.id
        FROM raw.salesman_invoice_details d
        LEFT JOIN raw.salesman_invoices i ON i.id = d.id
        WHERE d.deleted_at IS NULL AND (i.id IS NULL OR i.deleted_at IS NOT NULL)
        """
    )
    ctx.report_deleted(row[0] for row in orphans)
    return ids


def _cursor_since(ctx: ExtractContext) -> datetime | None:
    if not ctx.state.cursor:
        return None
    parsed = datetime.fromisoformat(ctx.state.cursor.replace("Z", "+00:00"))
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return parsed - DETAILS.lookback


def fetch_invoice_details(ctx: ExtractContext) -> Iterator[Rows]:
    ids = _details_to_fetch(ctx)
    if not ids:
        ctx.progress("salesman invoice/info: no new or changed invoices")
        return
    ctx.progress(f"salesman invoice/info: {len(ids)} invoices to read")
    batch: Rows = []
    gone: list[str] = []
    for done, key in enumerate(ids, start=1):
        data = _invoice_info(ctx, key, with_deal=True)
        ctx.report.pages += 1
        if data is None:
            gone.append(key)
        else:
            batch.append(data)
            ctx.report.rows += 1
        if len(batch) >= DETAILS_BATCH:
            yield batch
            batch = []
        if done % 100 == 0:
            ctx.progress(f"salesman invoice/info: {done} of {len(ids)}")
    if batch:
        yield batch
    if len(gone) > GONE_TOLERANCE and len(gone) * 10 > len(ids):
        # invoice/list has just listed these invoices as live: a few may have been deleted
        # since, but "not found" for many of them is the endpoint failing, not deletions.
        raise NotFoundError(
            SOURCE,
            "invoice/info",
            f"SalesMan answered 'not found' for {len(gone)} of the {len(ids)} invoices that "
            f"invoice/list has as live (e.g. {', '.join(gone[:3])}); their details were not "
            "marked deleted",
            status=200,
            hint="Check that the API user may read these invoices, then re-run",
        )
    ctx.report_deleted(gone)


def _details_id(row: dict[str, Any]) -> Any:
    return row.get("crid")


INVOICES = EntitySpec(
    source=SOURCE,
    entity="invoices",
    description=(
        "SalesMan CRM invoices (payment-schedule records) as `invoice/list` returns them. A "
        "partially paid invoice is two records with the same number: the paid part and the "
        "remainder. Incremental: invoices created in the last 35 days before the cursor, every "
        "unpaid invoice and invoices paid since then; a full refresh marks deletions."
    ),
    fetch=fetch_invoices,
    id_of=invoice_key,
    cursor_of=invoice_cursor,
    lookback=LOOKBACK,
)

DETAILS = EntitySpec(
    source=SOURCE,
    entity="invoice_details",
    description=(
        "SalesMan `invoice/info` (dealinfo=true) of each invoice: VAT (`nds`), type (`tip`), "
        "payment status (`do` on/no), bank account, responsible user, the deal's currency and "
        "course, and the deal itself (specification, client, payer). Fetched only for "
        "invoices new or changed in raw.salesman_invoices since their details were read."
    ),
    fetch=fetch_invoice_details,
    id_of=_details_id,
    cursor_of=details_cursor,
    reads=("invoices",),
)

ENTITIES: list[EntitySpec] = [INVOICES, DETAILS]

__all__: list[str] = ["DETAILS", "ENTITIES", "INVOICES", "fetch_invoice_details", "fetch_invoices"]
