"""What the finance report shows, read from the marts (one query per section).

Every figure is the warehouse's own DECIMAL (never a float round trip): the page prints them as
text and hands them to the charts as numbers. Every date is relative to the warehouse's as-of
date (`marts.data_as_of`: the newest business date any source has), never the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

TOP_DEBTORS = 15
TOP_FINDINGS = 10
AGING_BUCKETS = ("not yet due", "1-30", "31-60", "61-90", "over 90")


@dataclass(frozen=True)
class MonthFlow:
    currency: str
    month: str  # YYYY-MM
    inflow: Decimal
    outflow: Decimal
    net: Decimal
    days_of_data: int
    days_in_month: int

    @property
    def is_partial(self) -> bool:
        return self.days_of_data < self.days_in_month


@dataclass(frozen=True)
class PlannedMonth:
    currency: str
    month: str
    planned_inflow: Decimal
    planned_outflow: Decimal


@dataclass(frozen=True)
class Debtor:
    currency: str
    counterparty: str
    open_invoices: int
    total_owed: Decimal
    buckets: dict[str, Decimal]
    max_days_overdue: int


@dataclass(frozen=True)
class Finding:
    """One 'needs attention' line: a kind of finding in one currency."""

    key: str
    title: str
    currency: str
    count: int
    amount: Decimal


@dataclass(frozen=True)
class FindingItem:
    key: str
    date: date | None
    counterparty: str
    reference: str
    currency: str
    amount: Decimal


@dataclass
class ReportData:
    as_of: date | None
    source_dates: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    finding_items: list[FindingItem] = field(default_factory=list)
    months: list[MonthFlow] = field(default_factory=list)
    planned: list[PlannedMonth] = field(default_factory=list)
    debtors: list[Debtor] = field(default_factory=list)
    balances: list[dict[str, Any]] = field(default_factory=list)
    latest_balances: list[dict[str, Any]] = field(default_factory=list)
    invoice_status: list[dict[str, Any]] = field(default_factory=list)


def _rows(conn: Any, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


FINDINGS_SQL = """
    SELECT 'paid_but_never_recorded' AS key,
           'Paid per the invoicing system, never recorded in the ledger' AS title,
           currency, count(*) AS count, sum(invoice_amount) AS amount
    FROM marts.invoice_payments WHERE row_kind = 'unpaid_in_ledger' GROUP BY ALL
    UNION ALL
    SELECT 'receipts_without_invoice',
           'Sales receipts in the ledger that pay no known invoice',
           currency, count(*), sum(movement_amount)
    FROM marts.invoice_payments WHERE row_kind = 'unmatched_movement' GROUP BY ALL
    UNION ALL
    SELECT 'invoices_without_counterparty',
           'Invoices issued to nobody we know (no counterparty)',
           currency, count(*), sum(amount)
    FROM marts.invoices WHERE counterparty_key IS NULL GROUP BY ALL
    ORDER BY 1, 3
"""

FINDING_ITEMS_SQL = """
    SELECT * FROM (
        SELECT 'paid_but_never_recorded' AS key, p.source_paid_date AS date,
               coalesce(c.display_name, '(no counterparty)') AS counterparty,
               p.source || ' invoice ' || p.invoice_number AS reference,
               p.currency, p.invoice_amount AS amount
        FROM marts.invoice_payments AS p
        LEFT JOIN marts.counterparties AS c USING (counterparty_key)
        WHERE p.row_kind = 'unpaid_in_ledger'
        UNION ALL
        SELECT 'receipts_without_invoice', p.movement_date,
               coalesce(c.display_name, f.contractor_name, '(no counterparty)'),
               coalesce(f.description, 'movement ' || p.transaction_id),
               p.currency, p.movement_amount
        FROM marts.invoice_payments AS p
        JOIN marts.cash_flow AS f USING (transaction_id)
        LEFT JOIN marts.counterparties AS c ON c.counterparty_key = f.counterparty_key
        WHERE p.row_kind = 'unmatched_movement'
        UNION ALL
        SELECT 'invoices_without_counterparty', i.issued_date, '(no counterparty)',
               i.source || ' invoice ' || i.number, i.currency, i.amount
        FROM marts.invoices AS i WHERE i.counterparty_key IS NULL
    )
    QUALIFY row_number() OVER (PARTITION BY key ORDER BY amount DESC, date DESC) <= ?
    ORDER BY key, amount DESC, date DESC
