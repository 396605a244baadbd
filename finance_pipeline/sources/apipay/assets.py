"""ApiPay.kz entities: invoices (`GET /invoices`) and their refunds (`GET /invoices/{id}/refunds`).

Invoices
    The list can filter by *creation* date only (`date_from`/`date_to`, whole days), not by
    change, and its default order (newest first) shifts under offset paging while invoices are
    created, so every read asks `sort_by=created_at&sort_order=asc` with `per_page=100` (the
    maximum): new invoices land after the last page instead of pushing rows across pages.

    Full sync: the whole list without any status filter (the documented default is "no filter",
    so every status is included; the announced `meta.total` is checked against what arrived).

    Incremental sync (cursor = newest `created_at` seen), the union by id of:
      1. everything created since the cursor minus `INVOICE_LOOKBACK` (3 days): `date_from` is a
         whole day in a time zone the docs do not state (UTC or Almaty, UTC+5), so the cursor's
         own day and the day before are always re-read; the rest is margin for invoices that
         become visible late. Invoices this young are also the ones that change most;
      2. every invoice in a state that still changes by itself, whatever its age:
         `status[]=pending` (paid/cancelled/expired within 72 hours), `cancelling` (becomes
         `cancelled`) and `partially_refunded` (can be refunded further);
      3. `status[]=refunded` created within `REFUND_WINDOW` (30 days) of the cursor: refunds
         mostly come within days of payment, and a `paid` invoice that was refunded in full is
         no longer `paid`, so it is found where it is now;
      4. a check for older full refunds: one page of `status[]=refunded` created before that
         window; its `meta.total` is compared with the warehouse, and only if they differ is the
         rest of that list read.
    `paid` invoices that were partly refunded show up in (2) whatever their age.

    Missed until the next full refresh: invoices deleted upstream (the API has no deletion
    feed), edits of fields other than status/refund totals on invoices older than the
    lookback, and an old full refund that coincides with a deletion of another old refunded
    invoice (the count in 4 stays equal).

Refunds
    Per invoice, only for invoices that can have refunds (`paid`, `partially_refunded`,
    `refunded`). A full sync reads them for every such invoice in raw.apipay_invoices; an
    incremental sync only for the invoices whose raw row changed (`changed_at`) since the
    previous refunds sync — a refund always changes its invoice (status, `total_refunded`) — and
    for those with a refund still `pending`/`processing`. The cursor is the raw invoices'
    `changed_at` watermark. Every invoice re-read is declared complete, so its refunds that
    vanished upstream are marked deleted (scoped by `invoice_id`); invoices deleted upstream
    have their refunds marked deleted too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from finance_pipeline.http.errors import BadResponseError, NotFoundError
from finance_pipeline.http.paging import (
    Page,
    PagingReport,
    iter_pages,
    next_page_number,
    pages_for,
)
from finance_pipeline.sources.extraction import EntitySpec, ExtractContext, _parse_cursor

SOURCE = "apipay"
PER_PAGE = 100  # the documented maximum of per_page (1-100)
INVOICE_LOOKBACK = timedelta(days=3)
REFUND_WINDOW = timedelta(days=30)
ORDER = [("sort_by", "created_at"), ("sort_order", "asc")]
# Statuses in which an invoice still changes by itself (see the module docstring).
OPEN_STATUSES = ("pending", "cancelling", "partially_refunded")
# Statuses of invoices that can have refunds.
REFUNDABLE_STATUSES = ("paid", "partially_refunded", "refunded")
# Refund statuses that still change (pending -> processing -> completed | failed).
OPEN_REFUND_STATUSES = ("pending", "processing")


# --- invoices ---------------------------------------------------------------------------------


def _rows_and_meta(body: Any, endpoint: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise BadResponseError(
            SOURCE, endpoint, f"expected {{'data': [...], 'meta': {{...}}}}, got {_shape(body)}"
        )
    rows = body["data"]
    if not all(isinstance(row, dict) and row.get("id") is not None for row in rows):
        raise BadResponseError(SOURCE, endpoint, "a record in 'data' is not an object with an id")
    meta = body.get("meta")
    return rows, meta if isinstance(meta, dict) else {}


def _shape(body: Any) -> str:
    if isinstance(body, dict):
        return "an object with keys " + ", ".join(sorted(map(str, body))[:10])
    return type(body).__name__


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _merge(into: PagingReport, part: PagingReport) -> None:
    into.pages += part.pages
    into.rows += part.rows
    into.warnings.extend(part.warnings)
    if part.announced_total is not None:
        into.announced_total = (into.announced_total or 0) + part.announced_total


def _read_invoices(
    ctx: ExtractContext,
    params: list[tuple[str, str]],
    label: str,
    report: PagingReport,
    stop_after_first: Callable[[int | None], bool] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Page through one `GET /invoices` query (per_page=100, oldest first)."""
    endpoint = f"invoices ({label})"

    def fetch(page: int) -> Page:
        body = ctx.client.request(
            "GET",
            "invoices",
            endpoint=endpoint,
            params=[*params, ("per_page", str(PER_PAGE)), ("page", str(page))],
        )
        rows, meta = _rows_and_meta(body, endpoint)
        total = _as_int(meta.get("total"))
        pages_total = pages_for(total, PER_PAGE)
        if page == 1 and stop_after_first is not None and stop_after_first(total):
            # The first page was a probe and it says nothing else changed.
            return Page(rows, None, None, None)
        return Page(rows, next_page_number(page, len(rows), PER_PAGE, pages_total), total, pages_total)

    yield from iter_pages(
        fetch, 1, source=SOURCE, endpoint=endpoint, report=report, progress=ctx.progress
    )


