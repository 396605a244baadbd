"""The finance report: one self-contained HTML page built from the marts.

Why plotly: it writes one HTML file with its JavaScript inlined, so the report opens offline
from disk (a double-click, an e-mail attachment, a CI artifact) with no server and no Node
toolchain; it is one pip package; and the page is an ordinary DOM a headless browser can test.

Rebuilt by the `report/finance_report` asset after the marts (group `report`), or by hand with
`python -m finance_pipeline.report` (`make report`), which prints the file's path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finance_pipeline.report.data import ReportData, load_report_data
from finance_pipeline.report.html import render_html

__all__ = ["ReportData", "load_report_data", "render_html", "report_path", "write_report"]


def report_path(warehouse_path: str | Path) -> Path:
    """Where the report of a warehouse lives: beside it, e.g. data/sandbox_report.html."""
    target = str(warehouse_path)
    if target.startswith("md:"):
        return Path("data") / "motherduck_report.html"
    path = Path(target)
    return path.with_name(f"{path.stem}_report.html")


def write_report(conn: Any, out: Path) -> ReportData:
    """Read the marts on `conn`, write the page to `out` (atomically) and return its figures."""
    data = load_report_data(conn)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(render_html(data, generated), encoding="utf-8")
    tmp.replace(out)
    return data
