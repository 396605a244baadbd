"""The paginators against a fake list server: every paging style ends only on proof.

The fake serves `rows` records, at most `cap` a page whatever was asked, and announces
`count` (None: no count at all). Each test drives `read_pages` as a source does.
"""

from __future__ import annotations

from typing import Any

import pytest

from finance_pipeline.http.errors import BadResponseError, IncompleteReadError
from finance_pipeline.http.paging import (
    OffsetPaginator,
    Page,
    PageNumberPaginator,
    PagingReport,
    SinglePagePaginator,
    read_pages,
)


class FakeList:
    def __init__(self, rows: int, *, cap: int | None = None, count: Any = "true",
                 grow_after: int | None = None, newest_first: bool = False) -> None:
        self.records = [{"id": i} for i in range(1, rows + 1)]
        self.newest_first = newest_first
        if newest_first:
            self.records.reverse()
        self.cap = cap
        self.count = count  # "true": the real count; an int: a wrong one; None: no count
        self.grow_after = grow_after  # add a record with this request (before answering it)
        self.requests = 0

    def _total(self) -> int | None:
        if self.count == "true":
            return len(self.records)
        return self.count

    def _grow(self) -> None:
        self.requests += 1
        if self.grow_after is not None and self.requests == self.grow_after:
            new = {"id": len(self.records) + 1}
            if self.newest_first:
                self.records.insert(0, new)  # shifts every later page by one row
            else:
                self.records.append(new)

    def offset(self, params: dict[str, Any]) -> Page:
        self._grow()
        size = min(params["length"], self.cap or params["length"])
        start = params["start"]
        return Page(self.records[start:start + size], total=self._total())

    def numbered(self, params: dict[str, Any]) -> Page:
        self._grow()
        size = min(params["per_page"], self.cap or params["per_page"])
        first = (params["page"] - 1) * size
        return Page(self.records[first:first + size], total=self._total())


def read(paginator: Any, fetch: Any, report: PagingReport | None = None) -> list[int]:
    report = report if report is not None else PagingReport()
    ids: list[int] = []
    for rows in read_pages(paginator, fetch, source="fake", endpoint="/list", report=report):
        ids.extend(row["id"] for row in rows)
    return ids


@pytest.mark.parametrize("style", ["offset", "page"])
def test_a_server_page_cap_is_learned_and_read_on(style: str) -> None:
    # The case: at most 100 rows a page while 1,000 are asked, 1,613 records.
    server = FakeList(1613, cap=100)
    report = PagingReport()
    if style == "offset":
        ids = read(OffsetPaginator(1000), server.offset, report)
    else:
        ids = read(PageNumberPaginator(1000), server.numbered, report)
    assert sorted(ids) == list(range(1, 1614))
    assert server.requests == 17  # 16 full pages and the short 17th: the count ends it
    assert report.page_caps == {"/list": 100}


def test_the_count_ends_a_read_on_a_short_page_without_an_extra_request() -> None:
    server = FakeList(250)
    assert len(read(OffsetPaginator(100), server.offset)) == 250
    assert server.requests == 3


def test_a_count_reached_on_a_full_page_is_confirmed_by_one_more_request() -> None:
    server = FakeList(300)
    assert len(read(OffsetPaginator(100), server.offset)) == 300
    assert server.requests == 4  # the 4th answers an empty page


def test_without_a_count_the_read_goes_on_to_the_empty_page() -> None:
    server = FakeList(250, cap=50, count=None)
    assert len(read(PageNumberPaginator(100), server.numbered)) == 250
    assert server.requests == 6  # 5 pages of 50, then the empty page


@pytest.mark.parametrize("wrong", [257, 243, 200], ids=["high", "low", "low-on-a-page-boundary"])
def test_a_count_that_stays_wrong_fails_the_read_naming_both_figures(wrong: int) -> None:
    server = FakeList(250, count=wrong)
    with pytest.raises(IncompleteReadError) as info:
        read(OffsetPaginator(100), server.offset)
    error = info.value
    assert (error.expected, error.received) == (wrong, 250)
    text = str(error)
    assert text.startswith("[fake] incomplete read on /list") and "nothing was changed" in text
    assert f"expected {wrong}, received 250" in text
    assert isinstance(error, BadResponseError)


def test_records_added_during_the_read_are_not_proof_of_loss() -> None:
    # Newest first (Adesk): a record added before page 2 pushes a row of page 1 onto page 2
    # and is itself on page 1, already read: 250 distinct records for a count of 251.
    server = FakeList(250, grow_after=2, newest_first=True)
    report = PagingReport()
    ids = read(OffsetPaginator(100), server.offset, report)
    assert len(set(ids)) == 250 and report.recounts == 1
    assert server.requests == 5  # 3 pages, the empty 4th (the count says more), the re-count
    assert "added while the list was read" in " ".join(report.warnings)


def test_records_added_during_an_oldest_first_read_are_read_too() -> None:
    server = FakeList(250, grow_after=3)
    assert len(read(OffsetPaginator(100), server.offset)) == 251
    assert server.requests == 3


def test_a_repeated_page_fails_instead_of_looping() -> None:
    server = FakeList(250)

    def stuck(params: dict[str, Any]) -> Page:
        return server.offset({**params, "start": 0})

    with pytest.raises(IncompleteReadError, match="page 2 repeats the previous page"):
        read(OffsetPaginator(100), stuck)


def test_a_single_page_list_with_more_announced_fails() -> None:
    with pytest.raises(IncompleteReadError) as info:
        read(SinglePagePaginator(), lambda params: Page([{"id": 1}, {"id": 2}], total=3))
    assert (info.value.expected, info.value.received) == (3, 2)
    assert read(SinglePagePaginator(), lambda params: Page([{"id": 1}], total=1)) == [1]
