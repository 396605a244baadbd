"""Adesk entities: the cash ledger and its reference lists, read from the v1 API.

Paging (http/paging.py). Only three lists document `start`/`length` (transactions, projects,
bank accounts); they are read with an OffsetPaginator: `length` = the resource's `page_length`
(MAX_PAGE_LENGTH), `start` advanced by the rows received (never by `length`: the docs name no
maximum, and a server answering at most 100 rows a page is a cap the paginator learns and reads
on past), until an empty page or `recordsFiltered` (the total under the filter by the docs'
words and under the DataTables convention the names come from alike; `recordsTotal` is never
used as a total). A count that still disagrees after a re-count fails the entity with
IncompleteReadError before anything is landed. Every other list documents no paging and
answers all its records at once (SinglePagePaginator): a `recordsFiltered` that differs from
what arrived fails the run rather than mark the rest deleted.

Defaults the docs leave unstated are never relied on: transactions always send `status=all`
(no default is stated; the sandbox can play `completed`), `type=all`, `range`, `date_type=cashier`,
`owner_transfer=all` and `taxes=all`; bank accounts are read as `status=open` and
`status=closed` (no default is stated either; closed accounts keep their movements).

Reference lists (transaction categories, projects with status=all so archived ones are kept,
project categories, bank accounts, legal entities, contractors, commitments, products, units,
tags) are small and have no change marker: every run reads them whole, and records that
vanished are marked deleted.

Transactions (`GET /v1/transactions`, newest first). The API filters by date only (no "changed
since"), and its defaults hide data: `status` must be `all` (planned movements are not
"completed") and `type` `all` (transfers between own accounts come as two legs with
`isTransfer: true`). Full sync: status=all, type=all, range=all_time. Incremental sync (cursor =
the newest `date` of a completed movement, re-read from TRANSACTIONS_LOOKBACK = 62 days before
it), three steps:
  1. every movement (status=all) dated in the window: range=custom from the cursor minus 62
     days, with no end, so planned movements in the future come too;
  2. planned movements dated before the window (overdue, not confirmed yet: few);
  3. raw rows that should have come back from 1-2 but did not (dated in the window, or planned)
     are looked up by id (`GET /v1/transaction/<id>`): a 404 marks the row deleted, an answer
     is landed (a movement whose date moved out of the window, a planned one confirmed with an
     old date). At most `verify_limit` lookups per run; more are left to the full refresh.
62 days covers two monthly closes: bank statements are re-imported and movements re-categorised
mostly within the current and the previous month.
Missed by an incremental run until the next (weekly) full refresh: edits and deletions of
movements dated more than 62 days before the newest one (Adesk does not say when a movement
changed), and new movements entered with such an old date (a late import of an old
statement). Offset paging over a list that changes during the run can show a row twice (the
landing keeps its last version) or skip one (a deletion shifting the pages); the next run
reads it again.

Contractor requisites (`GET /v1/contractor/<id>/requisites`, one request per contractor; the
answer does not name the contractor, so each row gets `_contractor_id`). A full sync reads them
for every contractor the API lists. An incremental sync reads them only for contractors whose
raw.adesk_contractors row changed (inserted, edited, deleted: `changed_at`) since the previous
requisites sync; the cursor is that table's `changed_at` watermark. Each contractor read is
declared complete, so its vanished requisites are marked deleted; deleted contractors get all
their requisites marked deleted. Missed until the full refresh: requisites edited, added or
removed without any change to the contractor's own list record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from finance_pipeline.http.answer import verbatim_records
from finance_pipeline.http.concurrent import map_concurrently
from finance_pipeline.http.errors import BadResponseError, NotFoundError
from finance_pipeline.http.paging import (
    OffsetPaginator,
    Page,
    PagingReport,
    SinglePagePaginator,
    read_pages,
)
from finance_pipeline.http.progress import ProgressReporter
from finance_pipeline.sources.adesk.reconcile import AdeskTransactionsPlan
from finance_pipeline.sources.adesk.resource import MAX_PAGE_LENGTH, code_of
from finance_pipeline.sources.answers import shape_of
from finance_pipeline.sources.extraction import EntitySpec, ExtractContext

SOURCE = "adesk"
TRANSACTIONS_LOOKBACK = timedelta(days=62)
# "No bound" for a custom range, in the YYYY-MM-DD form the API takes.
OPEN_RANGE_START = "1970-01-01"
OPEN_RANGE_END = "2099-12-31"
CONTRACTOR_ID_FIELD = "_contractor_id"


# --- answers and paging -----------------------------------------------------------------------


def listed_rows(body: Any, key: str, endpoint: str) -> tuple[list[dict[str, Any]], int | None]:
    """The records under `key` and the announced total (`recordsFiltered`), if any."""
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise BadResponseError(
            SOURCE, endpoint, f"expected {{'success': true, '{key}': [...]}}, got {shape_of(body)}"
        )
    rows = body[key]
    if not all(isinstance(r, dict) and r.get("id") not in (None, "") for r in rows):
        raise BadResponseError(SOURCE, endpoint, f"'{key}' holds a record without an id")
    return rows, code_of(body.get("recordsFiltered"))


def _merge(report: PagingReport, into: PagingReport) -> None:
    into.merge(report)


def _whole_list(
    ctx: ExtractContext,
    path: str,
    key: str,
    *,
    params: Mapping[str, Any] | None = None,
    form: Mapping[str, Any] | None = None,
    report: PagingReport | None = None,
    progress: Callable[[str], None] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """A list the docs give no paging for: one request that answers every record."""
    endpoint = "/" + path
    method = "POST" if form is not None else "GET"

    def fetch(_: dict[str, Any]) -> Page:
        body = ctx.client.request(method, path, endpoint=endpoint, params=params, form=form)
        _, total = listed_rows(body, key, endpoint)
        return Page(verbatim_records(body, key), total=total)  # landed as the server wrote them

    # A count that differs from the records of the only page fails the read (IncompleteReadError)
    # rather than mark the rest deleted: this list is documented without paging.
    yield from read_pages(
        SinglePagePaginator(),
        fetch,
        source=SOURCE,
        endpoint=endpoint,
        report=report if report is not None else ctx.report,
        progress=progress if progress is not None else ctx.progress,
    )


def paged_list(
    ctx: ExtractContext,
    path: str,
    key: str,
    params: Mapping[str, Any],
    *,
    report: PagingReport | None = None,
    label: str = "",
) -> Iterator[list[dict[str, Any]]]:
    """A `start`/`length` list, newest pages streamed as they arrive, proven complete."""
    endpoint = "/" + path + (f" ({label})" if label else "")
    length = int(getattr(ctx.resource, "page_length", MAX_PAGE_LENGTH))

    def fetch(paging: dict[str, Any]) -> Page:
        body = ctx.client.request("GET", path, endpoint="/" + path, params={**params, **paging})
        _, total = listed_rows(body, key, "/" + path)
        return Page(verbatim_records(body, key), total=total)  # landed as the server wrote them

    yield from read_pages(
        OffsetPaginator(length),
        fetch,
        source=SOURCE,
        endpoint=endpoint,
        report=report if report is not None else ctx.report,
        progress=ctx.progress,
    )


# --- reference lists --------------------------------------------------------------------------


def _whole(
    path: str, key: str, **kwargs: Any
) -> Callable[[ExtractContext], Iterator[list[dict[str, Any]]]]:
    def fetch(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
        yield from _whole_list(ctx, path, key, **kwargs)

    return fetch


def _paged(
    path: str, key: str, *readings: Mapping[str, Any]
) -> Callable[[ExtractContext], Iterator[list[dict[str, Any]]]]:
    """A paged list read once per parameter set and united by id: where the docs state no
    default for a filter, each of its values is asked for explicitly (each read proven)."""

    def fetch(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
        seen: set[str] = set()
        for params in readings:
            label = ", ".join(f"{k}={v}" for k, v in params.items()) if len(readings) > 1 else ""
            for rows in paged_list(ctx, path, key, params, label=label):
                fresh = [row for row in rows if str(row["id"]) not in seen]
                seen.update(str(row["id"]) for row in fresh)
                if fresh:
                    yield rows if len(fresh) == len(rows) else fresh  # whole: still verbatim

    return fetch


# --- transactions -----------------------------------------------------------------------------


def _iso_day(value: Any) -> str | None:
    """`dd.mm.yyyy` (how Adesk writes dates) -> `yyyy-mm-dd`; None if it is not that form.
    Sliced rather than strptime'd: this runs once per movement, a million times a full sync."""
    if (
        isinstance(value, str)
        and len(value) == 10
        and value[2] == value[5] == "."
        and (value[:2] + value[3:5] + value[6:]).isdigit()
    ):
        return f"{value[6:]}-{value[3:5]}-{value[:2]}"
    return None


