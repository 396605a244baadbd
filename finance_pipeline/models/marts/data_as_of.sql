-- description: The warehouse's as-of date (as_of_date: the newest business date any source has; every "today" in the marts, the examples and the report is this date) and, per source, how recent its data is compared with the wall clock and how often new data is expected.
-- key: source
-- not_null: as_of_date, expected_every_days
-- columns:
--   source               VARCHAR  bitrix24, salesman, adesk or apipay
--   newest_data_date     DATE     the newest business date of this source's data
--   as_of_date           DATE     the warehouse's as-of date: the newest newest_data_date (same on every row)
--   expected_every_days  INTEGER  how often new data is expected from it, in days
--   days_behind_today    INTEGER  days from its newest data to the build day (wall clock)
--   is_late              BOOLEAN  lags the wall clock by more than expected_every_days (or has no data)
--
-- Why not current_date: the warehouse is a snapshot taken at the last sync. Ageing invoices or
-- closing months against the wall clock would count days it has not seen (a stalled source, or
-- the sandbox, whose business lives in its own calendar); after a fresh sync of a live business
-- the two are the same day. How far each source lags the wall clock is what the
-- `source_data_is_recent` check watches (WARN when a source lags by more than its cadence).
-- Newest business date per source: Adesk, the newest actual (not planned) ledger movement; the
-- invoicing systems, the newest issue or payment date of their invoices.
-- expected_every_days: how often each source normally has new business data (the ledger and
-- ApiPay's payment requests move every few days; CRM invoices at least weekly).
WITH
newest AS (
    SELECT 'adesk' AS source, max(date) AS newest_data_date
    FROM staging.adesk_transactions WHERE NOT is_planned
    UNION ALL
    SELECT 'bitrix24', greatest(max(issued_date), max(last_payment_date))
    FROM intermediate.int_invoices__bitrix24
    UNION ALL
    SELECT 'salesman', greatest(max(issued_date), max(last_payment_date))
    FROM intermediate.int_invoices__salesman
    UNION ALL
    SELECT 'apipay', greatest(max(issued_date), max(last_payment_date))
    FROM intermediate.int_invoices__apipay
),
cadence AS (
    SELECT * FROM (VALUES ('adesk', 3), ('bitrix24', 7), ('salesman', 7), ('apipay', 3))
        AS t(source, expected_every_days)
)
SELECT
    n.source,
    n.newest_data_date,
    max(n.newest_data_date) OVER () AS as_of_date,
    CAST(c.expected_every_days AS INTEGER) AS expected_every_days,
    CAST(date_diff('day', n.newest_data_date, current_date) AS INTEGER) AS days_behind_today,
    coalesce(date_diff('day', n.newest_data_date, current_date) > c.expected_every_days, true)
        AS is_late
FROM newest AS n
JOIN cadence AS c USING (source)
