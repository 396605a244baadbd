-- description: Every money movement of the Adesk ledger (the truth for cash), once: date, legal entity, account, currency, direction, amount and signed amount, category and activity (operating / investing / financing from Adesk `kind`), counterparty, project, planned or actual, and the invoice it settles (from marts.invoice_payments: invoice payments are matched here, never added on top). `counts_as` says how a movement counts: income, expense, transfer (a move between own accounts: two legs sharing a transfer_key that net to zero) or owner_transfer (owner money in/out, isOwnerTransfer categories): only income and expense are revenue/expense. Planned movements are listed with status = 'planned' and never count in balances or totals of actual cash.
-- key: movement_key
-- references: counterparty_key -> marts.counterparties.counterparty_key
-- references: invoice_key -> marts.invoices.invoice_key
-- columns:
--   movement_key       VARCHAR        adesk:<transaction id>
--   transaction_id     VARCHAR        Adesk id
--   date               DATE           cash date
--   month              DATE           first day of the month
--   related_date       DATE           accrual date (Adesk relatedDate)
--   legal_entity_id    VARCHAR        our company
--   legal_entity_name  VARCHAR        our company
--   bank_account_id    VARCHAR        account
--   bank_account_name  VARCHAR        account
--   currency           VARCHAR        ISO code
--   direction          VARCHAR        in or out
--   amount             DECIMAL(18,2)  positive
--   signed_amount      DECIMAL(18,2)  + in, - out
--   category_id        VARCHAR        статья
--   category_name      VARCHAR        статья
--   category_group     VARCHAR        group of the статья
--   activity           VARCHAR        operating, investing, financing (NULL for transfers)
--   counts_as          VARCHAR        income, expense, transfer or owner_transfer
--   is_transfer        BOOLEAN        leg of a transfer between own accounts
--   transfer_key       VARCHAR        pairs the two legs of a transfer
--   is_owner_transfer  BOOLEAN        owner money
--   status             VARCHAR        actual or planned
--   is_planned         BOOLEAN        planned
--   counterparty_key   VARCHAR        marts.counterparties key
--   contractor_id      VARCHAR        Adesk contractor
--   contractor_name    VARCHAR        Adesk contractor's name as written
--   project_id         VARCHAR        Adesk project
--   project_name       VARCHAR        Adesk project's name
--   tags               VARCHAR[]      Adesk tags
--   invoice_key        VARCHAR        the invoice this movement pays (first, if several)
--   matched_invoices   BIGINT         how many invoices it pays
--   refund_id          VARCHAR        the ApiPay refund it pays back
--   description        VARCHAR        as typed
WITH
contractor_cp AS (
    SELECT source_id AS contractor_id, any_value(counterparty_key) AS counterparty_key
    FROM marts.counterparty_sources
    WHERE source = 'adesk' AND source_entity = 'contractor' AND source_id IS NOT NULL
    GROUP BY 1
),
settles AS (
    SELECT
        transaction_id,
        min(invoice_key) FILTER (WHERE row_kind = 'payment') AS invoice_key,
        count(*) FILTER (WHERE row_kind = 'payment') AS matched_invoices,
        min(refund_id) FILTER (WHERE row_kind = 'refund') AS refund_id,
        min(counterparty_key) AS counterparty_key
    FROM marts.invoice_payments
    WHERE row_kind IN ('payment', 'refund') AND transaction_id IS NOT NULL
    GROUP BY 1
),
-- The two legs of a transfer carry no common id in the API: they are paired by day, amount,
-- text and planned flag, n-th outgoing leg with the n-th incoming one.
legs AS (
    SELECT
        transaction_id,
        direction,
        row_number() OVER (
            PARTITION BY date, amount, coalesce(description, ''), is_planned, direction
            ORDER BY TRY_CAST(transaction_id AS BIGINT), transaction_id
        ) AS n,
        date,
        amount,
        coalesce(description, '') AS text,
        is_planned
    FROM staging.adesk_transactions
    WHERE is_transfer
),
pairs AS (
    SELECT o.transaction_id AS out_id, i.transaction_id AS in_id
    FROM legs AS o
    JOIN legs AS i
        ON o.direction = 'out' AND i.direction = 'in'
        AND o.date = i.date AND o.amount = i.amount AND o.text = i.text
        AND o.is_planned = i.is_planned AND o.n = i.n
),
transfer_keys AS (
    SELECT out_id AS transaction_id, 'transfer:' || out_id || '-' || in_id AS transfer_key
    FROM pairs
    UNION ALL
    SELECT in_id, 'transfer:' || out_id || '-' || in_id FROM pairs
)
SELECT
    'adesk:' || t.transaction_id AS movement_key,
    t.transaction_id,
    t.date,
    CAST(date_trunc('month', t.date) AS DATE) AS month,
    t.related_date,
    coalesce(t.legal_entity_id, a.legal_entity_id) AS legal_entity_id,
    le.name AS legal_entity_name,
    t.bank_account_id,
    coalesce(a.name, t.bank_account_name) AS bank_account_name,
    coalesce(t.currency, a.currency) AS currency,
    t.direction,
    t.amount,
    t.signed_amount,
    t.category_id,
    coalesce(c.name, t.category_name) AS category_name,
    c.group_name AS category_group,
    CASE
        WHEN t.is_transfer THEN NULL
        ELSE coalesce(
            c.activity,
            CASE t.category_kind
                WHEN 1 THEN 'operating' WHEN 2 THEN 'investing' WHEN 3 THEN 'financing'
            END
        )
    END AS activity,
    CASE
        WHEN t.is_transfer THEN 'transfer'
        WHEN coalesce(c.is_owner_transfer, t.category_is_owner_transfer, false)
            THEN 'owner_transfer'
        WHEN t.direction = 'in' THEN 'income'
        WHEN t.direction = 'out' THEN 'expense'
    END AS counts_as,
    t.is_transfer,
    tk.transfer_key,
    coalesce(c.is_owner_transfer, t.category_is_owner_transfer, false) AS is_owner_transfer,
    CASE WHEN t.is_planned THEN 'planned' ELSE 'actual' END AS status,
    t.is_planned,
    coalesce(cp.counterparty_key, s.counterparty_key) AS counterparty_key,
    t.contractor_id,
    t.contractor_name,
    t.project_id,
    t.project_name,
    t.tag_names AS tags,
    s.invoice_key,
    coalesce(s.matched_invoices, 0) AS matched_invoices,
    s.refund_id,
    t.description
FROM staging.adesk_transactions AS t
LEFT JOIN staging.adesk_bank_accounts AS a ON a.bank_account_id = t.bank_account_id
LEFT JOIN staging.adesk_legal_entities AS le
    ON le.legal_entity_id = coalesce(t.legal_entity_id, a.legal_entity_id)
LEFT JOIN staging.adesk_transaction_categories AS c ON c.category_id = t.category_id
LEFT JOIN contractor_cp AS cp ON cp.contractor_id = t.contractor_id
LEFT JOIN settles AS s ON s.transaction_id = t.transaction_id
LEFT JOIN transfer_keys AS tk ON tk.transaction_id = t.transaction_id
