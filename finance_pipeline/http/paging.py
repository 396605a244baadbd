"""Paging, written once: one paginator object per paging style, one loop that runs them all.

A paginator (the way dlt's paginators are: `dlt/sources/helpers/rest_client/paginators.py`)
knows two things about its style: which paging parameters the next request carries, and when
the list is *proven* to have ended. The loop (`read_pages`) is the same for every source: ask,
hand the answer to the paginator, yield the rows, and at the end make the paginator prove the
read complete or raise `IncompleteReadError` - before anything is landed, so an unproven read
changes nothing (issue 12).

The rules, the same for every style:
* A list ends on an EMPTY page, or when the distinct records received reach the source's own
  count (on a page that is short, or the last of the server's page count; a count reached on a
  full page gets one more request, so a count that is too low cannot end a read early).
* Our requested page size is never trusted as the server's: a page shorter than requested while
  the count says more is a server page cap - it is learned (reported in metadata) and paging
  goes on. Where the source gives no count, the read goes on to the empty page (one extra
  request).
* Proof: after the end, the distinct records received must equal the count. If they do not, the
  count is asked again (one cheap request); a count that rose during the read (records added
  while we paged) is not proof of loss, a re-count that still disagrees is: the entity fails.
* A page that repeats the previous one, or brings no record not seen before, is a broken cursor:
  the read fails instead of looping.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from finance_pipeline.http.errors import IncompleteReadError
from finance_pipeline.http.progress import ProgressReporter

log = logging.getLogger("finance_pipeline.paging")

Row = dict[str, Any]
RowKey = Callable[[Row], Any]
Progress = Callable[[str], None]


@dataclass
class Page:
    """One answer, as a source's fetch function reads it."""

    rows: list[Row]
    next: Any | None = None  # only for `ReferencePaginator` (the source decides the next page)
    total: int | None = None  # the source's own count of the whole list, if it gives one
    # The server's own page count, if it gives one (never one computed from our page size).
    pages_total: int | None = None


@dataclass
class PagingReport:
    """What the reads of one entity saw, for metadata and for the caller's own checks."""

    pages: int = 0
    rows: int = 0
    announced_total: int | None = None
    recounts: int = 0  # extra requests spent proving a read complete
    page_caps: dict[str, int] = field(default_factory=dict)  # endpoint -> rows a page served
    warnings: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return self.pages + self.recounts

    def merge(self, other: PagingReport) -> None:
        self.pages += other.pages
        self.rows += other.rows
        self.recounts += other.recounts
        self.page_caps.update(other.page_caps)
        self.warnings.extend(other.warnings)


class Paginator(ABC):
    """One paging style. Subclasses say what the next request asks for (`params`), how the
    position moves (`_advance`) and how to ask for the count alone (`count_params`)."""

    def __init__(self, page_size: int | None = None) -> None:
        self.requested = page_size  # what we ask for; never taken as the server's page size
        self.served = 0  # the largest page the server answered so far
        self.total: int | None = None
        self.totals: list[int] = []
        self.keys: set[Any] = set()
        self.pages = 0
        self.finished = False
        self.ended_by = ""
        self._previous: tuple[Any, ...] | None = None

    # -- what a style says ----------------------------------------------------------------------
    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The paging parameters of the next request."""

    @abstractmethod
    def _advance(self, page: Page) -> None:
        """Move to the next page after `page` (which did not end the list)."""

    def count_params(self) -> dict[str, Any] | None:
        """Paging parameters of the cheapest request whose answer carries the count."""
        return None

    @property
    def page_cap(self) -> int | None:
        """The server's page size, when it answered less than we asked while more was left."""
        if self.requested is not None and 0 < self.served < self.requested:
            return self.served
        return None

    # -- the shared rules -----------------------------------------------------------------------
    def update(self, page: Page, row_key: RowKey, source: str, endpoint: str) -> None:
        """Take one answer: check it moves forward, then decide whether the list has ended."""
        keys = tuple(row_key(row) for row in page.rows)
        fresh = {key for key in keys if key is not None} - self.keys
        if page.rows and (keys == self._previous or not fresh):
            what = "repeats the previous page" if keys == self._previous else (
                "brings no record not already read")
            raise IncompleteReadError(
                source, endpoint,
                f"page {self.pages + 1} {what} ({self._position()}); the server's paging is "
                "broken, so the read stopped instead of looping forever",
                expected=self.total, received=len(self.keys),
                hint="Retry later; if it persists, report it to the vendor",
            )
        self._previous = keys
        short = self._is_short(len(page.rows))
        self.pages += 1
        self.keys |= fresh
        self.served = max(self.served, len(page.rows))
        if page.total is not None:
            self.total = page.total
            self.totals.append(page.total)
        if not page.rows:
            self._end("an empty page")
        elif self.total is not None and len(self.keys) >= self.total and (
            short or (page.pages_total is not None and self.pages >= page.pages_total)
        ):
            self._end("the source's count")
        else:
            self._advance(page)

    def _is_short(self, rows: int) -> bool:
        """Shorter than a full page: than what we asked on the first page, than the largest
        page served later (a server cap learned on the first page)."""
        full = self.served or self.requested
        return full is not None and rows < full

    def _end(self, why: str) -> None:
        self.finished = True
        self.ended_by = why

    def _position(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.params().items()) or "single request"

    def prove(
        self, recount: Callable[[], int | None] | None, source: str, endpoint: str,
        report: PagingReport,
    ) -> None:
        """Raise IncompleteReadError unless the records received match the source's count."""
        received = len(self.keys)
        if self.total is None or received == self.total:
            return
        expected = self.total
        if recount is not None:
            counted = recount()
            report.recounts += 1
            if counted is not None:
                expected = counted
        if received == expected:
            return  # the count moved during the read and settled on what was read
        grew = self.totals == sorted(self.totals) and self.totals[0] < expected
        if grew and self.totals[0] <= received < expected:
            message = (
                f"{source} {endpoint}: {expected - received} records were added while the list "
                f"was read (count {self.totals[0]} -> {expected}); the next run reads them"
            )
            report.warnings.append(message)
            log.warning(message)
            return
        raise IncompleteReadError(
            source, endpoint,
            f"the read ended on {self.ended_by} but the source's count disagrees with the "
            f"records received, also when counted again (counts seen: "
            f"{_summary(self.totals)}, re-count {expected})",
            expected=expected, received=received,
        )


