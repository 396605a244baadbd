-- description: Bitrix24 smart invoices (crm.item, entityTypeId 31) and legacy invoices (entity type 5, the portal's pre-2021 history) in the vocabulary of marts.invoices, one row per invoice; the counterparty is named by its source record (company, else contact), resolved in the mart.
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
--   counterparty_entity     VARCHAR                   kind of source record the invoice is issued to (company, contact, client, payer)
--   counterparty_source_id  VARCHAR                   id of that record in its system (ApiPay: the payer's phone); resolved to a counterparty in marts.invoices
--   deal_ref                VARCHAR                   Bitrix24 deal id, SalesMan deal id, ApiPay external order id
--   status                  VARCHAR                   unified status
--   source_status           VARCHAR                   the system's own status
--   parts                   INTEGER                   source records (SalesMan split invoices: 2)
--   updated_at              TIMESTAMP WITH TIME ZONE  UTC last change (NULL for SalesMan, which tells none)
--
-- Status: from the semantics the portal reports for each stage (staging.bitrix24_stages, from
-- crm.status.list SEMANTICS; b24restdocs api-reference/crm/status/crm-status-list.md), never a
-- fixed map of stage ids: renamed and custom stages (`DT31_7:UC_…`) in several funnels, and the
-- legacy invoices' INVOICE_STATUS codes, get the same unified statuses: success -> paid,
-- failure (any of them) -> cancelled, in progress -> draft for the funnel's first stage (lowest
-- SORT) and issued for every later one. A smart-invoice stage missing from the dictionary falls
-- back to the item's own stageSemanticId (P/S/F, crm-item-get.md); a legacy invoice to its
-- PAYED flag; anything else -> NULL, flagged by the status_mapped check of marts.invoices.
-- Bitrix24 knows no partial payment: paid means the whole amount, paid when the invoice moved
-- to its paid stage (moved_at; legacy: DATE_PAYED).
-- Counterparty: the company the invoice is issued to, else the person (a contact:
-- universal/invoice.md "one company ... multiple contacts"; legacy UF_COMPANY_ID, else
-- UF_CONTACT_ID).
-- Legacy invoices are keyed 'bitrix24:legacy:<id>' (source_id 'legacy:<id>'): their ids are
-- another sequence than the smart invoices'.
-- Dates: the local business day is Moscow (UTC+3); timestamps are UTC instants. An invoice with
-- no currency is in roubles (the portal's base currency).
WITH
stage_status AS (
    SELECT
        stage_id,
        dictionary,
        CASE semantics
            WHEN 'success' THEN 'paid'
            WHEN 'failure' THEN 'cancelled'
            ELSE CASE WHEN is_start THEN 'draft' ELSE 'issued' END
        END AS status
    FROM staging.bitrix24_stages
),
smart AS (
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
        CASE WHEN s.status = 'paid'
            THEN CAST(timezone('UTC', i.moved_at) + INTERVAL 3 HOUR AS DATE) END AS paid_date,
        CASE WHEN s.status = 'paid'
            THEN CAST(timezone('UTC', i.moved_at) + INTERVAL 3 HOUR AS DATE) END
            AS last_payment_date,
        i.amount,
        i.tax_amount,
        CASE WHEN s.status = 'paid' THEN i.amount ELSE 0 END AS paid_amount,
        CAST(0 AS DECIMAL(18, 2)) AS refunded_amount,
        coalesce(i.currency, 'RUB') AS currency,
        CASE WHEN i.company_id IS NOT NULL THEN 'company'
            WHEN i.contact_id IS NOT NULL THEN 'contact' END AS counterparty_entity,
        coalesce(i.company_id, i.contact_id) AS counterparty_source_id,
        i.deal_id AS deal_ref,
        s.status,
        i.stage_id AS source_status,
        1 AS parts,
        i.updated_at
    FROM staging.bitrix24_invoices AS i
    LEFT JOIN stage_status AS st
        ON st.stage_id = i.stage_id AND st.dictionary LIKE 'SMART_INVOICE_STAGE_%'
    CROSS JOIN LATERAL (
        SELECT coalesce(st.status, CASE i.stage_semantics
            WHEN 'S' THEN 'paid'
            WHEN 'F' THEN 'cancelled'
            WHEN 'P' THEN
                CASE WHEN split_part(i.stage_id, ':', 2) = 'N' THEN 'draft' ELSE 'issued' END
        END) AS status
    ) AS s
),
legacy AS (
    SELECT
        'bitrix24:legacy:' || l.invoice_id AS invoice_key,
        'bitrix24' AS source,
        'legacy:' || l.invoice_id AS source_id,
        ['legacy:' || l.invoice_id] AS source_record_ids,
        l.account_number AS number,
        l.title,
        l.comments AS description,
        l.created_at AS issued_at,
        coalesce(l.bill_date, CAST(timezone('UTC', l.created_at) + INTERVAL 3 HOUR AS DATE))
            AS issued_date,
        l.pay_before AS due_date,
        CASE WHEN s.status = 'paid' THEN p.paid_at END AS paid_at,
        CASE WHEN s.status = 'paid'
            THEN CAST(timezone('UTC', p.paid_at) + INTERVAL 3 HOUR AS DATE) END AS paid_date,
        CASE WHEN s.status = 'paid'
            THEN CAST(timezone('UTC', p.paid_at) + INTERVAL 3 HOUR AS DATE) END
            AS last_payment_date,
        l.amount,
        l.tax_amount,
        CASE WHEN s.status = 'paid' THEN l.amount ELSE 0 END AS paid_amount,
        CAST(0 AS DECIMAL(18, 2)) AS refunded_amount,
        coalesce(l.currency, 'RUB') AS currency,
        CASE WHEN l.company_id IS NOT NULL THEN 'company'
            WHEN l.contact_id IS NOT NULL THEN 'contact' END AS counterparty_entity,
        coalesce(l.company_id, l.contact_id) AS counterparty_source_id,
        l.deal_id AS deal_ref,
        s.status,
        l.status_id AS source_status,
        1 AS parts,
        l.updated_at
    FROM staging.bitrix24_legacy_invoices AS l
    LEFT JOIN stage_status AS st
        ON st.stage_id = l.status_id AND st.dictionary = 'INVOICE_STATUS'
    CROSS JOIN LATERAL (
        SELECT coalesce(st.status, CASE WHEN l.is_paid THEN 'paid' END) AS status
    ) AS s
    CROSS JOIN LATERAL (SELECT coalesce(l.paid_at, l.status_changed_at) AS paid_at) AS p
)
SELECT * FROM smart
UNION ALL
SELECT * FROM legacy
