-- description: What customers owe us: every open invoice (Bitrix24, SalesMan, ApiPay) as of the warehouse's latest data date, with its counterparty, the amount still outstanding (invoice amount minus what is already paid, per its system or per the ledger, whichever is more) and its aging bucket: not yet due, 1-30, 31-60, 61-90 or over 90 days overdue. One row per open invoice; sum by counterparty and currency (never add RUB and KZT).
-- key: invoice_key
-- references: invoice_key -> marts.invoices.invoice_key
-- references: counterparty_key -> marts.counterparties.counterparty_key
-- columns:
--   invoice_key        VARCHAR        marts.invoices key
--   as_of_date         DATE           the date the aging is computed for
--   source             VARCHAR        invoicing system
--   invoice_number     VARCHAR        number as issued
--   counterparty_key   VARCHAR        marts.counterparties key
--   counterparty_name  VARCHAR        counterparty's display name (marts.counterparties.display_name)
--   currency           VARCHAR        ISO code
--   status             VARCHAR        unified status
--   issued_date        DATE           issue date
--   due_date           DATE           payment due (issue date when the system has none)
--   invoice_amount     DECIMAL(18,2)  invoice total
--   paid_per_source    DECIMAL(18,2)  paid so far per its system (a paid SalesMan part)
--   paid_in_ledger     DECIMAL(18,2)  payments found in the ledger
--   outstanding        DECIMAL(18,2)  still owed
--   days_overdue       INTEGER        days past due (0 when not yet due)
--   aging_bucket       VARCHAR        not yet due, 1-30, 31-60, 61-90, over 90
--   aging_order        INTEGER        0..4 for sorting buckets
--
-- The as-of date is the warehouse's (marts.data_as_of: the latest business date it knows, the
-- newest actual ledger movement, invoice issue or payment), not current_date. To age as of another day D, take marts.invoices
-- with issued_at <= D and no payment by D, and bucket D - due_date the same way.
-- Open means: its system has it issued or partially paid (drafts, cancelled, expired, paid and
-- refunded invoices are not owed), and the ledger has not already received all of it. Money
-- paid is the larger of what its system records (a paid SalesMan part) and what the ledger holds
-- for it (a payment the CRM does not know yet). An invoice without a due date (ApiPay: a
-- payment request that expires within days) is due on the day it was issued.
WITH
as_of AS (
    SELECT max(as_of_date) AS as_of_date FROM marts.data_as_of
),
ledger_paid AS (
    SELECT invoice_key, sum(allocated_amount) AS paid
    FROM marts.invoice_payments
    WHERE row_kind = 'payment'
    GROUP BY 1
),
open_invoices AS (
    SELECT
        i.invoice_key,
        i.source,
        i.number AS invoice_number,
        i.counterparty_key,
        i.currency,
        i.status,
        i.issued_date,
        coalesce(i.due_date, i.issued_date) AS due_date,
        i.amount AS invoice_amount,
        coalesce(i.paid_amount, 0) AS paid_per_source,
        coalesce(p.paid, 0) AS paid_in_ledger,
        i.amount - greatest(coalesce(i.paid_amount, 0), coalesce(p.paid, 0)) AS outstanding
    FROM marts.invoices AS i
    LEFT JOIN ledger_paid AS p ON p.invoice_key = i.invoice_key
    WHERE i.status IN ('issued', 'partially_paid')
      AND i.amount IS NOT NULL
),
aged AS (
    SELECT
        o.*,
        a.as_of_date,
        greatest(date_diff('day', o.due_date, a.as_of_date), 0) AS days_overdue
    FROM open_invoices AS o
    CROSS JOIN as_of AS a
    WHERE o.outstanding > 0
      AND (o.issued_date IS NULL OR o.issued_date <= a.as_of_date)
)
SELECT
    g.invoice_key,
    g.as_of_date,
    g.source,
    g.invoice_number,
    g.counterparty_key,
    c.display_name AS counterparty_name,
    g.currency,
    g.status,
    g.issued_date,
    g.due_date,
    CAST(g.invoice_amount AS DECIMAL(18, 2)) AS invoice_amount,
    CAST(g.paid_per_source AS DECIMAL(18, 2)) AS paid_per_source,
    CAST(g.paid_in_ledger AS DECIMAL(18, 2)) AS paid_in_ledger,
    CAST(g.outstanding AS DECIMAL(18, 2)) AS outstanding,
    CAST(g.days_overdue AS INTEGER) AS days_overdue,
    CASE
        WHEN g.days_overdue = 0 THEN 'not yet due'
        WHEN g.days_overdue <= 30 THEN '1-30'
        WHEN g.days_overdue <= 60 THEN '31-60'
        WHEN g.days_overdue <= 90 THEN '61-90'
        ELSE 'over 90'
    END AS aging_bucket,
    CASE
        WHEN g.days_overdue = 0 THEN 0
        WHEN g.days_overdue <= 30 THEN 1
        WHEN g.days_overdue <= 60 THEN 2
        WHEN g.days_overdue <= 90 THEN 3
        ELSE 4
    END AS aging_order
FROM aged AS g
LEFT JOIN marts.counterparties AS c ON c.counterparty_key = g.counterparty_key
