-- description: Cash flow by month x legal entity x account x category x activity x business unit: actual inflow, outflow and net (from marts.cash_flow; transfers between own accounts appear with counts_as = 'transfer' and no category, so an account's flows add up to its balance change while company-wide they net to zero), plus planned inflow/outflow kept apart (never in balances), and the account's opening and closing balance for the month (from marts.account_balances; the same on every row of an account-month: do not add them up). An account-month without movements still has one row (no category, zero flows) so balances run on without gaps.
-- key: row_key
-- columns:
--   row_key             VARCHAR        month|account|category|counts_as|business unit
--   month               DATE           first day of the month
--   legal_entity_id     VARCHAR        our company
--   legal_entity_name   VARCHAR        our company
--   bank_account_id     VARCHAR        account
--   bank_account_name   VARCHAR        account
--   currency            VARCHAR        ISO code
--   category_id         VARCHAR        статья (NULL for transfers)
--   category_name       VARCHAR        статья
--   category_group      VARCHAR        group
--   activity            VARCHAR        operating, investing, financing
--   counts_as           VARCHAR        income, expense, transfer or owner_transfer
--   business_unit_id    VARCHAR        направление бизнеса (marts.cash_flow)
--   business_unit_name  VARCHAR        the business unit's name
--   inflow              DECIMAL(18,2)  actual money in
--   outflow             DECIMAL(18,2)  actual money out
--   net                 DECIMAL(18,2)  inflow - outflow
--   movements           BIGINT         actual movements
--   planned_inflow      DECIMAL(18,2)  planned money in (not in balances)
--   planned_outflow     DECIMAL(18,2)  planned money out (not in balances)
--   opening_balance     DECIMAL(18,2)  account balance at the start of the month
--   closing_balance     DECIMAL(18,2)  account balance at the end of the month (or the ledger's latest day)
WITH
flows AS (
    SELECT
        month,
        bank_account_id,
        category_id,
        counts_as,
        business_unit_id,
        any_value(business_unit_name) AS business_unit_name,
        any_value(legal_entity_id) AS legal_entity_id,
        any_value(legal_entity_name) AS legal_entity_name,
        any_value(bank_account_name) AS bank_account_name,
        any_value(currency) AS currency,
        any_value(category_name) AS category_name,
        any_value(category_group) AS category_group,
        any_value(activity) AS activity,
        coalesce(sum(amount) FILTER (WHERE status = 'actual' AND direction = 'in'), 0) AS inflow,
        coalesce(sum(amount) FILTER (WHERE status = 'actual' AND direction = 'out'), 0) AS outflow,
        count(*) FILTER (WHERE status = 'actual') AS movements,
        coalesce(sum(amount) FILTER (WHERE status = 'planned' AND direction = 'in'), 0)
            AS planned_inflow,
        coalesce(sum(amount) FILTER (WHERE status = 'planned' AND direction = 'out'), 0)
            AS planned_outflow
    FROM marts.cash_flow
    WHERE month IS NOT NULL
    GROUP BY month, bank_account_id, category_id, counts_as, business_unit_id
),
balances AS (
    SELECT
        bank_account_id,
        CAST(date_trunc('month', date) AS DATE) AS month,
        any_value(bank_account_name) AS bank_account_name,
        any_value(legal_entity_id) AS legal_entity_id,
        any_value(currency) AS currency,
        arg_min(opening_balance, date) AS opening_balance,
        arg_max(closing_balance, date) AS closing_balance
    FROM marts.account_balances
    GROUP BY 1, 2
),
quiet_months AS (
    -- account-months with a balance but no movement at all
    SELECT b.*
    FROM balances AS b
    WHERE NOT EXISTS (
        SELECT 1 FROM flows AS f
        WHERE f.bank_account_id = b.bank_account_id AND f.month = b.month
    )
),
entities AS (
    SELECT legal_entity_id, name FROM staging.adesk_legal_entities
),
rows AS (
    SELECT
        month, legal_entity_id, legal_entity_name, bank_account_id, bank_account_name, currency,
        category_id, category_name, category_group, activity, counts_as,
        business_unit_id, business_unit_name,
        inflow, outflow, movements, planned_inflow, planned_outflow
    FROM flows
    UNION ALL
    SELECT
        q.month, q.legal_entity_id, e.name, q.bank_account_id, q.bank_account_name, q.currency,
        NULL, NULL, NULL, NULL, NULL,
        NULL, NULL,
        0, 0, 0, 0, 0
    FROM quiet_months AS q
    LEFT JOIN entities AS e ON e.legal_entity_id = q.legal_entity_id
)
SELECT
    strftime(r.month, '%Y-%m') || '|' || r.bank_account_id || '|' || coalesce(r.category_id, '-')
        || '|' || coalesce(r.counts_as, '-') || '|' || coalesce(r.business_unit_id, '-') AS row_key,
    r.month,
    r.legal_entity_id,
    r.legal_entity_name,
    r.bank_account_id,
    r.bank_account_name,
    r.currency,
    r.category_id,
    r.category_name,
    r.category_group,
    r.activity,
    r.counts_as,
    r.business_unit_id,
    r.business_unit_name,
    CAST(r.inflow AS DECIMAL(18, 2)) AS inflow,
    CAST(r.outflow AS DECIMAL(18, 2)) AS outflow,
    CAST(r.inflow - r.outflow AS DECIMAL(18, 2)) AS net,
    r.movements,
    CAST(r.planned_inflow AS DECIMAL(18, 2)) AS planned_inflow,
    CAST(r.planned_outflow AS DECIMAL(18, 2)) AS planned_outflow,
    b.opening_balance,
    b.closing_balance
FROM rows AS r
LEFT JOIN balances AS b ON b.bank_account_id = r.bank_account_id AND b.month = r.month
