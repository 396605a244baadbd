-- description: SalesMan CRM invoices (invoice/list: payment-schedule records), one row per live record. A partially paid invoice is two records with one number: the paid part and the unpaid remainder.
-- key: invoice_id
-- columns:
--   invoice_id        VARCHAR                   record id (crid)
--   number            VARCHAR                   invoice number
--   created_at        TIMESTAMP WITH TIME ZONE  UTC
--   created_date      DATE                      Moscow date
--   plan_date         DATE                      payment due
--   paid_date         DATE                      date of payment
--   amount            DECIMAL(18,2)             this record's amount
--   is_paid           BOOLEAN                   SalesMan "do"
--   client_id         VARCHAR                   clid
--   client_name       VARCHAR                   client's name as written on the invoice
--   person_id         VARCHAR                   contact person at the client
--   deal_id           VARCHAR                   did
--   deal_title        VARCHAR                   title of the deal the invoice belongs to
--   contract          VARCHAR                   contract named on the invoice
--   parts_label       VARCHAR                   "2 части" when split
--   own_company_name  VARCHAR                   our company that issued it
--   own_company_id    VARCHAR                   our company's SalesMan id
--   _parse_errors     VARCHAR[]                 fields present in the raw payload but unparsable (their typed value is NULL)
--
-- Time zone: SalesMan prints naive local timestamps in Moscow time ("2025-01-07 15:56:23");
-- created_at is that moment as a UTC instant, created_date the Moscow calendar date. Dates
-- (date_plan, date_fact) are plain calendar dates. `summa` is a JSON number (or, after an API
-- change, a string), parsed from its text straight to DECIMAL. `do` is true for a paid record
-- (null otherwise).
WITH src AS (
    SELECT id, payload AS p FROM raw.salesman_invoices WHERE deleted_at IS NULL
)
SELECT
    id AS invoice_id,
    NULLIF(trim(p ->> 'invoice'), '') AS number,
    msk_naive_to_utc(p ->> 'date_create') AS created_at,
    TRY_CAST(left(p ->> 'date_create', 10) AS DATE) AS created_date,
    TRY_CAST(NULLIF(p ->> 'date_plan', '') AS DATE) AS plan_date,
    TRY_CAST(NULLIF(p ->> 'date_fact', '') AS DATE) AS paid_date,
    money_or_null(p ->> 'summa') AS amount,
    coalesce(TRY_CAST(p ->> 'do' AS BOOLEAN), false) AS is_paid,
    NULLIF(NULLIF(p ->> 'clid', ''), '0') AS client_id,
    p ->> 'client' AS client_name,
    NULLIF(NULLIF(p ->> 'pid', ''), '0') AS person_id,
    NULLIF(NULLIF(p ->> 'did', ''), '0') AS deal_id,
    p ->> 'deal' AS deal_title,
    NULLIF(trim(p ->> 'contract'), '') AS contract,
    p ->> 'count' AS parts_label,
    p ->> 'company' AS own_company_name,
    NULLIF(NULLIF(p ->> 'mc', ''), '0') AS own_company_id,
    list_filter([
        CASE WHEN parse_failed(p ->> 'date_create', msk_naive_to_utc(p ->> 'date_create'))
            THEN 'date_create' END,
        CASE WHEN parse_failed(p ->> 'date_plan', TRY_CAST(NULLIF(p ->> 'date_plan', '') AS DATE))
            THEN 'date_plan' END,
        CASE WHEN parse_failed(p ->> 'date_fact', TRY_CAST(NULLIF(p ->> 'date_fact', '') AS DATE))
            THEN 'date_fact' END,
        CASE WHEN parse_failed(p ->> 'summa', money_or_null(p ->> 'summa')) THEN 'summa' END
    ], lambda x: x IS NOT NULL) AS _parse_errors
FROM src
