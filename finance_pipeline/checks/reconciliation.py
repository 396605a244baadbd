"""The warehouse agrees with each source's own figures (counts, balances, id lists) after the
last run: a difference the run could not repair (sources/reconcile.py) fails here, on the
entity's staging table, besides failing the extraction itself."""

from finance_pipeline.checks import SqlCheck

# raw entity -> the staging table the check is shown on
RECONCILED = {
    "adesk_transactions": "staging.adesk_transactions",
    "bitrix24_invoices": "staging.bitrix24_invoices",
    "bitrix24_companies": "staging.bitrix24_companies",
    "bitrix24_requisites": "staging.bitrix24_requisites",
    "bitrix24_products": "staging.bitrix24_products",
    "salesman_invoices": "staging.salesman_invoices",
    "apipay_invoices": "staging.apipay_invoices",
    "apipay_refunds": "staging.apipay_refunds",
}

CHECKS = [
    SqlCheck(
        table=table,
        name="reconciled_with_source",
        description=(
            f"The last run's comparison of raw.{entity} with the source's own figures left no "
            "difference unrepaired (a failing row names the figures, source vs warehouse)."
        ),
        # Quoted so that the reconciliation log is not mistaken for an upstream asset.
        failing_rows_sql=f"""
            SELECT entity, checked_at, run_id, unrepaired FROM raw."_reconciliation"
            WHERE entity = '{entity}' AND unrepaired <> ''""",
    )
    for entity, table in RECONCILED.items()
]