def _summary(values: list[int]) -> str:
    distinct = list(dict.fromkeys(values))
    return " -> ".join(map(str, distinct[:5])) + (" ..." if len(distinct) > 5 else "")


class OffsetPaginator(Paginator):
    """`start`/`length` paging (Adesk): the next start is the rows actually received, never
    the length asked for, so a server that answers fewer rows than asked loses none."""

    def __init__(self, page_size: int, *, offset_param: str = "start",
                 limit_param: str = "length", start: int = 0) -> None:
        super().__init__(page_size)
        self.offset_param, self.limit_param = offset_param, limit_param
        self.offset = start

    def params(self) -> dict[str, Any]:
        return {self.offset_param: self.offset, self.limit_param: self.requested}

    def _advance(self, page: Page) -> None:
        self.offset += len(page.rows)

    def count_params(self) -> dict[str, Any]:
        return {self.offset_param: 0, self.limit_param: 1}


class PageNumberPaginator(Paginator):
    """Page-number paging (ApiPay `page`/`per_page`, SalesMan `offset` = page number). A
    server that serves fewer rows a page than asked numbers its pages by its own size, so
    the next page is simply the next number; distinct ids, not page sizes, measure progress.
    `size_param` None: the server alone decides the page size (SalesMan's `num_client`)."""

    def __init__(self, page_size: int | None, *, page_param: str = "page",
                 size_param: str | None = "per_page", first: int = 1) -> None:
        super().__init__(page_size)
        self.page_param, self.size_param = page_param, size_param
        self.page = first

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {self.page_param: self.page}
        if self.size_param is not None:
            params[self.size_param] = self.requested
        return params

    def _advance(self, page: Page) -> None:
        self.page += 1

    def count_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {self.page_param: 1}
        if self.size_param is not None:
            params[self.size_param] = 1
        return params


class SinglePagePaginator(Paginator):
    """A list documented without paging: one request answers it all, and a count larger (or
    smaller) than the records in that answer cannot be resolved by asking on."""

    def params(self) -> dict[str, Any]:
        return {}

    def update(self, page: Page, row_key: RowKey, source: str, endpoint: str) -> None:
        self.pages += 1
        self.keys |= {key for row in page.rows if (key := row_key(row)) is not None}
        if page.total is not None:
            self.total = page.total
            self.totals.append(page.total)
        self._end("its only page (the list is documented without paging)")

    def _advance(self, page: Page) -> None:  # pragma: no cover - one page only
        raise AssertionError("a single-page list has no next page")


