-- description: Every money movement of the Adesk ledger (the truth for cash), once: date, legal entity, account, currency, direction, amount and signed amount, category and activity (operating / investing / financing from Adesk `kind`), counterparty, project, planned or actual, and the invoice it settles (from marts.invoice_payments: invoice payments are matched here, never added on top). `counts_as` says how a movement counts: income, expense, transfer (a move between own accounts: two legs sharing a transfer_key, paired by Adesk's transfer identity, each leg in its own account's currency and amount: a same-currency transfer nets to zero in that currency; one between currencies nets to zero at its own rate, transfer_rate = sent / received) or owner_transfer (owner money in/out, isOwnerTransfer categories): only income and expense are revenue/expense. Planned movements are listed with status = 'planned' and never count in balances or totals of actual cash.
-- key: movement_key
-- references: counterparty_key -> marts.counterparties.counterparty_key
-- references: invoice_key -> marts.invoices.invoice_key
-- columns:
--   movement_key                 VARCHAR         adesk:<transaction id>
--   transaction_id               VARCHAR         Adesk id
--   date                         DATE            cash date
--   month                        DATE            first day of the month
--   related_date                 DATE            accrual date (Adesk relatedDate)
--   legal_entity_id              VARCHAR         our company
--   legal_entity_name            VARCHAR         our company
--   bank_account_id              VARCHAR         account
--   bank_account_name            VARCHAR         account
--   currency                     VARCHAR         ISO code
--   direction                    VARCHAR         in or out
--   amount                       DECIMAL(18,2)   positive
--   signed_amount                DECIMAL(18,2)   + in, - out
--   category_id                  VARCHAR         статья
--   category_name                VARCHAR         статья
--   category_group               VARCHAR         group of the статья
--   activity                     VARCHAR         operating, investing, financing (NULL for transfers)
--   counts_as                    VARCHAR         income, expense, transfer or owner_transfer
--   is_transfer                  BOOLEAN         leg of a transfer between own accounts
--   transfer_key                 VARCHAR         pairs the two legs of a transfer (transfer:<out id>-<in id>)
--   transfer_id                  VARCHAR         Adesk transfer id (transferId)
--   transfer_paired_by           VARCHAR         transferId, pairedTransactionId or day_and_text (legs without identity)
--   counterpart_transaction_id   VARCHAR         the transfer's other leg
--   counterpart_bank_account_id  VARCHAR         the other leg's account
--   counterpart_currency         VARCHAR         the other leg's currency
--   counterpart_amount           DECIMAL(18,2)   the other leg's amount in its currency
--   transfer_rate                DECIMAL(28,12)  sender-currency units per receiver-currency unit (out amount / in amount; 1 within a currency)
--   exchange_rate                DECIMAL(18,6)   Adesk exchangeRate of the movement (base-currency units per unit of its currency)
--   is_owner_transfer            BOOLEAN         owner money
--   status                       VARCHAR         actual or planned
--   is_planned                   BOOLEAN         planned
--   counterparty_key             VARCHAR         marts.counterparties key
--   contractor_id                VARCHAR         Adesk contractor
--   contractor_name              VARCHAR         Adesk contractor's name as written
--   project_id                   VARCHAR         Adesk project
--   project_name                 VARCHAR         Adesk project's name
--   business_unit_id             VARCHAR         направление бизнеса: the movement's business_unit, else its project's category
--   business_unit_name           VARCHAR         the business unit's name
--   business_unit_via            VARCHAR         movement or project: where the business unit comes from
--   tags                         VARCHAR[]       Adesk tags
--   invoice_key                  VARCHAR         the invoice this movement pays (first, if several)
--   matched_invoices             BIGINT          how many invoices it pays
--   refund_id                    VARCHAR         the ApiPay refund it pays back
--   description                  VARCHAR         as typed
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
-- Transfer legs are paired by the transfer they belong to, never by equal amounts: a transfer's
-- `amount` is in the sender's currency and what arrives (`amount_to`) may be another sum in
-- another currency (adesk-api.md l.934-958, l.981-982; the docs' example is RUR -> USD). First by
-- `transferId` (the same on both legs, v2 operation object l.1254), then by one leg naming the
-- other (`pairedTransactionId` / `pairTransferTransaction.id`, l.1255-1256), and only for legs
-- that carry neither: the one outgoing and one incoming leg of a day with the same text and
-- planned flag. Anything else stays unpaired and is reported (check transfer_legs_pair_up).
legs AS (
    SELECT
        t.transaction_id,
        t.direction,
        t.transfer_id,
        t.paired_transaction_id,
        t.date,
        coalesce(t.description, '') AS text,
        t.is_planned,
        t.bank_account_id,
        coalesce(t.currency, a.currency) AS currency,
        t.amount
    FROM staging.adesk_transactions AS t
    LEFT JOIN staging.adesk_bank_accounts AS a ON a.bank_account_id = t.bank_account_id
    WHERE t.is_transfer
),
by_transfer_id AS (
    SELECT
        any_value(transaction_id) FILTER (WHERE direction = 'out') AS out_id,
        any_value(transaction_id) FILTER (WHERE direction = 'in') AS in_id,
        transfer_id,
        'transferId' AS paired_by
    FROM legs
    WHERE transfer_id IS NOT NULL
    GROUP BY transfer_id
    HAVING count(*) = 2
        AND count(*) FILTER (WHERE direction = 'out') = 1
        AND count(*) FILTER (WHERE direction = 'in') = 1
),
after_transfer_id AS (
    SELECT * FROM legs
    WHERE transaction_id NOT IN (
        SELECT out_id FROM by_transfer_id UNION ALL SELECT in_id FROM by_transfer_id
    )
),
link_candidates AS (
    SELECT DISTINCT
        o.transaction_id AS out_id,
        i.transaction_id AS in_id,
        coalesce(o.transfer_id, i.transfer_id) AS transfer_id
    FROM after_transfer_id AS o
    JOIN after_transfer_id AS i
        ON o.direction = 'out' AND i.direction = 'in'
        AND (o.paired_transaction_id = i.transaction_id
             OR i.paired_transaction_id = o.transaction_id)
        AND (o.transfer_id IS NULL OR i.transfer_id IS NULL OR o.transfer_id = i.transfer_id)
),
by_link AS (
    SELECT out_id, in_id, transfer_id, 'pairedTransactionId' AS paired_by
    FROM (
        SELECT
            *,
            count(*) OVER (PARTITION BY out_id) AS links_of_out,
            count(*) OVER (PARTITION BY in_id) AS links_of_in
        FROM link_candidates
    )
    WHERE links_of_out = 1 AND links_of_in = 1
),
by_day AS (
    SELECT
        any_value(transaction_id) FILTER (WHERE direction = 'out') AS out_id,
        any_value(transaction_id) FILTER (WHERE direction = 'in') AS in_id,
        CAST(NULL AS VARCHAR) AS transfer_id,
        'day_and_text' AS paired_by
    FROM after_transfer_id
    WHERE transfer_id IS NULL AND paired_transaction_id IS NULL
    GROUP BY date, text, is_planned
    HAVING count(*) = 2
        AND count(*) FILTER (WHERE direction = 'out') = 1
        AND count(*) FILTER (WHERE direction = 'in') = 1
),
pairs AS (
    SELECT out_id, in_id, transfer_id, paired_by FROM by_transfer_id
    UNION ALL
    SELECT out_id, in_id, transfer_id, paired_by FROM by_link
    UNION ALL
    SELECT out_id, in_id, transfer_id, paired_by FROM by_day
),
-- Each leg keeps its own account, currency and amount; the pair's rate is what the transfer
-- itself implies: units of the sender's currency given for one unit of the receiver's.
priced AS (
    SELECT
        p.*,
        'transfer:' || p.out_id || '-' || p.in_id AS transfer_key,
        CAST(o.amount / i.amount AS DECIMAL(28, 12)) AS transfer_rate,
        o.bank_account_id AS out_account,
        o.currency AS out_currency,
        o.amount AS out_amount,
        i.bank_account_id AS in_account,
        i.currency AS in_currency,
        i.amount AS in_amount
    FROM pairs AS p
    JOIN legs AS o ON o.transaction_id = p.out_id
    JOIN legs AS i ON i.transaction_id = p.in_id
),
transfer_legs AS (
    SELECT
        out_id AS transaction_id, transfer_key, transfer_id, paired_by, transfer_rate,
        in_id AS counterpart_transaction_id, in_account AS counterpart_bank_account_id,
        in_currency AS counterpart_currency, in_amount AS counterpart_amount
    FROM priced
    UNION ALL
    SELECT
        in_id, transfer_key, transfer_id, paired_by, transfer_rate,
        out_id, out_account, out_currency, out_amount
    FROM priced
),
-- A movement's business direction: its own `business_unit`, else its project's направление
-- (the docs call both "направление бизнеса" and allow only one of them, l.1094-1106).
project_units AS (
    SELECT p.project_id, p.project_category_id, c.name
    FROM staging.adesk_projects AS p
    LEFT JOIN staging.adesk_project_categories AS c
        ON c.project_category_id = p.project_category_id
),
unit_names AS (
    SELECT project_category_id, name FROM staging.adesk_project_categories
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
    tk.transfer_id,
    tk.paired_by AS transfer_paired_by,
    tk.counterpart_transaction_id,
    tk.counterpart_bank_account_id,
    tk.counterpart_currency,
    tk.counterpart_amount,
    tk.transfer_rate,
    t.exchange_rate,
    coalesce(c.is_owner_transfer, t.category_is_owner_transfer, false) AS is_owner_transfer,
    CASE WHEN t.is_planned THEN 'planned' ELSE 'actual' END AS status,
    t.is_planned,
    coalesce(cp.counterparty_key, s.counterparty_key) AS counterparty_key,
    t.contractor_id,
    t.contractor_name,
    t.project_id,
    t.project_name,
    coalesce(t.business_unit_id, pu.project_category_id) AS business_unit_id,
    CASE
        WHEN t.business_unit_id IS NOT NULL THEN coalesce(un.name, t.business_unit_name)
        ELSE pu.name
    END AS business_unit_name,
    CASE
        WHEN t.business_unit_id IS NOT NULL THEN 'movement'
        WHEN pu.project_category_id IS NOT NULL THEN 'project'
    END AS business_unit_via,
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
LEFT JOIN transfer_legs AS tk ON tk.transaction_id = t.transaction_id
LEFT JOIN project_units AS pu ON pu.project_id = t.project_id
LEFT JOIN unit_names AS un ON un.project_category_id = t.business_unit_id