def _is_planned(row: dict[str, Any]) -> bool:
    value = row.get("isPlanned")
    return value is True or (isinstance(value, str) and value.lower() == "true")


def transaction_cursor(row: dict[str, Any]) -> str | None:
    """The movement's date (ISO) for completed movements; planned ones lie in the future."""
    if _is_planned(row):
        return None
    return _iso_day(row.get("date"))


def fetch_transactions(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
    path, key = "v1/transactions", "transactions"
    # Every filter explicit: the docs state no default for `status` (see the module doc).
    base = {"type": "all", "date_type": "cashier", "owner_transfer": "all", "taxes": "all"}
    if ctx.full_refresh or ctx.since is None:
        yield from paged_list(
            ctx, path, key, {**base, "status": "all", "range": "all_time"}, label="all"
        )
        return

    since = ctx.since.date()
    seen: set[str] = set()
    window = {
        **base,
        "status": "all",
        "range": "custom",
        "range_start": since.isoformat(),
        "range_end": OPEN_RANGE_END,
    }
    overdue = {
        **base,
        "status": "planned",
        "range": "custom",
        "range_start": OPEN_RANGE_START,
        "range_end": (since - timedelta(days=1)).isoformat(),
    }
    ctx.progress(f"adesk transactions: movements dated {since.isoformat()} or later")
    for label, params in (("window", window), ("planned, older", overdue)):
        report = PagingReport()
        for rows in paged_list(ctx, path, key, params, report=report, label=label):
            seen.update(str(r["id"]) for r in rows)
            yield rows
        _merge(report, ctx.report)

    # Rows the window should have brought back but did not: deleted, or moved elsewhere.
    candidates = ctx.query(
        """
        SELECT id FROM raw.adesk_transactions
        WHERE deleted_at IS NULL
          AND (json_extract_string(payload, '$.isPlanned') = 'true'
               OR try_strptime(json_extract_string(payload, '$.date'), '%d.%m.%Y') >= ?::TIMESTAMP)
        """,
        [since.isoformat()],
    )
    missing = sorted((str(r[0]) for r in candidates if str(r[0]) not in seen), key=_sort_key)
    limit = int(getattr(ctx.resource, "verify_limit", 500))
    if len(missing) > limit:
        ctx.report.warnings.append(
            f"adesk transactions: {len(missing)} movements of the window vanished, more than "
            f"verify_limit={limit}; they are left as they are until the next full refresh"
        )
        return
    if missing:
        ctx.progress(
            f"adesk transactions: looking up {len(missing)} movements that left the window"
        )
    deleted: list[str] = []
    for tid in missing:
        try:
            body = ctx.client.request(
                "GET", f"v1/transaction/{tid}", endpoint="/v1/transaction/<id>"
            )
        except NotFoundError:
            deleted.append(tid)
            continue
        row = body.get("transaction") if isinstance(body, dict) else None
        if not isinstance(row, dict) or row.get("id") in (None, ""):
            raise BadResponseError(
                SOURCE,
                "/v1/transaction/<id>",
                f"expected {{'transaction': {{...}}}}, got {shape_of(body)}",
            )
        ctx.report.rows += 1
        yield [row]
    ctx.report_deleted(deleted)


def _sort_key(value: str) -> tuple[int, str]:
    return (int(value), value) if value.isdigit() else (0, value)


# --- contractor requisites --------------------------------------------------------------------


def _requisite_targets(ctx: ExtractContext) -> tuple[str | None, list[tuple[int, bool]] | None]:
    """(raw contractors' changed_at watermark, [(contractor id, live)] changed since the last
    requisites sync); targets are None on a full sync (every contractor the API lists)."""
    full = ctx.full_refresh or ctx.since is None
    rows = ctx.query(
        """
        WITH m AS (SELECT max(changed_at) AS watermark FROM raw.adesk_contractors)
        SELECT m.watermark, t.id, t.live
        FROM m LEFT JOIN (
            SELECT id, deleted_at IS NULL AS live FROM raw.adesk_contractors WHERE changed_at > ?
        ) t ON true
        """,
        [ctx.since if not full else datetime(1970, 1, 1)],
    )
    watermark = rows[0][0] if rows else None
    stamp = watermark.isoformat() if isinstance(watermark, datetime) else None
    if full:
        return stamp, None
    if not rows:
        raise RuntimeError(
            "raw.adesk_contractors does not exist: materialize raw/adesk_contractors before an "
            "incremental raw/adesk_contractor_requisites sync"
        )
    targets = sorted({int(r[1]): bool(r[2]) for r in rows if r[1] is not None}.items())
    return stamp, targets


REQUISITES_ENDPOINT = "/v1/contractor/<id>/requisites"


def _read_requisites(
    ctx: ExtractContext, contractor_id: int
) -> tuple[list[list[dict[str, Any]]] | None, PagingReport]:
    """One contractor's requisites, proven complete (pages, report); None for pages when the
    contractor answers 404 (deleted since it was listed). Runs in a worker thread: it touches
    only the client (thread-safe) and its own report, never the context's."""

    def fetch(_: dict[str, Any]) -> Page:
        body = ctx.client.request(
            "GET", f"v1/contractor/{contractor_id}/requisites", endpoint=REQUISITES_ENDPOINT
        )
        rows, total = listed_rows(body, "requisites", REQUISITES_ENDPOINT)
        for row in rows:
            row[CONTRACTOR_ID_FIELD] = contractor_id  # the answer does not name its parent
        return Page(rows, total=total)

    report = PagingReport()
    try:
        pages = list(
            read_pages(
                SinglePagePaginator(), fetch, source=SOURCE,
                endpoint=f"{REQUISITES_ENDPOINT} (contractor {contractor_id})", report=report,
            )
        )
    except NotFoundError:
        return None, report
    return pages, report


def fetch_contractor_requisites(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
    watermark, targets = _requisite_targets(ctx)
    if targets is None:
        listing = PagingReport()
        contractors = [
            int(row["id"])
            for rows in _whole_list(
                ctx, "v1/contractors", "contractors", params={"reduced": "true"}, report=listing
            )
            for row in rows
        ]
        _merge(listing, ctx.report)
        to_read, gone = contractors, []
        ctx.progress(
            f"adesk contractor_requisites: reading requisites of all {len(to_read)} contractors"
        )
    else:
        to_read = [cid for cid, live in targets if live]
        gone = [cid for cid, live in targets if not live]
        ctx.progress(
            f"adesk contractor_requisites: {len(to_read)} contractors changed and {len(gone)} "
            "deleted since the last sync"
        )
    ctx.declare_complete_for(gone)  # deleted contractors have no requisites left
    vanished: list[int] = []
    reporter = ProgressReporter(ctx.progress, "adesk contractor_requisites")
    # One request per contractor, independent of each other: sent concurrently, handed over in
    # the contractors' order (http/concurrent.py); the first failure fails the entity unlanded.
    read = map_concurrently(
        lambda contractor_id: _read_requisites(ctx, contractor_id),
        to_read,
        workers=ctx.concurrent_requests,
        progress=reporter,
        unit="contractors read",
    )
    for contractor_id, (pages, report) in read:
        if pages is None:
            vanished.append(contractor_id)  # deleted since it was listed: no requisites left
        else:
            yield from pages
        _merge(report, ctx.report)
        ctx.declare_complete_for([contractor_id])
    if vanished:
        if len(vanished) == len(to_read):
            raise NotFoundError(
                SOURCE,
                REQUISITES_ENDPOINT,
                f"every one of the {len(vanished)} contractors answered 404",
                hint="Check ADESK_BASE_URL (the host only, e.g. https://api.adesk.ru)",
            )
        ctx.report.warnings.append(
            f"adesk contractor_requisites: {len(vanished)} contractors no longer exist "
            f"(e.g. {vanished[:5]}); their requisites are marked deleted"
        )
    ctx.new_cursor = watermark


# --- specs ------------------------------------------------------------------------------------


def _spec(
    entity: str,
    description: str,
    fetch: Callable[[ExtractContext], Iterator[list[dict[str, Any]]]],
    **kwargs: Any,
) -> EntitySpec:
    return EntitySpec(source=SOURCE, entity=entity, description=description, fetch=fetch, **kwargs)


ENTITIES: list[EntitySpec] = [
    _spec(
        "transactions",
        "Adesk movements (GET /v1/transactions, status=all, type=all): completed and planned, "
        "transfers as two legs with isTransfer. Incremental by date: the last 62 days, every "
        "planned movement, and id look-ups of rows that left that window; the weekly full "
        "refresh catches edits and deletions of older movements.",
        fetch_transactions,
        cursor_of=transaction_cursor,
        lookback=TRANSACTIONS_LOOKBACK,
        # Re-read periods are complete for their days (adesk/reconcile.py).
        scope_json_path="$.date",
        reconcile=AdeskTransactionsPlan,
    ),
    _spec(
        "transaction_categories",
        "Adesk transaction categories (статьи, GET /v1/transactions/categories, with their "
        "group), archived included; read whole every run.",
        _whole("v1/transactions/categories", "categories", params={"full_group": "true"}),
    ),
    _spec(
        "projects",
        "Adesk projects and deals (GET /v1/projects, status=all: archived included); read "
        "whole every run.",
        _paged("v1/projects", "projects", {"status": "all"}),
    ),
    _spec(
        "project_categories",
        "Adesk project categories (направления, GET /v1/projects/categories); read whole.",
        _whole("v1/projects/categories", "categories"),
    ),
    _spec(
        "bank_accounts",
        "Adesk bank accounts and cash desks (GET /v1/bank-accounts, status=open and "
        "status=closed: no default is documented), with the current balance in `amount`; read "
        "whole every run.",
        _paged("v1/bank-accounts", "bankAccounts", {"status": "open"}, {"status": "closed"}),
    ),
    _spec(
        "legal_entities",
        "Our own legal entities in Adesk (GET /v1/legal-entities); read whole every run.",
        _whole("v1/legal-entities", "legalEntities"),
    ),
    _spec(
        "contractors",
        "Adesk contractors (GET /v1/contractors: every contractor not deleted); read whole "
        "every run, vanished ones marked deleted.",
        _whole("v1/contractors", "contractors"),
    ),
    _spec(
        "contractor_requisites",
        "Requisites of each Adesk contractor (GET /v1/contractor/<id>/requisites), with "
        "`_contractor_id`. Incremental: only contractors whose raw row changed; full: all.",
        fetch_contractor_requisites,
        # The cursor is raw.adesk_contractors' changed_at watermark, set by the fetch.
        cursor_of=lambda row: None,
        scope_json_path=f"$.{CONTRACTOR_ID_FIELD}",
        reads=("contractors",),
    ),
    _spec(
        "commitments",
        "Adesk commitments (обязательства, POST /v1/commitments, range=all_time); read whole "
        "every run.",
        _whole("v1/commitments", "commitments", form={"range": "all_time"}),
    ),
    _spec(
        "products",
        "Adesk warehouse products and services (GET /v1/warehouse/products); read whole.",
        _whole("v1/warehouse/products", "products"),
    ),
    _spec(
        "units",
        "Adesk units of measure (GET /v1/warehouse/units); read whole every run.",
        _whole("v1/warehouse/units", "units"),
    ),
    _spec(
        "tags",
        "Adesk tags (GET /v1/tags); read whole every run.",
        _whole("v1/tags", "tags"),
    ),
]
