"""Paging, written once: one loop (`iter_pages`) and the next-page rule of each paging style.

Every source turns one API answer into a `Page` (its rows, the cursor of the next page or None,
and the total the API claims, if it says). The loop does the rest the same way for all four:
stops at the end (a short or empty page, never a count), refuses to loop forever on a broken
server cursor (a page that repeats the previous one), reports progress as "page N of M" with
the time left (`http/progress.py`: at least every few seconds), and warns when the rows received disagree with the total the API announced.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from finance_pipeline.http.errors import BadResponseError
from finance_pipeline.http.progress import ProgressReporter

log = logging.getLogger("finance_pipeline.paging")


@dataclass
class Page:
    rows: list[dict[str, Any]]
    next: Any | None
    total: int | None = None
    pages_total: int | None = None


@dataclass
class PagingReport:
    """What the loop saw, for metadata and for the caller's own checks."""

    pages: int = 0
    rows: int = 0
    announced_total: int | None = None
    warnings: list[str] = field(default_factory=list)


Progress = Callable[[str], None]


def iter_pages(
    fetch: Callable[[Any], Page],
    first: Any,
    *,
    source: str,
    endpoint: str,
    row_key: Callable[[dict[str, Any]], Any] = lambda row: row.get("id"),
    report: PagingReport | None = None,
    progress: Progress | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Yield the rows of each page until the API says there is no next page."""
    report = report if report is not None else PagingReport()
    reporter = ProgressReporter(progress, f"{source} {endpoint}") if progress else None
    cursor = first
    previous_keys: tuple[Any, ...] | None = None
    while cursor is not None:
        page = fetch(cursor)
        keys = tuple(row_key(row) for row in page.rows)
        if page.rows and keys == previous_keys:
            raise BadResponseError(
                source,
                endpoint,
                f"page {report.pages + 1} repeats the previous page (cursor {cursor!r}); the "
                "server's paging is broken, so the sync stopped instead of looping forever",
                hint="Retry later; if it persists, run a full refresh or report it to the vendor",
            )
        previous_keys = keys
        report.pages += 1
        report.rows += len(page.rows)
        if page.total is not None:
            report.announced_total = page.total
        if reporter is not None:
            report_page(reporter, report, page)
        if page.rows:
            yield page.rows
        cursor = page.next
    total = report.announced_total
    if total is not None and total != report.rows:
        message = (
            f"{source} {endpoint}: the API announced {total} rows but {report.rows} arrived "
            "(records changed during the sync, or the API's count is wrong); the next full "
            "refresh reconciles"
        )
        report.warnings.append(message)
        log.warning(message)


def report_page(reporter: ProgressReporter, report: PagingReport, page: Page) -> None:
    """ "page N of M, R rows so far" with the time left by the page count, else by the rows
    the API announced."""
    of = f" of {page.pages_total}" if page.pages_total else ""
    text = f"page {report.pages}{of}, {report.rows} rows so far"
    if page.pages_total:
        reporter.step(text, report.pages, page.pages_total)
    else:
        reporter.step(text, report.rows, report.announced_total)


# --- next-page rules, one per paging style -------------------------------------------------


def next_page_number(current: int, rows: int, page_size: int) -> int | None:
    """Page-number paging (ApiPay `page`, SalesMan `offset` = page index).

    Only a short (or empty) page ends the list. A full page is followed by the next one even
    when it is the last of the API's announced page count or total: a count that is stale or
    too low must not end the read early, and the probe costs one request only when the list
    is an exact multiple of the page size.
    """
    if rows == 0 or rows < page_size:
        return None
    return current + 1


def next_start(start: int, rows: int, length: int) -> int | None:
    """Adesk `start`/`length` paging: only a short (or empty) page ends the list, never the
    announced total (see next_page_number)."""
    if rows == 0 or rows < length:
        return None
    return start + rows


def pages_for(total: int | None, page_size: int) -> int | None:
    return None if total is None else max(1, math.ceil(total / page_size))
