-- description: Balance of every Adesk account for every day, from its opening balance (initialAmount at initialAmountDate) plus the actual movements of marts.cash_flow (planned ones never count) up to the ledger's latest day (the newest actual movement). The latest row of each account must equal the balance Adesk itself reports (reported_balance; an asset check names any account that differs, and by how much). Money DECIMAL, per account in its own currency: never add RUB, KZT and USD (a transfer between currencies moves one sum out of one account and another sum into the other, each counted in its own account).
-- key: bank_account_id, date
-- columns:
--   bank_account_id    VARCHAR        account
--   bank_account_name  VARCHAR        account
--   legal_entity_id    VARCHAR        our company
--   legal_entity_name  VARCHAR        our legal entity that holds the account
--   currency           VARCHAR        ISO code
--   account_status     VARCHAR        open or closed
--   date               DATE           the day
--   opening_balance    DECIMAL(18,2)  balance at the start of the day
--   inflow             DECIMAL(18,2)  actual money in that day
--   outflow            DECIMAL(18,2)  actual money out that day
--   closing_balance    DECIMAL(18,2)  balance at the end of the day
--   is_latest          BOOLEAN        the account's last day (the ledger's latest day)
--   reported_balance   DECIMAL(18,2)  Adesk's current balance (latest row only)
--   difference         DECIMAL(18,2)  closing_balance - reported_balance (latest row only)
--
-- Every actual movement counts, also one dated before initialAmountDate (the series then starts
-- at that movement): that is how Adesk computes the balance it reports.
WITH
actual AS (
    SELECT bank_account_id, date, direction, amount
    FROM marts.cash_flow
    WHERE status = 'actual' AND date IS NOT NULL AND amount IS NOT NULL
),
as_of AS (
    SELECT max(date) AS as_of_date FROM actual
),
daily AS (
    SELECT
        bank_account_id,
        date,
        sum(amount) FILTER (WHERE direction = 'in') AS inflow,
        sum(amount) FILTER (WHERE direction = 'out') AS outflow
    FROM actual
    GROUP BY 1, 2
),
accounts AS (
    SELECT
        a.bank_account_id,
        a.name,
        a.legal_entity_id,
        a.legal_entity_name,
        a.currency,
        a.status,
        coalesce(a.initial_amount, 0) AS initial_amount,
        a.reported_balance,
        least(
            coalesce(a.initial_amount_date, f.first_date),
            coalesce(f.first_date, a.initial_amount_date)
        ) AS start_date
    FROM staging.adesk_bank_accounts AS a
    LEFT JOIN (
        SELECT bank_account_id, min(date) AS first_date FROM actual GROUP BY 1
    ) AS f ON f.bank_account_id = a.bank_account_id
),
days AS (
    SELECT
        a.bank_account_id,
        CAST(unnest(generate_series(
            a.start_date,
            greatest(coalesce((SELECT as_of_date FROM as_of), a.start_date), a.start_date),
            INTERVAL 1 DAY
        )) AS DATE) AS date
    FROM accounts AS a
    WHERE a.start_date IS NOT NULL
),
series AS (
    SELECT
        d.bank_account_id,
        d.date,
        coalesce(x.inflow, 0) AS inflow,
        coalesce(x.outflow, 0) AS outflow,
        a.initial_amount + sum(coalesce(x.inflow, 0) - coalesce(x.outflow, 0)) OVER (
            PARTITION BY d.bank_account_id ORDER BY d.date
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS closing_balance,
        d.date = max(d.date) OVER (PARTITION BY d.bank_account_id) AS is_latest
    FROM days AS d
    JOIN accounts AS a ON a.bank_account_id = d.bank_account_id
    LEFT JOIN daily AS x ON x.bank_account_id = d.bank_account_id AND x.date = d.date
)
SELECT
    s.bank_account_id,
    a.name AS bank_account_name,
    a.legal_entity_id,
    a.legal_entity_name,
    a.currency,
    a.status AS account_status,
    s.date,
    CAST(s.closing_balance - s.inflow + s.outflow AS DECIMAL(18, 2)) AS opening_balance,
    CAST(s.inflow AS DECIMAL(18, 2)) AS inflow,
    CAST(s.outflow AS DECIMAL(18, 2)) AS outflow,
    CAST(s.closing_balance AS DECIMAL(18, 2)) AS closing_balance,
    s.is_latest,
    CASE WHEN s.is_latest THEN a.reported_balance END AS reported_balance,
    CASE WHEN s.is_latest THEN CAST(s.closing_balance - a.reported_balance AS DECIMAL(18, 2)) END
        AS difference
FROM series AS s
JOIN accounts AS a ON a.bank_account_id = s.bank_account_id
