-- description: Every invoice from Bitrix24 (smart invoices), SalesMan and ApiPay in one table: number, dates, amounts, counterparty, and one unified status (draft, issued, paid, partially_paid, cancelled, expired, refunded, partially_refunded) next to the system's own status.
-- columns: invoice_key VARCHAR source:source_id | source VARCHAR bitrix24/salesman/apipay | source_id VARCHAR id in the system (SalesMan: the first record of the invoice) | source_record_ids VARCHAR[] every source record behind the invoice | number VARCHAR invoice number as issued | title VARCHAR | description VARCHAR | issued_at TIMESTAMPTZ UTC | issued_date DATE issue date, local | due_date DATE payment due (NULL: the system has none) | paid_at TIMESTAMPTZ UTC when fully paid (SalesMan: midnight Moscow of the payment date) | paid_date DATE local payment date when fully paid | last_payment_date DATE latest payment, also when only partly paid | amount DECIMAL invoice total incl. VAT | tax_amount DECIMAL VAT | paid_amount DECIMAL paid so far (before refunds) | refunded_amount DECIMAL | outstanding_amount DECIMAL still to be paid (issued/partially_paid) | currency VARCHAR ISO code of the amounts | document_currency VARCHAR ISO code the invoice is issued in (SalesMan: its deal's currency; else = currency) | document_amount DECIMAL amount in document_currency | counterparty_key VARCHAR marts.counterparties | deal_ref VARCHAR Bitrix24 deal id, SalesMan deal id, ApiPay external order id | status VARCHAR unified status | source_status VARCHAR the system's own status | parts INTEGER source records (SalesMan split invoices: 2) | updated_at TIMESTAMPTZ UTC last change (NULL for SalesMan, which tells none)
--
-- Status mapping (source_status keeps the original):
--   Bitrix24 smart-invoice stages (DT31_<category>:<code>, renamed and custom `UC_…` stages in
--     several funnels) and legacy invoice statuses (INVOICE_STATUS: N, S, P, D, custom): from
--     the semantics the portal reports for each stage (crm.status.list SEMANTICS, see
--     stage_status below): success -> paid, failure -> cancelled, in progress -> draft for the
--     funnel's first stage and issued for every later one. A smart-invoice stage missing from
--     the dictionary falls back to the item's own stageSemanticId (P/S/F); a legacy invoice to
--     its PAYED flag; anything else -> NULL, flagged by the status_mapped check.
--   Bitrix24 legacy invoices (entity type 5, pre-2021 history) are keyed
--     'bitrix24:legacy:<id>' (source_id 'legacy:<id>'): their ids are another sequence.
--   The counterparty of a Bitrix24 invoice is its company, else its contact (a person).
--   SalesMan: the `do` flag of each record, 'paid' / 'unpaid' (see below for split invoices).
--   ApiPay: pending -> issued, paid -> paid, cancelling and cancelled -> cancelled, expired ->
--     expired, partially_refunded -> partially_refunded, refunded -> refunded.
--
-- SalesMan partial payments: SalesMan splits a partially paid invoice into records with the
-- same number (and deal): the paid record keeps the paid part, a new unpaid record holds the
-- remainder. Here those records are ONE invoice (one row per number and deal), keyed by its
-- first record (invoice_key 'salesman:<smallest crid>', every crid in source_record_ids):
-- amount = sum of the parts, paid_amount = sum of the paid parts, status = paid when every part
-- is paid, partially_paid when some are, issued when none; source_status lists the parts'
-- flags in record order ('paid,unpaid'). due_date is the plan date of the unpaid remainder
-- (of the invoice when fully paid); paid_at/paid_date the last payment when fully paid;
-- last_payment_date the last payment even when only partly paid. staging.salesman_invoices
-- keeps the records one by one.
--
-- Currency: SalesMan keeps every amount in the account's currency (RUB) and a deal may be in
-- another one (USD, EUR, KZT...), shown by converting at the deal's course; amounts here stay
-- as SalesMan stores them (what its payments are booked in), and document_currency /
-- document_amount say what the invoice was issued in (staging.salesman_invoice_details).
-- Dates: issued_date/paid_date are the local business day (Moscow for Bitrix24 and SalesMan,
-- Almaty, UTC+5, for ApiPay); timestamps are UTC instants. SalesMan knows only the date of a
-- payment; ApiPay invoices have no due date (an unpaid one expires after its lifetime).
WITH
cp AS (
    SELECT source, source_entity, source_id, counterparty_key FROM marts.counterparty_sources
),
stage_status AS (
    -- Each stage's unified status from the semantics the portal reports for it
    -- (staging.bitrix24_stages): success -> paid, failure (any of them) -> cancelled, in
    -- progress -> draft for the funnel's first stage and issued for every later one.
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
refunds AS (
    SELECT invoice_id, sum(amount) FILTER (WHERE status = 'completed') AS refunded
    FROM staging.apipay_refunds
    GROUP BY invoice_id
),
bitrix AS (
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
        -- the company the invoice is issued to, else the person (a contact)
        coalesce(cc.counterparty_key, pc.counterparty_key) AS counterparty_key,
        i.deal_id AS deal_ref,
        s.status,
        i.stage_id AS source_status,
        1 AS parts,
        i.updated_at
    FROM staging.bitrix24_invoices AS i
    LEFT JOIN stage_status AS st ON st.stage_id = i.stage_id AND st.dictionary LIKE 'SMART_%'
    CROSS JOIN LATERAL (
        SELECT coalesce(st.status, CASE i.stage_semantics
            -- a stage missing from the dictionary: the item's own stageSemanticId
            WHEN 'S' THEN 'paid'
            WHEN 'F' THEN 'cancelled'
            WHEN 'P' THEN
                CASE WHEN split_part(i.stage_id, ':', 2) = 'N' THEN 'draft' ELSE 'issued' END
        END) AS status
    ) AS s
    LEFT JOIN cp AS cc
        ON cc.source = 'bitrix24' AND cc.source_entity = 'company' AND cc.source_id = i.company_id
    LEFT JOIN cp AS pc
        ON pc.source = 'bitrix24' AND pc.source_entity = 'contact' AND pc.source_id = i.contact_id
),
bitrix_legacy AS (
    -- Legacy invoices (entity type 5, the portal's pre-2021 history): their own numbers and
    -- INVOICE_STATUS codes, the same unified statuses from the dictionary's semantics.
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
        CASE WHEN s.status = 'paid' THEN coalesce(l.paid_at, l.status_changed_at) END AS paid_at,
        CASE WHEN s.status = 'paid' THEN CAST(timezone('UTC', coalesce(l.paid_at,
            l.status_changed_at)) + INTERVAL 3 HOUR AS DATE) END AS paid_date,
        CASE WHEN s.status = 'paid' THEN CAST(timezone('UTC', coalesce(l.paid_at,
            l.status_changed_at)) + INTERVAL 3 HOUR AS DATE) END AS last_payment_date,
        l.amount,
        l.tax_amount,
        CASE WHEN s.status = 'paid' THEN l.amount ELSE 0 END AS paid_amount,
        CAST(0 AS DECIMAL(18, 2)) AS refunded_amount,
        coalesce(l.currency, 'RUB') AS currency,
        coalesce(cc.counterparty_key, pc.counterparty_key) AS counterparty_key,
        l.deal_id AS deal_ref,
        s.status,
        l.status_id AS source_status,
        1 AS parts,
        l.updated_at
    FROM staging.bitrix24_legacy_invoices AS l
    LEFT JOIN stage_status AS st ON st.stage_id = l.status_id AND st.dictionary = 'INVOICE_STATUS'
    CROSS JOIN LATERAL (
        -- a portal that reports no dictionary: PAYED is the paid flag (crm-invoice-list.md)
        SELECT coalesce(st.status, CASE WHEN l.is_paid THEN 'paid' END) AS status
    ) AS s
    LEFT JOIN cp AS cc
        ON cc.source = 'bitrix24' AND cc.source_entity = 'company' AND cc.source_id = l.company_id
    LEFT JOIN cp AS pc
        ON pc.source = 'bitrix24' AND pc.source_entity = 'contact' AND pc.source_id = l.contact_id
),
salesman_records AS (
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
),
salesman AS (
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
        min(cp.counterparty_key) AS counterparty_key,
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
    FROM salesman_records AS r
    LEFT JOIN cp
        ON cp.source = 'salesman' AND cp.source_entity = 'client'
        AND cp.source_id = r.client_id
    GROUP BY r.invoice_group
),
apipay AS (
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
        cp.counterparty_key,
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
    LEFT JOIN cp
        ON cp.source = 'apipay' AND cp.source_entity = 'payer' AND cp.source_id = i.phone
),
unioned AS (
    SELECT * FROM bitrix
    UNION ALL BY NAME
    SELECT * FROM bitrix_legacy
    UNION ALL BY NAME
    SELECT * FROM salesman
    UNION ALL BY NAME
    SELECT * FROM apipay
)
SELECT
    invoice_key,
    source,
    source_id,
    source_record_ids,
    number,
    title,
    description,
    issued_at,
    issued_date,
    due_date,
    paid_at,
    paid_date,
    last_payment_date,
    CAST(amount AS DECIMAL(18, 2)) AS amount,
    CAST(tax_amount AS DECIMAL(18, 2)) AS tax_amount,
    CAST(paid_amount AS DECIMAL(18, 2)) AS paid_amount,
    CAST(refunded_amount AS DECIMAL(18, 2)) AS refunded_amount,
    CAST(
        CASE WHEN status IN ('issued', 'partially_paid') THEN amount - paid_amount ELSE 0 END
        AS DECIMAL(18, 2)
    ) AS outstanding_amount,
    currency,
    coalesce(document_currency, currency) AS document_currency,
    CAST(coalesce(document_amount, amount) AS DECIMAL(18, 2)) AS document_amount,
    counterparty_key,
    deal_ref,
    status,
    source_status,
    CAST(parts AS INTEGER) AS parts,
    updated_at
FROM unioned
