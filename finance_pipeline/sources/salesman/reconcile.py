"""SalesMan invoices compared with SalesMan's own counts after every run (sources/reconcile.py,
the plan: sources/period_counts.py).

Figure: the `count` of `invoice/list` ("общее количество записей в выборке",
salesman-invoice-api-v3.md) for invoices created before a day: a lone `dateCreateEnd` ("только
*End – вывод записей с датой меньше указанной даты"; Invoice::list() of vladandreevg/salesmancrm:
`datum < End`, i.e. before that day's midnight). It reads the same under every reading of the
doc: a DATETIME and a DATE comparison agree on "before day X", where a Start/End pair does not
(BETWEEN on the DATETIME `datum` takes the End day only at 00:00:00; a lone `dateCreateStart`
filters nothing on SalesMan 2024.1). Every count is made as the entity's reads are
(`ServerReadings`): per user where the login does not see every invoice, as `active=true` +
`active=false` where a read without `active` is filtered; the sum is the whole.

Not compared per paid/unpaid: `active` is not a filter on the vendor's server (Invoice::list()
never reads it), so that count cannot be asked under every reading. A payment moves no count;
the incremental read re-reads every unpaid invoice and the ones paid in its window, and the
rolling re-read the rest.

Cost: a no-change run asks nothing more: the whole list's count is the one the entity's read
asked before reading (`ServerReadings`), asked again only when it differs. A differing count is
bisected over creation days (one request per new boundary), a differing period re-read whole
with a Start/End pair a day wider on each side (whole days under every reading), and what we
hold in it that SalesMan no longer lists is marked deleted; the details (`invoice/info`) of
every invoice the repair changed are re-read by the details entity, which runs next.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from finance_pipeline.http.errors import BadResponseError
from finance_pipeline.sources.period_counts import Figure, Ours, PeriodCountPlan, Rows
from finance_pipeline.sources.salesman.entities import (
    COUNTS,
    READINGS,
    SOURCE,
    SeenInvoices,
    ServerReadings,
    count_key,
    invoice_key,
    list_page,
    read_everything,
    server_readings,
)


class SalesmanInvoicesPlan(PeriodCountPlan):
    def __init__(self) -> None:
        super().__init__(label="salesman invoices", figures=(Figure("count"),))
        self.readings: ServerReadings | None = None

    def _readings(self, ctx: Any) -> ServerReadings:
        if self.readings is None:
            self.readings = ctx.shared.get(READINGS) or server_readings(ctx)
        return self.readings

    def count_before(self, ctx: Any, figure: Figure, day: date | None) -> int:
        filters = {} if day is None else {"dateCreateEnd": day.isoformat()}
        asked = ctx.shared.get(COUNTS, {})
        total = 0
        for query in self._readings(ctx).reads(filters):
            known = asked.pop(count_key(query), None)  # the entity's, used once
            if known is not None:
                self.seeded.add((figure, day))
            else:
                known = list_page(ctx, query, 1).total
            if known is None:
                raise BadResponseError(SOURCE, "invoice/list", "the answer carries no `count`")
            total += known
        return total

    def our_records(self, ctx: Any) -> list[Ours]:
        rows = ctx.query(
            """
            SELECT id, try_cast(left(json_extract_string(payload, '$.date_create'), 10) AS DATE),
                   extracted_at
            FROM raw.salesman_invoices WHERE deleted_at IS NULL
            """
        )
        return [Ours(str(r[0]), (r[1],) if r[1] else (), None, r[2]) for r in rows]

    def read_period(self, ctx: Any, first: date, last: date, label: str) -> Iterator[Rows]:
        filters = {"dateCreateStart": first.isoformat(), "dateCreateEnd": last.isoformat()}
        yield from read_everything(ctx, self._readings(ctx), filters, f"re-read {label}", SeenInvoices())

    def record_id(self, row: dict[str, Any]) -> str | None:
        return invoice_key(row)
