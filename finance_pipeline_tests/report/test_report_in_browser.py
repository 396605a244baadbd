"""The finance report, opened as a person would: the HTML file in headless Chromium, offline.

The report is written from the sandbox warehouse, opened from disk (file://, no server, no
network), and every figure the page shows is read back from the rendered page and compared with
the warehouse, queried here independently of the report's own SQL (cash flow from the movements,
balances against the balance Adesk reports, findings from the payment matches). The plotted
numbers are read from the charts themselves. Screenshots go to test-artifacts/.

Marked `browser` (Debian's /usr/bin/chromium through Playwright's executable_path) and `slow`.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from finance_pipeline.report import write_report

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def _missing_browser() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    return None


pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(_missing_browser() is not None, reason=_missing_browser() or ""),
]


def _number(text: str) -> Decimal:
    return Decimal(text.replace("\u202f", "").replace("\xa0", "").replace(" ", ""))


@pytest.fixture(scope="module")
def report_file(built_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "finance_report.html"
    with duckdb.connect(str(built_warehouse), read_only=True) as conn:
        write_report(conn, out)
    return out


@pytest.fixture(scope="module")
def page(report_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium_profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
            offline=True,  # the page must need nothing from the network
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.goto(report_file.as_uri(), wait_until="load")
            page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
            yield page
        finally:
            context.close()


@pytest.fixture(scope="module")
def shown(page: Any) -> dict[str, str]:
    """Every figure on the page as rendered text, by its data-figure name."""
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('[data-figure]')]
              .map(e => [e.dataset.figure, e.innerText.trim()]))"""
    )