def _day(moment: datetime) -> date:
    """The UTC calendar day of a moment (the date filters are taken as UTC days)."""
    return moment.astimezone(UTC).date() if moment.tzinfo else moment.date()


def fetch_invoices(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
    if ctx.full_refresh or ctx.since is None:
        ctx.progress("apipay invoices: reading every invoice (all statuses)")
        yield from _read_invoices(ctx, list(ORDER), "all", ctx.report)
        return

    seen: set[str] = set()

    def fresh(pages: Iterable[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
        for rows in pages:
            new = [row for row in rows if str(row["id"]) not in seen]
            seen.update(str(row["id"]) for row in new)
            if new:
                yield new

    def run(params: list[tuple[str, str]], label: str,
            stop_after_first: Callable[[int | None], bool] | None = None
            ) -> Iterator[list[dict[str, Any]]]:
        part = PagingReport()
        try:
            yield from fresh(_read_invoices(ctx, params, label, part, stop_after_first))
        finally:
            _merge(ctx.report, part)

    since_day = _day(ctx.since)
    anchor = ctx.since
    if ctx.state.cursor:
        anchor = max(anchor, _parse_cursor(ctx.state.cursor))
    window_day = min(since_day, _day(anchor - REFUND_WINDOW))

    # 1. Created recently (the lookback is already subtracted from the cursor).
    yield from run([*ORDER, ("date_from", since_day.isoformat())], f"created since {since_day}")
    # 2. Still open, whatever their age.
    yield from run([*ORDER, *(("status[]", s) for s in OPEN_STATUSES)], "open statuses")
    # 3. Refunded in full recently.
    yield from run(
        [*ORDER, ("status[]", "refunded"), ("date_from", window_day.isoformat())],
        f"refunded, created since {window_day}",
    )
    # 4. Older full refunds: one page to compare the count; the rest only if it differs.
    before = window_day - timedelta(days=1)
    known = _known_refunded_before(ctx, window_day)
    if known is not None:
        yield from run(
            [*ORDER, ("status[]", "refunded"), ("date_to", before.isoformat())],
            f"refunded, created until {before}",
            stop_after_first=lambda total: total is not None and total == known,
        )


def _known_refunded_before(ctx: ExtractContext, day: date) -> int | None:
    rows = ctx.query(
        """
        SELECT count(*) FROM raw.apipay_invoices
        WHERE deleted_at IS NULL
          AND json_extract_string(payload, '$.status') = 'refunded'
          AND substr(json_extract_string(payload, '$.created_at'), 1, 10) < ?
        """,
        [day.isoformat()],
    )
    return int(rows[0][0]) if rows else None


# --- refunds ----------------------------------------------------------------------------------


def _refund_targets(ctx: ExtractContext) -> tuple[str | None, list[tuple[int, bool]]]:
    """The invoices whose refunds to read: (watermark, [(invoice id, still refundable)])."""
    refundable = ", ".join(f"'{s}'" for s in REFUNDABLE_STATUSES)
    if ctx.full_refresh or ctx.since is None:
        changed_filter, params = "deleted_at IS NULL", []
    else:
        changed_filter, params = "changed_at > ?", [ctx.since]
    rows = ctx.query(
        f"""
        WITH m AS (SELECT max(changed_at) AS watermark FROM raw.apipay_invoices)
        SELECT m.watermark, t.id, t.live
        FROM m LEFT JOIN (
            SELECT id,
                   deleted_at IS NULL
                   AND json_extract_string(payload, '$.status') IN ({refundable}) AS live
            FROM raw.apipay_invoices
            WHERE {changed_filter}
        ) t ON true
        """,
        params,
    )
    if not rows:
        raise RuntimeError(
            "raw.apipay_invoices does not exist yet: materialize raw/apipay_invoices before "
            "raw/apipay_refunds (refunds are read per invoice)"
        )
    watermark = rows[0][0]
    targets = {int(r[1]): bool(r[2]) for r in rows if r[1] is not None}
    if not (ctx.full_refresh or ctx.since is None):
        open_refund_statuses = ", ".join(f"'{s}'" for s in OPEN_REFUND_STATUSES)
        for (invoice_id,) in ctx.query(
            f"""
            SELECT DISTINCT json_extract_string(payload, '$.invoice_id')
            FROM raw.apipay_refunds
            WHERE deleted_at IS NULL
              AND json_extract_string(payload, '$.status') IN ({open_refund_statuses})
            """
        ):
            if invoice_id is not None and int(invoice_id) not in targets:
                targets[int(invoice_id)] = True
    stamp = watermark.isoformat() if isinstance(watermark, datetime) else None
    return stamp, sorted(targets.items())


def fetch_refunds(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
    watermark, targets = _refund_targets(ctx)
    to_read = [invoice_id for invoice_id, live in targets if live]
    gone = [invoice_id for invoice_id, live in targets if not live]
    mode = "every refundable invoice" if ctx.full_refresh else "invoices changed since last sync"
    ctx.progress(f"apipay refunds: reading refunds of {len(to_read)} invoices ({mode})")
    # Invoices deleted upstream (or no longer refundable) have no refunds left.
    ctx.declare_complete_for(gone)
    missing: list[int] = []
    for invoice_id in to_read:
        endpoint = f"invoices/{invoice_id}/refunds"

        def fetch(_: object, invoice_id: int = invoice_id, endpoint: str = endpoint) -> Page:
            body = ctx.client.request("GET", endpoint, endpoint="invoices/{id}/refunds")
            rows, _meta = _rows_and_meta(body, endpoint)
            for row in rows:
                # The parent id scopes deletions; the per-invoice list may leave it out.
                row.setdefault("invoice_id", invoice_id)
            return Page(rows, None)

        try:
            yield from iter_pages(
                fetch, 1, source=SOURCE, endpoint="invoices/{id}/refunds", report=ctx.report,
                progress=ctx.progress,
            )
        except NotFoundError:
            # Deleted upstream after the invoices sync: it has no refunds any more.
            missing.append(invoice_id)
        ctx.declare_complete_for([invoice_id])
    if missing:
        if len(missing) == len(to_read):
            raise NotFoundError(
                SOURCE,
                "invoices/{id}/refunds",
                f"every one of the {len(missing)} invoices answered 404",
                hint="Check APIPAY_BASE_URL (it must end with /api/v1)",
            )
        ctx.report.warnings.append(
            f"apipay refunds: {len(missing)} invoices no longer exist upstream "
            f"(e.g. {missing[:5]}); their refunds are marked deleted"
        )
    ctx.new_cursor = watermark


# --- specs ------------------------------------------------------------------------------------

ENTITIES: list[EntitySpec] = [
    EntitySpec(
        source=SOURCE,
        entity="invoices",
        description=(
            "ApiPay.kz invoices (Kaspi Pay, KZT), every status, as GET /invoices returns them "
            "(amount as the API's decimal string, cart_items, total_refunded)."
        ),
        fetch=fetch_invoices,
        cursor_of=lambda row: row.get("created_at"),
        lookback=INVOICE_LOOKBACK,
    ),
    EntitySpec(
        source=SOURCE,
        entity="refunds",
        description=(
            "ApiPay.kz refunds, per invoice (GET /invoices/{id}/refunds), for invoices that "
            "can have refunds (paid, partially_refunded, refunded)."
        ),
        fetch=fetch_refunds,
        # The cursor is the raw invoices' changed_at watermark, set by fetch_refunds.
        cursor_of=lambda row: None,
        scope_json_path="$.invoice_id",
        reads=("invoices",),
    ),
]
