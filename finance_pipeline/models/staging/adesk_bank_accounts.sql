-- description: Adesk bank accounts and cash desks, one row per live account: the opening balance (initial_amount at initial_amount_date) and the current balance as Adesk reports it (reported_balance, completed movements only). Currency ISO (RUR -> RUB); `created` is Moscow local time, stored as TIMESTAMPTZ (UTC).
-- key: bank_account_id
-- references: legal_entity_id -> staging.adesk_legal_entities.legal_entity_id
-- columns:
--   bank_account_id      VARCHAR                   Adesk id
--   name                 VARCHAR                   account name
--   account_number       VARCHAR                   bank account number
--   bank_name            VARCHAR                   bank's name
--   bank_code            VARCHAR                   БИК (Russia) or BIC of the bank
--   account_type         VARCHAR                   bank or cash
--   status               VARCHAR                   open or closed
--   currency             VARCHAR                   ISO code
--   initial_amount       DECIMAL(18,2)             opening balance
--   initial_amount_date  DATE                      opening date
--   reported_balance     DECIMAL(18,2)             balance Adesk reports now
--   created_at           TIMESTAMP WITH TIME ZONE  when created (UTC)
--   legal_entity_id      VARCHAR                   our company
--   legal_entity_name    VARCHAR                   our legal entity that holds the account
--   _parse_errors        VARCHAR[]                 fields present but unparsable
WITH src AS (
    SELECT
        id,
        payload,
        payload ->> '$.initialAmount' AS raw_initial_amount,
        payload ->> '$.initialAmountDate' AS raw_initial_date,
        payload ->> '$.amount' AS raw_amount,
        payload ->> '$.currency' AS raw_currency,
        payload ->> '$.created' AS raw_created
    FROM raw.adesk_bank_accounts
    WHERE deleted_at IS NULL
),
typed AS (
    SELECT
        id AS bank_account_id,
        payload ->> '$.name' AS name,
        NULLIF(payload ->> '$.number', '') AS account_number,
        NULLIF(payload ->> '$.bankName', '') AS bank_name,
        NULLIF(payload ->> '$.bankCode', '') AS bank_code,
        lower(payload ->> '$.type') AS account_type,
        lower(payload ->> '$.status') AS status,
        money_currency(raw_currency) AS currency,
        money_or_null(raw_initial_amount) AS initial_amount,
        adesk_date(raw_initial_date) AS initial_amount_date,
        money_or_null(raw_amount) AS reported_balance,
        adesk_timestamp(raw_created) AS created_at,
        payload ->> '$.legalEntity.id' AS legal_entity_id,
        payload ->> '$.legalEntity.name' AS legal_entity_name,
        raw_initial_amount,
        raw_initial_date,
        raw_amount,
        raw_created
    FROM src
)
SELECT
    bank_account_id,
    name,
    account_number,
    bank_name,
    bank_code,
    account_type,
    status,
    currency,
    initial_amount,
    initial_amount_date,
    reported_balance,
    created_at,
    legal_entity_id,
    legal_entity_name,
    list_filter(
        [
            CASE WHEN parse_failed(raw_initial_amount, initial_amount) THEN 'initialAmount' END,
            CASE WHEN parse_failed(raw_initial_date, initial_amount_date)
                THEN 'initialAmountDate' END,
            CASE WHEN parse_failed(raw_amount, reported_balance) THEN 'amount' END,
            CASE WHEN parse_failed(raw_created, created_at) THEN 'created' END
        ],
        lambda x: x IS NOT NULL
    ) AS _parse_errors
FROM typed
