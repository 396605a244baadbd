"""The report as a Dagster asset, rebuilt after the marts it reads (group `report`)."""

# No `from __future__ import annotations`: Dagster reads the decorated function's annotations.

from pathlib import Path

import dagster as dg

from finance_pipeline.report import report_path, write_report
from finance_pipeline.warehouse.resource import WarehouseResource

REPORT_READS = (
    "data_as_of",
    "invoices",
    "invoice_payments",
    "cash_flow",
    "cash_flow_monthly",
    "receivables",
    "account_balances",
    "counterparties",
)


@dg.asset(
    key=dg.AssetKey(["report", "finance_report"]),
    group_name="report",
    deps=[dg.AssetKey(["marts", name]) for name in REPORT_READS],
    kinds={"html", "plotly"},
    automation_condition=dg.AutomationCondition.eager(),
    description=(
        "The finance report, one self-contained HTML page (opens offline): needs attention, cash "
        "flow by month per currency, who owes us what, balances per account, invoices by status "
        "and source. `make report` prints its path."
    ),
)
def finance_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    out = report_path(warehouse.path).resolve()
    with warehouse.connection(read_only=True) as conn:
        data = write_report(conn, out)
    context.log.info(f"finance report written to {out}")
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.url(out.as_uri()),
            "path": dg.MetadataValue.path(str(out)),
            "as_of_date": str(data.as_of),
            "bytes": Path(out).stat().st_size,
        }
    )
