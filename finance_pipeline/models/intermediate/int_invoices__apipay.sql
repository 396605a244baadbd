-- description: ApiPay.kz invoices in the vocabulary of marts.invoices, one row per invoice, with the refunds completed against it; the payer (a phone number) is resolved to a counterparty in the mart.
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
--   refunded_amount         DECIMAL(38,2)             refunded so far (ApiPay completed refunds; 0 for systems without refunds)
--   currency                VARCHAR                   ISO
--   counterparty_entity     VARCHAR                   kind of source record the invoice is issued to (company, client, payer)
--   counterparty_source_id  VARCHAR                   id of that record in its system (ApiPay: the payer's phone); resolved to a counterparty in marts.invoices
--   deal_ref                VARCHAR                   Bitrix24 deal id, SalesMan deal id, ApiPay external order id
--   status                  VARCHAR                   unified status
--   source_status           VARCHAR                   the system's own status
--   parts                   INTEGER                   source records (SalesMan split invoices: 2)
--   updated_at              TIMESTAMP WITH TIME ZONE  UTC last change (NULL for SalesMan, which tells none)
--
-- Status: pending -> issued, paid -> paid, cancelling and cancelled -> cancelled, expired ->
-- expired, partially_refunded -> partially_refunded, refunded -> refunded. A paid, refunded or
-- partially refunded invoice was paid in full (ApiPay takes no partial payment); refunded_amount
-- is the sum of its completed refunds (else the invoice's own total_refunded).
-- ApiPay invoices have no number other than their id and no due date (an unpaid one expires after
-- its lifetime). The local business day is Almaty (UTC+5).
WITH
refunds AS (
    SELECT invoice_id, sum(amount) FILTER (WHERE status = 'completed') AS refunded
    FROM staging.apipay_refunds
    GROUP BY invoice_id
)
SELECT
    'apipay:' || i.invoice_id AS invoice_key,
    'apipay' AS source,
    i.invoice_id AS source_id,
    [i.invoice_id] AS source_record_ids,
    i.invoice_id AS number,
    i.description AS title,
    i.description,
    i.created_at AS issued_at,
    CAST(timezone('UTC', i.created_at) + INTERVAL 5 HOUR AS DATE) AS issued_date,
    CAST(NULL AS DATE) AS due_date,
    CASE WHEN s.is_paid THEN i.paid_at END AS paid_at,
    CASE WHEN s.is_paid THEN CAST(timezone('UTC', i.paid_at) + INTERVAL 5 HOUR AS DATE)
        END AS paid_date,
    CASE WHEN s.is_paid THEN CAST(timezone('UTC', i.paid_at) + INTERVAL 5 HOUR AS DATE)
        END AS last_payment_date,
    i.amount,
    CAST(NULL AS DECIMAL(18, 2)) AS tax_amount,
    CASE WHEN s.is_paid THEN i.amount ELSE 0 END AS paid_amount,
    coalesce(r.refunded, i.total_refunded, 0) AS refunded_amount,
    i.currency,
    'payer' AS counterparty_entity,
    i.phone AS counterparty_source_id,
    i.external_order_id AS deal_ref,
    s.status,
    i.status AS source_status,
    1 AS parts,
    i.updated_at
FROM staging.apipay_invoices AS i
CROSS JOIN LATERAL (
    SELECT
        CASE i.status
            WHEN 'pending' THEN 'issued'
            WHEN 'paid' THEN 'paid'
            WHEN 'cancelling' THEN 'cancelled'
            WHEN 'cancelled' THEN 'cancelled'
            WHEN 'expired' THEN 'expired'
            WHEN 'partially_refunded' THEN 'partially_refunded'
            WHEN 'refunded' THEN 'refunded'
        END AS status,
        i.status IN ('paid', 'partially_refunded', 'refunded') AS is_paid
) AS s
LEFT JOIN refunds AS r ON r.invoice_id = i.invoice_id
