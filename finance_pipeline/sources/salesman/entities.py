"""SalesMan CRM entities: invoices (`invoice/list`) and their details (`invoice/info`).

invoices (raw.salesman_invoices)
    `invoice/list` pages, always ordered by creation date, oldest first, so records created
    while we page land on the last page. The page size is NOT the doc's "лимит в 200": it is
    the account's `num_client` setting (Invoice::list(): `$lines_per_page =
    $GLOBALS['num_client']`), so pages are numbered by `offset` and the read ends on the
    server's own figures: `count` reached (on a short page, or the last of `params.pageall`),
    or an empty page (PageNumberPaginator, http/paging.py); a count that disagrees after a
    re-count fails the entity (IncompleteReadError) and changes nothing.

    Before reading, each run asks how this server reads what the doc leaves open (see
    `ServerReadings`; 4 requests plus one per user): whether a read without `active` is
    filtered (the doc: "(true / false - по умолчанию)"; the vendor's server code ignores
    `active`), and whether the login sees every invoice ("доступных текущему сотруднику":
    the server scopes the list to the login and its subordinates unless `iduser` is given).
    Where a read without `active` would be filtered, every such read is made as `active=true`
    and `active=false` and united; where the login does not see everything, every read is made
    per user (`iduser`, users from `user/list`) and united. Paid state comes from each row
    (`color` null), never from `do` (true on unpaid rows for a login without `acs_credit`)
    and never from the filter that returned it.

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
    After the read, SalesMan's count is compared with ours and differing creation periods are
    re-read whole (salesman/reconcile.py): old paid invoices deleted upstream are marked the
    same run, and a rolling re-read finds other edits of old paid invoices within
    FINANCE_REVERIFY_DAYS runs. A full refresh reads everything and marks what vanished as
    deleted.

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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from finance_pipeline.http.answer import verbatim_batch, verbatim_record, verbatim_records
from finance_pipeline.http.concurrent import map_concurrently
from finance_pipeline.http.errors import (
    BadResponseError,
    NotFoundError,
    RequestRejectedError,
)
from finance_pipeline.http.paging import Page, PageNumberPaginator, PagingReport, read_pages
from finance_pipeline.http.progress import ProgressReporter
from finance_pipeline.sources.answers import as_int
from finance_pipeline.sources.extraction import EntitySpec, ExtractContext

SOURCE = "salesman"
LIST_PATH = "developer/v3/invoice/list"
INFO_PATH = "developer/v3/invoice/info"
USERS_PATH = "developer/v3/user/list"
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
    if not all(isinstance(row, dict) for row in answer["data"]):
        raise BadResponseError(SOURCE, "invoice/list", "a record in 'data' is not an object")
    rows = verbatim_records(answer, "data")  # landed as the server wrote them
    params = answer.get("params") if isinstance(answer.get("params"), dict) else {}
    total = as_int(answer.get("count"))
    if total is None:
        total = as_int(params.get("count"))
    return rows, params, total


def list_page(ctx: ExtractContext, filters: dict[str, Any], offset: int,
               first: str = "old") -> Page:
    body = {"order": "dateCreate", "first": first, **filters, "offset": offset}
    answer = ctx.client.request("GET", LIST_PATH, endpoint="invoice/list", json_body=body)
    rows, params, total = _list_answer(answer)
    served = as_int(params.get("page"))
    if served is not None and served < offset:
        # Asked past the last page, a server that clamps the page answered its last page
        # again (the vendor's code answers an empty one): the list has ended.
        rows = []
    return Page(rows=rows, total=total, pages_total=as_int(params.get("pageall")))


def list_invoices(
    ctx: ExtractContext, filters: dict[str, Any], label: str, *, first: str = "old"
) -> Iterator[Rows]:
    """Every page of one filtered `invoice/list` read, proven complete by its `count`.

    `offset` is a page number (0 and 1 both serve page 1); the page size is the server's
    (`num_client`), so no size is sent and none is assumed."""
    report = PagingReport()
    paginator = PageNumberPaginator(None, page_param="offset", size_param=None, first=1)
    try:
        yield from read_pages(
            paginator,
            lambda paging: list_page(ctx, filters, paging["offset"], first),
            source=SOURCE,
            endpoint=f"invoice/list ({label})",
            row_key=invoice_key,
            report=report,
            progress=ctx.progress,
        )
    finally:
        ctx.report.merge(report)


def _count(ctx: ExtractContext, filters: dict[str, Any]) -> int | None:
    """The `count` of a filtered list: one request (its first page). Kept in `ctx.shared` for
    the reconciliation plan (salesman/reconcile.py), which then need not ask it again."""
    ctx.report.recounts += 1
    total = list_page(ctx, filters, 1).total
    ctx.shared.setdefault(COUNTS, {})[count_key(filters)] = total
    return total


COUNTS, READINGS = "salesman invoice counts", "salesman server readings"


def count_key(filters: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v).lower()) for k, v in filters.items()))


def _users(ctx: ExtractContext) -> list[int] | None:
    """Every user of the account (`user/list`, not scoped by visibility); None if this server
    does not answer it."""
    try:
        answer = ctx.client.request("GET", USERS_PATH, endpoint="user/list", json_body={})
    except (RequestRejectedError, NotFoundError):
        return None
    ctx.report.recounts += 1
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list):
        return None
    return sorted({i for row in data if isinstance(row, dict) and (i := as_int(row.get("iduser")))})


@dataclass
class ServerReadings:
    """How this SalesMan reads what its doc leaves open, found from its own counts."""

    # Each read is made once per scope and united: [{}], or one {"iduser": n} per user when
    # the login does not see every invoice.
    scopes: list[dict[str, Any]] = field(default_factory=lambda: [{}])
    # A read without `active` is filtered (a default applies): make it twice, explicitly.
    active_default: bool = False

    def reads(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        """The explicit reads whose union is everything `filters` selects, on this server."""
        split = self.active_default and "active" not in filters
        actives: list[dict[str, Any]] = [{"active": True}, {"active": False}] if split else [{}]
        return [{**scope, **filters, **active} for scope in self.scopes for active in actives]


def server_readings(ctx: ExtractContext) -> ServerReadings:
    """Count the whole list without `active`, with `active=true` and `active=false`, and per
    user: the counts tell which reading of the doc this server follows."""
    readings = ServerReadings()
    whole = _count(ctx, {})
    paid, unpaid = _count(ctx, {"active": True}), _count(ctx, {"active": False})
    if whole is None or paid is None or unpaid is None:
        ignored = filtered = False  # no counts to tell: read both explicitly, to be safe
    else:
        ignored = paid == unpaid == whole
        filtered = paid + unpaid == whole
    if not (ignored or filtered):
        readings.active_default = True
        ctx.report.warnings.append(
            f"salesman invoice/list: without `active` the list holds {whole} invoices, with "
            f"active=true {paid} and active=false {unpaid}: this server applies a default, so "
            "every read is made with active=true and active=false"
        )
    users = _users(ctx)
    if users and whole is not None:
        per_user = {user: _count(ctx, {"iduser": user}) for user in users}
        seen = sum(count or 0 for count in per_user.values())
        iduser_ignored = len(users) > 1 and all(c == whole for c in per_user.values())
        if seen > whole and not iduser_ignored:
            readings.scopes = [{"iduser": user} for user in users]
            ctx.report.warnings.append(
                f"salesman invoice/list: the API login sees {whole} invoices, its {len(users)} "
                f"users have {seen}: every read is made per user (iduser)"
            )
    return readings


class SeenInvoices:
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
        # A page whose records are all new stays the server's page (landed as its text).
        return rows if len(out) == len(rows) else out


def _label(filters: dict[str, Any], what: str) -> str:
    extra = [f"{k}={str(v).lower()}" for k, v in filters.items() if k in ("active", "iduser")]
    return ", ".join([what, *extra])


def read_everything(
    ctx: ExtractContext, readings: ServerReadings, filters: dict[str, Any], what: str,
    seen: SeenInvoices,
) -> Iterator[Rows]:
    """Every invoice `filters` select on this server, each read proven, united by id."""
    for query in readings.reads(filters):
        for rows in list_invoices(ctx, query, _label(query, what)):
            new = seen.fresh(rows)
            if new:
                yield new


def fetch_invoices(ctx: ExtractContext) -> Iterator[Rows]:
    seen = SeenInvoices()
    readings = server_readings(ctx)
    ctx.shared[READINGS] = readings
    if ctx.full_refresh or ctx.since is None:
        yield from read_everything(ctx, readings, {}, "all", seen)
        return
    start = ctx.since.date().isoformat()
    reads: list[tuple[dict[str, Any], str]] = [
        ({"dateCreateStart": start, "dateCreateEnd": OPEN_END}, f"created since {start}"),
        ({"active": False}, "unpaid"),
        ({"dateFactStart": start, "dateFactEnd": OPEN_END}, f"paid since {start}"),
    ]
    for filters, label in reads:
        yield from read_everything(ctx, readings, filters, label, seen)
    yield from _recheck_vanished(ctx, start, seen, readings)


def _recheck_vanished(
    ctx: ExtractContext, start: str, seen: SeenInvoices, readings: ServerReadings
) -> Iterator[Rows]:
    """Invoices known unpaid or recent that no read returned: deleted, or moved out of reach."""
    known = ctx.query(
        """
        SELECT id,
               json_extract_string(payload, '$.date_create'),
               CASE WHEN json_exists(payload, '$.color')
                    THEN json_extract_string(payload, '$.color') IS NULL
                    ELSE coalesce(json_extract_string(payload, '$.do') IN ('true', '1'), false)
               END,
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
        # Recent ones should have come with the dateCreate window, unpaid ones with active=false
        # (paid state as is_paid() reads it: `color` null, not `do`).
        recent = created is not None and created >= start
        if recent or not paid:
            suspects.append((key, as_int(did)))
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
        yield from read_everything(ctx, readings, {"did": did}, f"deal {did}", seen)


