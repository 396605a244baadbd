-- description: Every invoice from Bitrix24 (smart invoices), SalesMan and ApiPay in one table: number, dates, amounts, counterparty, and one unified status (draft, issued, paid, partially_paid, cancelled, expired, refunded, partially_refunded) next to the system's own status.
-- key: invoice_key
-- references: counterparty_key -> marts.counterparties.counterparty_key
-- columns:
--   invoice_key         VARCHAR                   source:source_id
--   source              VARCHAR                   bitrix24/salesman/apipay
--   source_id           VARCHAR                   id in the system (SalesMan: the first record of the invoice)
--   source_record_ids   VARCHAR[]                 every source record behind the invoice
--   number              VARCHAR                   invoice number as issued
--   title               VARCHAR                   title: Bitrix24 invoice title, SalesMan invoice type, ApiPay description
--   description         VARCHAR                   as typed
--   issued_at           TIMESTAMP WITH TIME ZONE  UTC
--   issued_date         DATE                      issue date, local
--   due_date            DATE                      payment due (NULL: the system has none)
--   paid_at             TIMESTAMP WITH TIME ZONE  UTC when fully paid (SalesMan: midnight Moscow of the payment date)
--   paid_date           DATE                      local payment date when fully paid
--   last_payment_date   DATE                      latest payment, also when only partly paid
--   amount              DECIMAL(18,2)             invoice total incl. VAT
--   tax_amount          DECIMAL(18,2)             VAT
--   paid_amount         DECIMAL(18,2)             paid so far (before refunds)
--   refunded_amount     DECIMAL(18,2)             refunded so far (ApiPay completed refunds; 0 for systems without refunds)
--   outstanding_amount  DECIMAL(18,2)             still to be paid (issued/partially_paid)
--   currency            VARCHAR                   ISO code of the amounts
--   document_currency   VARCHAR                   ISO code the invoice is issued in (SalesMan: its deal's currency; else = currency)
--   document_amount     DECIMAL(18,2)             amount in document_currency
--   counterparty_key    VARCHAR                   marts.counterparties
--   deal_ref            VARCHAR                   Bitrix24 deal id, SalesMan deal id, ApiPay external order id
--   status              VARCHAR                   unified status
--   source_status       VARCHAR                   the system's own status
--   parts               INTEGER                   source records (SalesMan split invoices: 2)
--   updated_at          TIMESTAMP WITH TIME ZONE  UTC last change (NULL for SalesMan, which tells none)
--
-- One invoice per Bitrix24 and ApiPay invoice and per SalesMan invoice (its split records are
-- one invoice): the union of intermediate.int_invoices__<source>, where each source's rules live
-- (status mapping, partial payments, dates), plus the counterparty each source record resolves
-- to (marts.counterparty_sources) and the common types.
-- Currency: SalesMan keeps every amount in the account's currency (RUB) and a deal may be in
-- another one (USD, EUR, KZT...), shown by converting at the deal's course; amounts here stay
-- as SalesMan stores them (what its payments are booked in), and document_currency /
-- document_amount say what the invoice was issued in (int_invoices__salesman; the other
-- sources issue in the currency of their amounts).
-- Dates: issued_date/paid_date are the local business day (Moscow for Bitrix24 and SalesMan,
-- Almaty, UTC+5, for ApiPay); timestamps are UTC instants.
WITH
unioned AS (
    SELECT * FROM intermediate.int_invoices__bitrix24
    UNION ALL BY NAME
    SELECT * FROM intermediate.int_invoices__salesman
    UNION ALL BY NAME
    SELECT * FROM intermediate.int_invoices__apipay
)
SELECT
    u.invoice_key,
    u.source,
    u.source_id,
    u.source_record_ids,
    u.number,
    u.title,
    u.description,
    u.issued_at,
    u.issued_date,
    u.due_date,
    u.paid_at,
    u.paid_date,
    u.last_payment_date,
    CAST(u.amount AS DECIMAL(18, 2)) AS amount,
    CAST(u.tax_amount AS DECIMAL(18, 2)) AS tax_amount,
    CAST(u.paid_amount AS DECIMAL(18, 2)) AS paid_amount,
    CAST(u.refunded_amount AS DECIMAL(18, 2)) AS refunded_amount,
    CAST(
        CASE WHEN u.status IN ('issued', 'partially_paid') THEN u.amount - u.paid_amount ELSE 0 END
        AS DECIMAL(18, 2)
    ) AS outstanding_amount,
    u.currency,
    coalesce(u.document_currency, u.currency) AS document_currency,
    CAST(coalesce(u.document_amount, u.amount) AS DECIMAL(18, 2)) AS document_amount,
    cp.counterparty_key,
    u.deal_ref,
    u.status,
    u.source_status,
    CAST(u.parts AS INTEGER) AS parts,
    u.updated_at
FROM unioned AS u
LEFT JOIN marts.counterparty_sources AS cp
    ON cp.source = u.source
    AND cp.source_entity = u.counterparty_entity
    AND cp.source_id = u.counterparty_source_id
