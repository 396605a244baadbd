"""The report as one self-contained HTML page: plotly charts (its JavaScript inlined, so the page
opens offline from a file) above plain tables of the same figures.

Every figure printed in a table carries a `data-figure` attribute naming what it is (e.g.
`cash:RUB:2026-10:net`), so a test can read the page as a person sees it and compare each number
with the warehouse.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from finance_pipeline.report.data import AGING_BUCKETS, ReportData

_NBSP = "\u202f"  # narrow no-break space: 1 234 567.89, as a Russian or Kazakh reader expects
_INFLOW, _OUTFLOW, _NET = "#2e7d32", "#c62828", "#1f3b73"
_BUCKET_COLOURS = ("#9ccc65", "#ffd54f", "#ffb74d", "#ff8a65", "#e53935")


def money(value: Decimal | int | None) -> str:
    if value is None:
        return ""
    return f"{Decimal(value):,.2f}".replace(",", _NBSP)


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _figure_cell(key: str, value: Decimal | int | None, *, is_money: bool = True) -> str:
    text = money(value) if is_money else _esc(value)
    cls = ' class="num neg"' if is_money and value is not None and value < 0 else ' class="num"'
    return f'<td{cls} data-figure="{_esc(key)}">{text}</td>'


def _table(head: Iterable[str], rows: Iterable[str], caption: str = "") -> str:
    cap = f"<caption>{_esc(caption)}</caption>" if caption else ""
    th = "".join(f"<th>{_esc(h)}</th>" for h in head)
    return f"<table>{cap}<thead><tr>{th}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _chart(fig: go.Figure, div_id: str, height: int = 360) -> str:
    fig.update_layout(
        height=height,
        margin={"l": 60, "r": 20, "t": 40, "b": 40},
        legend={"orientation": "h", "y": -0.15},
        template="plotly_white",
        separators=". ",
    )
    return fig.to_html(
        full_html=False, include_plotlyjs=False, div_id=div_id, config={"displaylogo": False}
    )


def _findings_section(data: ReportData) -> str:
    if not data.findings:
        return "<p class='ok'>Nothing needs attention.</p>"
    rows = [
        "<tr>"
        f"<td>{_esc(f.title)}</td><td>{_esc(f.currency)}</td>"
        + _figure_cell(f"finding:{f.key}:{f.currency}:count", f.count, is_money=False)
        + _figure_cell(f"finding:{f.key}:{f.currency}:amount", f.amount)
        + "</tr>"
        for f in data.findings
    ]
    items = [
        "<tr>"
        f"<td>{_esc(i.key.replace('_', ' '))}</td><td class='date'>{_esc(i.date)}</td>"
        f"<td>{_esc(i.counterparty)}</td><td>{_esc(i.reference)}</td><td>{_esc(i.currency)}</td>"
        + _figure_cell(f"finding_item:{i.key}:{n}", i.amount)
        + "</tr>"
        for n, i in enumerate(data.finding_items)
    ]
    return _table(["finding", "currency", "how many", "amount at stake"], rows) + (
        "<h3>Largest items</h3>"
        + _table(["finding", "date", "counterparty", "what", "currency", "amount"], items)
    )


def _cash_section(data: ReportData) -> str:
    parts: list[str] = []
    by_currency: dict[str, list[Any]] = defaultdict(list)
    for m in data.months:
        by_currency[m.currency].append(m)
    planned_by_currency: dict[str, list[Any]] = defaultdict(list)
    for p in data.planned:
        planned_by_currency[p.currency].append(p)
    for currency, months in sorted(by_currency.items()):
        labels = [f"{m.month} (partial)" if m.is_partial else m.month for m in months]
        fig = go.Figure()
        fig.add_bar(name="inflow", x=labels, y=[float(m.inflow) for m in months],
                    marker_color=_INFLOW)
        fig.add_bar(name="outflow", x=labels, y=[-float(m.outflow) for m in months],
                    marker_color=_OUTFLOW)
        fig.add_scatter(name="net", x=labels, y=[float(m.net) for m in months],
                        mode="lines+markers", line={"color": _NET})
        planned = planned_by_currency.get(currency, [])
        if planned:
            plabels = [f"{p.month} (planned)" for p in planned]
            fig.add_bar(name="planned inflow", x=plabels,
                        y=[float(p.planned_inflow) for p in planned],
                        marker={"color": "#a5d6a7", "pattern": {"shape": "/"}})
            fig.add_bar(name="planned outflow", x=plabels,
                        y=[-float(p.planned_outflow) for p in planned],
                        marker={"color": "#ef9a9a", "pattern": {"shape": "/"}})
        fig.update_layout(barmode="relative", title=f"Cash flow by month, {currency}")
        # Category axis: month labels carry "(partial)" / "(planned)", which a date axis drops.
        fig.update_xaxes(type="category")
        parts.append(_chart(fig, f"chart-cash-{currency}"))
        rows = [
            f"<tr class='{'partial' if m.is_partial else ''}'><td>{_esc(m.month)}"
            + (f" <span class='tag'>partial: {m.days_of_data} of {m.days_in_month} days</span>"
               if m.is_partial else "")
            + "</td>"
            + _figure_cell(f"cash:{currency}:{m.month}:inflow", m.inflow)
            + _figure_cell(f"cash:{currency}:{m.month}:outflow", m.outflow)
            + _figure_cell(f"cash:{currency}:{m.month}:net", m.net)
            + "</tr>"
            for m in reversed(months)
        ]
        parts.append(
            "<details open><summary>Figures</summary>"
            + _table(["month", "inflow", "outflow", "net"], rows, f"Actual cash flow, {currency}")
            + "</details>"
        )
        if planned:
            prows = [
                f"<tr class='planned'><td>{_esc(p.month)} <span class='tag'>planned</span></td>"
                + _figure_cell(f"planned:{currency}:{p.month}:inflow", p.planned_inflow)
                + _figure_cell(f"planned:{currency}:{p.month}:outflow", p.planned_outflow)
                + "</tr>"
                for p in planned
            ]
            parts.append(
                _table(["month", "planned inflow", "planned outflow"], prows,
                       f"Planned, after the as-of date ({currency})")
            )
    return "".join(parts) or "<p>No ledger movements yet.</p>"


def _debtors_section(data: ReportData) -> str:
    parts: list[str] = []
    by_currency: dict[str, list[Any]] = defaultdict(list)
    for d in data.debtors:
        by_currency[d.currency].append(d)
    for currency, debtors in sorted(by_currency.items()):
        names = [d.counterparty for d in debtors][::-1]
        fig = go.Figure()
        for bucket, colour in zip(AGING_BUCKETS, _BUCKET_COLOURS, strict=True):
            fig.add_bar(
                name=bucket if bucket == "not yet due" else f"{bucket} days overdue",
                y=names,
                x=[float(d.buckets[bucket]) for d in debtors][::-1],
                orientation="h",
                marker_color=colour,
            )
        fig.update_layout(barmode="stack", title=f"Top debtors, {currency}")
        parts.append(_chart(fig, f"chart-debtors-{currency}", height=120 + 28 * len(debtors)))
        rows = [
            f"<tr><td>{_esc(d.counterparty)}</td>"
            + _figure_cell(f"debtor:{currency}:{n}:open_invoices", d.open_invoices, is_money=False)
            + _figure_cell(f"debtor:{currency}:{n}:total_owed", d.total_owed)
            + "".join(
                _figure_cell(f"debtor:{currency}:{n}:{b}", d.buckets[b]) for b in AGING_BUCKETS
            )
            + f"<td class='num'>{d.max_days_overdue}</td></tr>"
            for n, d in enumerate(debtors)
        ]
        parts.append(
            _table(
                ["counterparty", "open invoices", "total owed", *AGING_BUCKETS,
                 "max days overdue"],
                rows,
                f"Who owes us what, {currency} (aging in days overdue)",
            )
        )
    return "".join(parts) or "<p>Nobody owes us anything.</p>"


def _balances_section(data: ReportData) -> str:
    parts: list[str] = []
    series: dict[tuple[str, str], list[tuple[date, Decimal]]] = defaultdict(list)
    for row in data.balances:
        series[(row["currency"], row["account"])].append((row["date"], row["balance"]))
    for currency in sorted({c for c, _ in series}):
        fig = go.Figure()
        for (cur, account), points in sorted(series.items()):
            if cur != currency:
                continue
            fig.add_scatter(
                name=account,
                x=[str(d) for d, _ in points],
                y=[float(v) for _, v in points],
                mode="lines",
                line={"shape": "hv"},
            )
        fig.update_layout(title=f"Balance per account, {currency}")
        parts.append(_chart(fig, f"chart-balances-{currency}"))
    rows = [
        f"<tr><td>{_esc(b['legal_entity'])}</td><td>{_esc(b['account'])}</td>"
        f"<td>{_esc(b['status'])}</td><td>{_esc(b['currency'])}</td><td>{_esc(b['as_of'])}</td>"
        + _figure_cell(f"balance:{b['currency']}:{b['legal_entity']}:{b['account']}", b["balance"])
        + "</tr>"
        for b in data.latest_balances
    ]
    parts.append(
        _table(["legal entity", "account", "status", "currency", "date", "balance"], rows,
               "Latest balances")
    )
    return "".join(parts)


def _invoices_section(data: ReportData) -> str:
    fig = go.Figure()
    for status in sorted({r["status"] or "(unmapped)" for r in data.invoice_status}):
        of_status = [r for r in data.invoice_status if (r["status"] or "(unmapped)") == status]
        fig.add_bar(
            name=status,
            x=[f"{r['source']} {r['currency']}" for r in of_status],
            y=[int(r["invoices"]) for r in of_status],
        )
    fig.update_layout(barmode="stack", title="Invoices by status and source (count)")
    rows = [
        f"<tr><td>{_esc(r['source'])}</td><td>{_esc(r['status'])}</td><td>{_esc(r['currency'])}</td>"
        + _figure_cell(
            f"invoices:{r['source']}:{r['status']}:{r['currency']}:count", r["invoices"],
            is_money=False,
        )
        + _figure_cell(f"invoices:{r['source']}:{r['status']}:{r['currency']}:amount", r["amount"])
        + _figure_cell(
            f"invoices:{r['source']}:{r['status']}:{r['currency']}:outstanding", r["outstanding"]
        )
        + "</tr>"
        for r in data.invoice_status
    ]
    return _chart(fig, "chart-invoices") + _table(
        ["source", "status", "currency", "invoices", "amount", "outstanding"], rows
    )


def _freshness_line(data: ReportData) -> str:
    items = []
    for s in data.source_dates:
        late = " <b class='late'>late</b>" if s["is_late"] else ""
        items.append(
            f"<li>{_esc(s['source'])}: newest data {_esc(s['newest_data_date'])}"
            f" ({_esc(s['days_behind_today'])} days before today; expected every "
            f"{_esc(s['expected_every_days'])} days){late}</li>"
        )
    return f"<ul class='sources'>{''.join(items)}</ul>"


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 2px solid #1f3b73; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; font-size: .9rem; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #ddd; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.neg { color: #c62828; } caption { text-align: left; font-weight: 600; padding: .3rem 0; }
.tag { background: #fff3cd; border-radius: 3px; padding: 0 .3rem; font-size: .8rem; }
tr.planned td { color: #666; font-style: italic; } .late { color: #c62828; }
.asof { font-size: 1.1rem; } td.date { white-space: nowrap; } .attention { background: #fff8f0; padding: .5rem 1rem; }
"""


def render_html(data: ReportData, generated_at: str) -> str:
    sections = [
        ("attention", "Needs attention", _findings_section(data)),
        ("cash", "Cash flow by month", _cash_section(data)),
        ("debtors", "Who owes us what", _debtors_section(data)),
        ("balances", "Balances per account", _balances_section(data)),
        ("invoices", "Invoices by status and source", _invoices_section(data)),
    ]
    body = "".join(
        f"<section id='{sid}' class='{sid}'><h2>{_esc(title)}</h2>{content}</section>"
        for sid, title, content in sections
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Finance report as of {_esc(data.as_of)}</title>
<style>{_CSS}</style><script type="text/javascript">{get_plotlyjs()}</script></head>
<body><h1>Finance report</h1>
<p class="asof">Figures as of <b id="as-of-date">{_esc(data.as_of)}</b>, the newest date the
warehouse has data for (not today's date); built {_esc(generated_at)}.
Amounts are per currency: roubles and tenge are never added up.</p>
{_freshness_line(data)}
{body}
</body></html>"""
