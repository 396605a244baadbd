-- description: Bitrix24 smart invoices (crm.item, entityTypeId 31) in the vocabulary of marts.invoices, one row per invoice; the counterparty is named by its source record (company), resolved in the mart.
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
--   amount                  DECIMAL(18,2)             invoice total incl. VAT
--   tax_amount              DECIMAL(18,2)             VAT
--   paid_amount             DECIMAL(18,2)             paid so far (before refunds)
--   refunded_amount         DECIMAL(18,2)             refunded so far (ApiPay completed refunds; 0 for systems without refunds)
--   currency                VARCHAR                   ISO
--   counterparty_entity     VARCHAR                   kind of source record the invoice is issued to (company, client, payer)
--   counterparty_source_id  VARCHAR                   id of that record in its system (ApiPay: the payer's phone); resolved to a counterparty in marts.invoices
--   deal_ref                VARCHAR                   Bitrix24 deal id, SalesMan deal id, ApiPay external order id
--   status                  VARCHAR                   unified status
--   source_status           VARCHAR                   the system's own status
--   parts                   INTEGER                   source records (SalesMan split invoices: 2)
--   updated_at              TIMESTAMP WITH TIME ZONE  UTC last change (NULL for SalesMan, which tells none)
--
-- Status: the smart-invoice stage (DT31_<category>:<code>): N new -> draft, S sent -> issued,
-- P paid -> paid, D declined -> cancelled; any other (custom) stage -> NULL, flagged by the
-- status_mapped check of marts.invoices. Bitrix24 knows no partial payment: paid means the whole
-- amount, paid when the invoice moved to its paid stage (moved_at).
-- Dates: the local business day is Moscow (UTC+3); timestamps are UTC instants. An invoice with
-- no currency is in roubles (the portal's base currency).
SELECT
    'bitrix24:' || i.invoice_id AS invoice_key,
    'bitrix24' AS source,
    i.invoice_id AS source_id,
    [i.invoice_id] AS source_record_ids,
    i.account_number AS number,
    i.title,
    i.comments AS description,
    i.created_at AS issued_at,
    coalesce(i.begin_date, CAST(timezone('UTC', i.created_at) + INTERVAL 3 HOUR AS DATE))
        AS issued_date,
    i.close_date AS due_date,
    CASE WHEN s.status = 'paid' THEN i.moved_at END AS paid_at,
    CASE WHEN s.status = 'paid' THEN CAST(timezone('UTC', i.moved_at) + INTERVAL 3 HOUR AS DATE)
        END AS paid_date,
    CASE WHEN s.status = 'paid' THEN CAST(timezone('UTC', i.moved_at) + INTERVAL 3 HOUR AS DATE)
        END AS last_payment_date,
    i.amount,
    i.tax_amount,
    CASE WHEN s.status = 'paid' THEN i.amount ELSE 0 END AS paid_amount,
    CAST(0 AS DECIMAL(18, 2)) AS refunded_amount,
    coalesce(i.currency, 'RUB') AS currency,
    'company' AS counterparty_entity,
    i.company_id AS counterparty_source_id,
    i.deal_id AS deal_ref,
    s.status,
    i.stage_id AS source_status,
    1 AS parts,
    i.updated_at
FROM staging.bitrix24_invoices AS i
CROSS JOIN LATERAL (
    SELECT CASE split_part(i.stage_id, ':', 2)
        WHEN 'N' THEN 'draft'
        WHEN 'S' THEN 'issued'
        WHEN 'P' THEN 'paid'
        WHEN 'D' THEN 'cancelled'
    END AS status
) AS s