def test_screenshots(page: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report_full.png"), full_page=True)
    for section in ("attention", "cash", "debtors", "balances", "invoices"):
        page.locator(f"section#{section}").screenshot(
            path=str(ARTIFACTS / f"report_{section}.png")
        )
    assert (ARTIFACTS / "report_full.png").stat().st_size > 10_000


def test_every_chart_is_drawn_offline(page: Any) -> None:
    charts = page.evaluate(
        "() => [...document.querySelectorAll('.js-plotly-plot')].map(e => e.id)"
    )
    assert {"chart-cash-RUB", "chart-cash-KZT", "chart-debtors-RUB", "chart-invoices"} <= set(
        charts
    )
    assert page.locator(".js-plotly-plot .main-svg").count() >= len(charts)


def test_as_of_date_is_the_warehouse_s(page: Any, wh: duckdb.DuckDBPyConnection) -> None:
    as_of = wh.execute("SELECT max(as_of_date) FROM marts.data_as_of").fetchone()[0]
    assert page.locator("#as-of-date").inner_text() == str(as_of)


def test_cash_flow_per_month_equals_the_movements(
    shown: dict[str, str], page: Any, wh: duckdb.DuckDBPyConnection
) -> None:
    as_of = wh.execute("SELECT max(as_of_date) FROM marts.data_as_of").fetchone()[0]
    rows = wh.execute(
        """SELECT currency, strftime(date, '%Y-%m'),
                  coalesce(sum(amount) FILTER (WHERE direction = 'in'), 0),
                  coalesce(sum(amount) FILTER (WHERE direction = 'out'), 0)
           FROM marts.cash_flow
           WHERE status = 'actual' AND counts_as IN ('income', 'expense')
           GROUP BY 1, 2"""
    ).fetchall()
    assert rows
    for currency, month, inflow, outflow in rows:
        assert _number(shown[f"cash:{currency}:{month}:inflow"]) == inflow
        assert _number(shown[f"cash:{currency}:{month}:outflow"]) == outflow
        assert _number(shown[f"cash:{currency}:{month}:net"]) == inflow - outflow
    # The as-of month is marked partial when the data does not reach its end.
    partial = page.locator("section#cash tr.partial").all_inner_texts()
    assert any(t.startswith(as_of.strftime("%Y-%m")) and "partial" in t for t in partial)
    # The chart plots the same numbers (outflow drawn below the axis).
    for currency in {r[0] for r in rows}:
        traces = page.evaluate(
            f"() => document.getElementById('chart-cash-{currency}').data"
            ".map(t => [t.name, t.x, t.y])"
        )
        by_name = {name: dict(zip(x, y, strict=True)) for name, x, y in traces}
        for cur, month, inflow, outflow in rows:
            if cur != currency:
                continue
            label = next(k for k in by_name["inflow"] if k.startswith(month))
            assert by_name["inflow"][label] == pytest.approx(float(inflow))
            assert by_name["outflow"][label] == pytest.approx(-float(outflow))
    # Months after the as-of date are only planned, apart from the actual ones.
    later = [k for k in shown if k.startswith("cash:") and k.split(":")[2] > str(as_of)[:7]]
    assert later == []


def test_who_owes_us_what_by_name_with_aging(
    shown: dict[str, str], page: Any, wh: duckdb.DuckDBPyConnection
) -> None:
    text = page.locator("section#debtors").inner_text()
    for currency in ("RUB", "KZT"):
        expected = wh.execute(
            """SELECT c.display_name, sum(r.outstanding),
                      coalesce(sum(r.outstanding) FILTER (WHERE r.days_overdue > 90), 0)
               FROM marts.receivables AS r
               JOIN marts.counterparties AS c USING (counterparty_key)
               WHERE r.currency = ?
               GROUP BY r.counterparty_key, c.display_name
               ORDER BY 2 DESC, 1 LIMIT 3""",
            [currency],
        ).fetchall()
        for n, (name, total, over_90) in enumerate(expected):
            assert name in text
            assert _number(shown[f"debtor:{currency}:{n}:total_owed"]) == total
            assert _number(shown[f"debtor:{currency}:{n}:over 90"]) == over_90
    assert "tax:" not in text and "name:" not in text


def test_latest_balances_equal_what_adesk_reports(
    shown: dict[str, str], wh: duckdb.DuckDBPyConnection
) -> None:
    accounts = wh.execute(
        """SELECT a.currency, l.name, a.name, a.reported_balance
           FROM staging.adesk_bank_accounts AS a
           JOIN staging.adesk_legal_entities AS l USING (legal_entity_id)"""
    ).fetchall()
    assert accounts
    for currency, entity, account, reported in accounts:
        assert _number(shown[f"balance:{currency}:{entity}:{account}"]) == reported


def test_needs_attention_counts_and_amounts(
    shown: dict[str, str], wh: duckdb.DuckDBPyConnection
) -> None:
    expected = wh.execute(
        """SELECT 'paid_but_never_recorded', currency, count(*), sum(invoice_amount)
           FROM marts.invoice_payments WHERE row_kind = 'unpaid_in_ledger' GROUP BY 1, 2
           UNION ALL
           SELECT 'receipts_without_invoice', currency, count(*), sum(movement_amount)
           FROM marts.invoice_payments WHERE row_kind = 'unmatched_movement' GROUP BY 1, 2
           UNION ALL
           SELECT 'invoices_without_counterparty', currency, count(*), sum(amount)
           FROM marts.invoices WHERE counterparty_key IS NULL GROUP BY 1, 2"""
    ).fetchall()
    kinds = {"paid_but_never_recorded", "receipts_without_invoice", "invoices_without_counterparty"}
    # The sandbox business has the first two; every invoice names a company or, issued to a
    # person, a contact (issue 13), so the third must show nothing.
    assert {k for k, *_ in expected} == kinds - {"invoices_without_counterparty"}
    for key, currency, count, amount in expected:
        assert int(shown[f"finding:{key}:{currency}:count"]) == count
        assert _number(shown[f"finding:{key}:{currency}:amount"]) == amount
    shown_findings = {
        tuple(name.split(":")[1:3])
        for name in shown
        if name.startswith("finding:") and name.endswith(":count") and name.split(":")[1] in kinds
    }
    assert shown_findings == {(key, currency) for key, currency, *_ in expected}


def test_invoices_by_status_and_source(
    shown: dict[str, str], wh: duckdb.DuckDBPyConnection
) -> None:
    rows = wh.execute(
        "SELECT source, status, currency, count(*), sum(amount) FROM marts.invoices GROUP BY ALL"
    ).fetchall()
    for source, status, currency, count, amount in rows:
        assert int(shown[f"invoices:{source}:{status}:{currency}:count"]) == count
        assert _number(shown[f"invoices:{source}:{status}:{currency}:amount"]) == amount