# --- invoice/info -------------------------------------------------------------------------


def _invoice_info(
    ctx: ExtractContext, key: str, *, with_deal: bool = False
) -> dict[str, Any] | None:
    """The invoice's `info` record (with its deal when `with_deal`), or None when SalesMan says
    it does not exist."""
    invoice_id = as_int(key)
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
    data = verbatim_record(answer, "data")  # landed as the server wrote it
    crid = as_int(data.get("crid"))
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
        ids = sorted(set(ids) | {row[0] for row in extra}, key=lambda k: (as_int(k) or 0, k))
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
    reporter = ProgressReporter(ctx.progress, "salesman invoice/info")
    batch: Rows = []
    gone: list[str] = []
    # One request per invoice, independent of each other: sent concurrently, handed over in the
    # invoices' order (http/concurrent.py); the first failure fails the entity unlanded.
    read = map_concurrently(
        lambda key: _invoice_info(ctx, key, with_deal=True),
        ids,
        workers=ctx.concurrent_requests,
        progress=reporter,
        unit="invoices read",
    )
    for key, data in read:
        ctx.report.pages += 1
        if data is None:
            gone.append(key)
        else:
            batch.append(data)
            ctx.report.rows += 1
        if len(batch) >= DETAILS_BATCH:
            yield verbatim_batch(batch)
            batch = []
    if batch:
        yield verbatim_batch(batch)
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


def _invoices_plan() -> Any:
    """Counts per creation period vs ours after every run (salesman/reconcile.py)."""
    from finance_pipeline.sources.salesman.reconcile import SalesmanInvoicesPlan

    return SalesmanInvoicesPlan()


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
    id_paths=("$.id", "$.crid"),  # invoice_key: the same rule
    cursor_of=invoice_cursor,
    lookback=LOOKBACK,
    reconcile=_invoices_plan,
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
    id_paths=("$.crid",),
    cursor_of=details_cursor,
    reads=("invoices",),
)

ENTITIES: list[EntitySpec] = [INVOICES, DETAILS]

__all__: list[str] = ["DETAILS", "ENTITIES", "INVOICES", "fetch_invoice_details", "fetch_invoices"]