class ReferencePaginator(Paginator):
    """The source decides the next page and hands it over as `Page.next` (Bitrix24's batch
    chains, whose windows end by their own keyset rule); None ends the list."""

    def __init__(self, first: Any) -> None:
        super().__init__(None)
        self.cursor = first

    def params(self) -> dict[str, Any]:
        return {"cursor": self.cursor}

    def update(self, page: Page, row_key: RowKey, source: str, endpoint: str) -> None:
        keys = tuple(row_key(row) for row in page.rows)
        if page.rows and keys == self._previous:
            raise IncompleteReadError(
                source, endpoint,
                f"page {self.pages + 1} repeats the previous page (cursor {self.cursor!r}); the "
                "server's paging is broken, so the read stopped instead of looping forever",
                expected=self.total, received=len(self.keys),
                hint="Retry later; if it persists, report it to the vendor",
            )
        self._previous = keys
        self.pages += 1
        self.keys.update(key for key in keys if key is not None)
        if page.total is not None:
            self.total = page.total
            self.totals.append(page.total)
        if page.next is None:
            self._end("the source's last page")
        self.cursor = page.next

    def _advance(self, page: Page) -> None:  # pragma: no cover - update() moves the cursor
        self.cursor = page.next

    def prove(self, recount: Callable[[], int | None] | None, source: str, endpoint: str,
              report: PagingReport) -> None:
        # The source's own rule ended the list (Bitrix24: keyset windows); a total that
        # disagrees is only reported, the source's own reconciliation settles it.
        if self.total is not None and self.total != len(self.keys):
            message = (
                f"{source} {endpoint}: the API announced {self.total} rows but "
                f"{len(self.keys)} arrived"
            )
            report.warnings.append(message)
            log.warning(message)


def read_pages(
    paginator: Paginator,
    fetch: Callable[[dict[str, Any]], Page],
    *,
    source: str,
    endpoint: str,
    row_key: RowKey = lambda row: row.get("id"),
    report: PagingReport | None = None,
    progress: Progress | None = None,
) -> Iterator[list[Row]]:
    """Yield the rows of each page until the paginator has proven the list complete.

    `fetch(params)` makes one request with the paginator's paging parameters merged into the
    source's own and returns the answer as a `Page`. Raises IncompleteReadError (after the last
    rows were yielded, before the caller lands anything) when the read cannot be proven complete.
    """
    report = report if report is not None else PagingReport()
    reporter = ProgressReporter(progress, f"{source} {endpoint}") if progress else None
    while not paginator.finished:
        page = fetch(paginator.params())
        paginator.update(page, row_key, source, endpoint)
        report.pages += 1
        report.rows += len(page.rows)
        if page.total is not None:
            report.announced_total = page.total
        if reporter is not None:
            report_page(reporter, paginator.pages, len(paginator.keys), page, report)
        if page.rows:
            yield page.rows
    cap = paginator.page_cap
    if cap is not None and paginator.pages > 1:
        report.page_caps[endpoint] = cap
        message = (f"{source} {endpoint}: the server answers at most {cap} rows a page "
                   f"(asked {paginator.requested}); read on by its count")
        report.warnings.append(message)
        log.info(message)
    count_params = paginator.count_params()
    recount = (lambda: fetch(count_params).total) if count_params is not None else None
    paginator.prove(recount, source, endpoint, report)


def iter_pages(
    fetch: Callable[[Any], Page],
    first: Any,
    *,
    source: str,
    endpoint: str,
    row_key: RowKey = lambda row: row.get("id"),
    report: PagingReport | None = None,
    progress: Progress | None = None,
) -> Iterator[list[Row]]:
    """`read_pages` with a `ReferencePaginator`: `fetch(cursor)` returns the page and the
    cursor of the next one (None at the end)."""
    paginator = ReferencePaginator(first)
    yield from read_pages(
        paginator, lambda params: fetch(params["cursor"]), source=source, endpoint=endpoint,
        row_key=row_key, report=report, progress=progress,
    )


def report_page(
    reporter: ProgressReporter, pages: int, records: int, page: Page, report: PagingReport
) -> None:
    """ "page N of M, R records so far" (`http/progress.py` decides when to say it), with the
    time left by the page count, else by the records the API announced."""
    of = f" of {page.pages_total}" if page.pages_total else ""
    text = f"page {pages}{of}, {records} records so far"
    if page.pages_total:
        reporter.step(text, pages, page.pages_total)
    else:
        reporter.step(text, records, report.announced_total)


def pages_for(total: int | None, page_size: int) -> int | None:
    return None if total is None else max(1, math.ceil(total / page_size))