"""

MONTHS_SQL = """
    WITH as_of AS (SELECT max(as_of_date) AS as_of_date FROM marts.data_as_of),
    first_day AS (
        SELECT min(date) AS first_date FROM marts.cash_flow WHERE status = 'actual'
    )
    SELECT m.currency, strftime(m.month, '%Y-%m') AS month,
           sum(m.inflow) AS inflow, sum(m.outflow) AS outflow, sum(m.net) AS net,
           date_diff('day', greatest(m.month, f.first_date),
                     least(last_day(m.month), a.as_of_date)) + 1 AS days_of_data,
           day(last_day(m.month)) AS days_in_month
    FROM marts.cash_flow_monthly AS m, as_of AS a, first_day AS f
    WHERE m.counts_as IN ('income', 'expense') AND m.month <= a.as_of_date
    GROUP BY m.currency, m.month, a.as_of_date, f.first_date
    ORDER BY m.currency, m.month
"""

PLANNED_SQL = """
    SELECT m.currency, strftime(m.month, '%Y-%m') AS month,
           sum(m.planned_inflow) AS planned_inflow, sum(m.planned_outflow) AS planned_outflow
    FROM marts.cash_flow_monthly AS m, (SELECT max(as_of_date) AS as_of_date FROM marts.data_as_of) AS a
    WHERE m.counts_as IN ('income', 'expense') AND last_day(m.month) > a.as_of_date
    GROUP BY m.currency, m.month
    HAVING sum(m.planned_inflow) <> 0 OR sum(m.planned_outflow) <> 0
    ORDER BY m.currency, m.month
"""

DEBTORS_SQL = """
    SELECT currency, counterparty_name AS counterparty, count(*) AS open_invoices,
           sum(outstanding) AS total_owed,
           {buckets},
           max(days_overdue) AS max_days_overdue
    FROM marts.receivables
    GROUP BY currency, counterparty_key, counterparty_name
    QUALIFY row_number() OVER (PARTITION BY currency ORDER BY total_owed DESC, counterparty) <= ?
    ORDER BY currency, total_owed DESC, counterparty
""".format(
    buckets=",\n".join(
        f"coalesce(sum(outstanding) FILTER (WHERE aging_bucket = '{b}'), 0) AS \"{b}\""
        for b in AGING_BUCKETS
    )
)

BALANCES_SQL = """
    SELECT b.currency, coalesce(l.name, b.legal_entity_id) || ' · ' || b.bank_account_name
               AS account,
           b.date, b.closing_balance AS balance
    FROM marts.account_balances AS b
    LEFT JOIN staging.adesk_legal_entities AS l USING (legal_entity_id)
    ORDER BY b.currency, account, b.date
"""

LATEST_BALANCES_SQL = """
    SELECT b.currency, coalesce(l.name, b.legal_entity_id) AS legal_entity,
           b.bank_account_name AS account, b.account_status AS status,
           b.date AS as_of, b.closing_balance AS balance
    FROM marts.account_balances AS b
    LEFT JOIN staging.adesk_legal_entities AS l USING (legal_entity_id)
    WHERE b.is_latest
    ORDER BY b.currency, b.closing_balance DESC, account
"""

INVOICE_STATUS_SQL = """
    SELECT source, status, currency, count(*) AS invoices, sum(amount) AS amount,
           sum(outstanding_amount) AS outstanding
    FROM marts.invoices
    GROUP BY ALL
    ORDER BY source, currency, status
"""

SOURCE_DATES_SQL = """
    SELECT source, newest_data_date, expected_every_days, days_behind_today, is_late
    FROM marts.data_as_of ORDER BY source
"""


def load_report_data(conn: Any) -> ReportData:
    as_of_row = conn.execute("SELECT max(as_of_date) FROM marts.data_as_of").fetchone()
    data = ReportData(as_of=as_of_row[0] if as_of_row else None)
    data.source_dates = _rows(conn, SOURCE_DATES_SQL)
    data.findings = [Finding(**r) for r in _rows(conn, FINDINGS_SQL)]
    data.finding_items = [FindingItem(**r) for r in _rows(conn, FINDING_ITEMS_SQL, [TOP_FINDINGS])]
    data.months = [MonthFlow(**r) for r in _rows(conn, MONTHS_SQL)]
    data.planned = [PlannedMonth(**r) for r in _rows(conn, PLANNED_SQL)]
    for r in _rows(conn, DEBTORS_SQL, [TOP_DEBTORS]):
        data.debtors.append(
            Debtor(
                currency=r["currency"],
                counterparty=r["counterparty"] or "(no counterparty)",
                open_invoices=int(r["open_invoices"]),
                total_owed=r["total_owed"],
                buckets={b: r[b] for b in AGING_BUCKETS},
                max_days_overdue=int(r["max_days_overdue"]),
            )
        )
    data.balances = _rows(conn, BALANCES_SQL)
    data.latest_balances = _rows(conn, LATEST_BALANCES_SQL)
    data.invoice_status = _rows(conn, INVOICE_STATUS_SQL)
    return data
