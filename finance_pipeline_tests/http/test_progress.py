"""Progress of long reads: a line at the start, then one at least every few seconds (by the
clock, not by a page count), with the time left when the size of the read is known."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from finance_pipeline.http import progress as progress_module
from finance_pipeline.http.paging import Page, iter_pages
from finance_pipeline.http.progress import ProgressReporter, estimate_left, spoken_duration


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_speaks_at_the_first_step_then_once_per_interval_with_the_time_left() -> None:
    clock, said = FakeClock(), []
    reporter = ProgressReporter(said.append, "salesman invoice/info", interval=4.0,
                                clock=clock.monotonic)
    spoke = []
    for done in range(1, 41):
        clock.now += 0.5  # each invoice takes half a second
        spoke.append(reporter.step(f"{done} of 40", done, 40))
    # 40 steps of 0.5 s = 20 s: the first step, then every 4 s (every 8th step).
    assert sum(spoke) == 5
    assert said[0] == "salesman invoice/info: 1 of 40"  # no pace to go by yet
    assert said[1] == "salesman invoice/info: 9 of 40, about 16 s left"
    spoken_at = [step for step, spoke_then in enumerate(spoke) if spoke_then]
    gaps = [later - earlier for earlier, later in pairwise(spoken_at)]
    assert max(gaps) * 0.5 <= 5.0  # never more than 5 s without a line


def test_no_time_left_without_a_total_or_at_the_end() -> None:
    assert estimate_left(10.0, 5, None) is None
    assert estimate_left(10.0, 5, 5) is None
    assert estimate_left(0.0, 0, 10) is None
    assert estimate_left(10.0, 1, 10) == "1 min 30 s"
    assert spoken_duration(0.2) == "1 s"
    assert spoken_duration(725) == "12 min"


@pytest.mark.parametrize("pages_total", [12, None])
def test_the_paging_loop_reports_by_time_with_page_n_of_m(
    monkeypatch: pytest.MonkeyPatch, pages_total: int | None
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(progress_module, "time", clock)
    said: list[str] = []

    def fetch(number: int) -> Page:
        clock.now += 1.5  # a slow API: 1.5 s a page
        rows: list[dict[str, Any]] = [{"id": number * 10 + i} for i in range(10)]
        return Page(rows, number + 1 if number < 12 else None, total=120, pages_total=pages_total)

    rows = [row for page in iter_pages(fetch, 1, source="adesk", endpoint="/v1/transactions",
                                       progress=said.append) for row in page]
    assert len(rows) == 120
    # 12 pages of 1.5 s = 18 s: a line at page 1, then whenever 4 s have passed (every 3rd page)
    assert [line.split(": ")[1].split(",")[0] for line in said] == [
        f"page {n}{' of 12' if pages_total else ''}" for n in (1, 4, 7, 10)
    ]
    # The time left, by the page count or else by the records the API announced.
    assert said[1] == (
        f"adesk /v1/transactions: page 4{' of 12' if pages_total else ''}, 40 records so far, "
        "about 12 s left"
    )
