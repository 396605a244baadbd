"""ApiPay invoices and refunds compared with ApiPay's own counts after every run
(sources/reconcile.py, the plan: sources/period_counts.py).

Figures: the `total` of a one-row page (`per_page=1`; flat `total` as the vendor's OpenAPI
2.1.0 has it, or `meta.total` as our doc has it, read by `rows_and_meta`) of `GET /invoices`
and `GET /refunds` for records created up to a day (`date_to`, inclusive: "Window end,
inclusive", the vendor's invoices.md), for the whole list and for one status (`paid` invoices,
`completed` refunds: the money; `paid` means the same filter under our doc and the vendor's,
the status served being the status filtered). A no-change run asks 2 counts per entity.

`date_from`/`date_to` are whole days in a time zone our doc does not state (the vendor:
Asia/Almaty; the sandbox: UTC): our count of a period is taken under both and agrees when
either does, re-reads ask a day more on each side (sources/period_counts.py).

Deletions: ApiPay publishes no way to delete an invoice (the vendor's invoices.md: cancel,
refund, status check only), but a refund list that loses a record, or an invoice list that does
(support removing a test invoice), changes a count: the period is re-read and what we hold in
it that ApiPay no longer lists is marked deleted. A status corrected among statuses not counted
(`expired` -> `cancelled` after a status check) is found by the rolling re-read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from finance_pipeline.http.errors import BadResponseError
from finance_pipeline.http.paging import PagingReport
from finance_pipeline.sources.answers import as_int
from finance_pipeline.sources.apipay.entities import (
    ORDER,
    SOURCE,
    read_list_pages,
    rows_and_meta,
)
from finance_pipeline.sources.period_counts import Figure, Ours, PeriodCountPlan, Rows


# The readings of a `date_from`/`date_to` day: UTC (our doc is silent; the sandbox) and the
# merchant's Asia/Almaty (the vendor's invoices.md).
def _almaty() -> tzinfo:
    try:
        return ZoneInfo("Asia/Almaty")
    except ZoneInfoNotFoundError:  # no tz database on this machine: today's offset
        return timezone(timedelta(hours=5))


ZONES: tuple[tzinfo, ...] = (UTC, _almaty())


def creation_days(created_at: Any) -> tuple[date, ...]:
    """A record's creation day under each reading of ApiPay's day, () if unreadable."""
    if not isinstance(created_at, str):
        return ()
    try:
        moment = datetime.fromisoformat(created_at.strip())
    except ValueError:
        return ()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZONES[0])
    return tuple(moment.astimezone(zone).date() for zone in ZONES)


class ApipayListPlan(PeriodCountPlan):
    def __init__(self, path: str, table: str, figures: tuple[Figure, ...], *,
                 order: list[tuple[str, str]] | None = None) -> None:
        super().__init__(label=f"apipay {path}", figures=figures)
        self.path, self.table, self.order = path, table, order or []

    def count_before(self, ctx: Any, figure: Figure, day: date | None) -> int:
        params = [("page", "1"), ("per_page", "1")]
        if figure.status is not None:
            params.append(("status[]", figure.status))
        if day is not None:
            params.append(("date_to", (day - timedelta(days=1)).isoformat()))
        endpoint = f"{self.path} (count)"
        body = ctx.client.request("GET", self.path, endpoint=endpoint, params=params)
        _, figures = rows_and_meta(body, endpoint)
        total = as_int(figures.get("total"))
        if total is None:
            raise BadResponseError(SOURCE, endpoint, "the answer carries no total")
        return total

    def our_records(self, ctx: Any) -> list[Ours]:
        rows = ctx.query(
            f"""
            SELECT id, json_extract_string(payload, '$.created_at'),
                   json_extract_string(payload, '$.status'), extracted_at
            FROM raw.{self.table} WHERE deleted_at IS NULL
            """
        )
        return [Ours(str(r[0]), creation_days(r[1]), r[2], r[3]) for r in rows]

    def read_period(self, ctx: Any, first: date, last: date, label: str) -> Iterator[Rows]:
        params = [*self.order, ("date_from", first.isoformat()), ("date_to", last.isoformat())]
        report = PagingReport()
        try:
            yield from read_list_pages(ctx, self.path, params, f"re-read {label}", report)
        finally:
            ctx.report.merge(report)

    def record_id(self, row: dict[str, Any]) -> str | None:
        value = row.get("id")
        return None if value is None else str(value)


def invoices_plan() -> ApipayListPlan:
    return ApipayListPlan(
        "invoices", "apipay_invoices", (Figure("count"), Figure("paid count", "paid")),
        order=list(ORDER),
    )


def refunds_plan() -> ApipayListPlan:
    return ApipayListPlan(
        "refunds", "apipay_refunds", (Figure("count"), Figure("completed count", "completed")),
    )
