-- description: SalesMan CRM invoices in the vocabulary of marts.invoices, one row per invoice (the records SalesMan splits a partly paid invoice into are one invoice here); the counterparty is named by its source record (client), resolved in the mart.
-- key: invoice_key
-- columns:
--   invoice_key             VARCHAR                   source:source_id
--   source                  VARCHAR                   bitrix24/salesman/apipay
--   source_id               VARCHAR                   id in the system (SalesMan: the first record of the invoice)
--   source_record_ids       VARCHAR[]                 every source record behind the invoice
--   number                  VARCHAR                   invoice number as issued
--   title                   VARCHAR                   title: Bitrix24 invoice title, SalesMan invoice type, ApiPay description
--   description             VARCHAR                   as typed
--   issued_at               TIMESTAMP WITH TIME ZONE  UTC
--   issued_date             DATE                      issue date, local
--   due_date                DATE                      payment due (NULL: the system has none)
--   paid_at                 TIMESTAMP WITH TIME ZONE  UTC when fully paid (SalesMan: midnight Moscow of the payment date)
--   paid_date               DATE                      local payment date when fully paid
--   last_payment_date       DATE                      latest payment, also when only partly paid
--   amount                  DECIMAL(38,2)             invoice total incl. VAT
--   tax_amount              DECIMAL(38,2)             VAT
--   paid_amount             DECIMAL(38,2)             paid so far (before refunds)
--   refunded_amount         DECIMAL(18,2)             refunded so far (ApiPay completed refunds; 0 for systems without refunds)
--   currency                VARCHAR                   ISO code of the amounts (the account's currency)
--   document_currency       VARCHAR                   ISO code of the deal's currency, the one the invoice is issued in
--   document_amount         DECIMAL(38,2)             amount in document_currency
--   counterparty_entity     VARCHAR                   kind of source record the invoice is issued to (company, client, payer)
--   counterparty_source_id  VARCHAR                   id of that record in its system (ApiPay: the payer's phone); resolved to a counterparty in marts.invoices
--   deal_ref                VARCHAR                   Bitrix24 deal id, SalesMan deal id, ApiPay external order id
--   status                  VARCHAR                   unified status
--   source_status           VARCHAR                   the system's own status
--   parts                   BIGINT                    source records (SalesMan split invoices: 2)
--   updated_at              TIMESTAMP WITH TIME ZONE  UTC last change (NULL for SalesMan, which tells none)
--
-- Partial payments: SalesMan splits a partially paid invoice into records with the same number
-- (and deal): the paid record keeps the paid part, a new unpaid record holds the remainder.
-- Here those records are ONE invoice (one row per number, deal and client), keyed by its first
-- record (invoice_key 'salesman:<smallest crid>', every crid in source_record_ids):
-- amount = sum of the parts, paid_amount = sum of the paid parts, status = paid when every part
-- is paid, partially_paid when some are, issued when none; source_status lists the parts'
-- flags in record order ('paid,unpaid'). due_date is the plan date of the unpaid remainder
-- (of the invoice when fully paid); paid_at/paid_date the last payment when fully paid;
-- last_payment_date the last payment even when only partly paid. SalesMan knows only the date
-- of a payment (paid_at is midnight Moscow of that day) and tells no change time.
-- Currency: SalesMan keeps every amount in the account's currency (RUB) and a deal may be in
-- another one (USD, EUR, KZT...), shown by converting at the deal's course; amounts stay as
-- SalesMan stores them (what its payments are booked in), and document_currency /
-- document_amount say what the invoice was issued in (staging.salesman_invoice_details).
WITH
records AS (
    SELECT
        r.*,
        d.vat_amount,
        d.invoice_type,
        d.currency,
        d.document_currency,
        d.document_amount,
        -- one invoice per number within a deal (SalesMan's own grouping of parts)
        r.number || '|' || coalesce(r.deal_id, '') || '|' || coalesce(r.client_id, '')
            AS invoice_group
    FROM staging.salesman_invoices AS r
    LEFT JOIN staging.salesman_invoice_details AS d ON d.invoice_id = r.invoice_id
)
SELECT
    'salesman:' || min(TRY_CAST(r.invoice_id AS BIGINT)) AS invoice_key,
    'salesman' AS source,
    CAST(min(TRY_CAST(r.invoice_id AS BIGINT)) AS VARCHAR) AS source_id,
    list(r.invoice_id ORDER BY TRY_CAST(r.invoice_id AS BIGINT)) AS source_record_ids,
    min(r.number) AS number,
    arg_min(r.invoice_type, TRY_CAST(r.invoice_id AS BIGINT)) AS title,
    arg_min(r.deal_title, TRY_CAST(r.invoice_id AS BIGINT)) AS description,
    min(r.created_at) AS issued_at,
    min(r.created_date) AS issued_date,
    coalesce(max(r.plan_date) FILTER (WHERE NOT r.is_paid), min(r.plan_date)) AS due_date,
    CASE WHEN bool_and(r.is_paid)
        THEN CAST(CAST(max(r.paid_date) AS VARCHAR) || ' 00:00:00+03:00' AS TIMESTAMPTZ)
        END AS paid_at,
    CASE WHEN bool_and(r.is_paid) THEN max(r.paid_date) END AS paid_date,
    max(r.paid_date) FILTER (WHERE r.is_paid) AS last_payment_date,
    sum(r.amount) AS amount,
    sum(r.vat_amount) AS tax_amount,
    coalesce(sum(r.amount) FILTER (WHERE r.is_paid), 0) AS paid_amount,
    CAST(0 AS DECIMAL(18, 2)) AS refunded_amount,
    coalesce(min(r.currency), 'RUB') AS currency,
    min(r.document_currency) AS document_currency,
    sum(r.document_amount) AS document_amount,
    'client' AS counterparty_entity,
    min(r.client_id) AS counterparty_source_id,  -- one client per group (it is in the group key)
    min(r.deal_id) AS deal_ref,
    CASE
        WHEN bool_and(r.is_paid) THEN 'paid'
        WHEN bool_or(r.is_paid) THEN 'partially_paid'
        ELSE 'issued'
    END AS status,
    string_agg(CASE WHEN r.is_paid THEN 'paid' ELSE 'unpaid' END, ','
        ORDER BY TRY_CAST(r.invoice_id AS BIGINT)) AS source_status,
    count(*) AS parts,
    CAST(NULL AS TIMESTAMPTZ) AS updated_at  -- SalesMan tells no change time
FROM records AS r
GROUP BY r.invoice_group
