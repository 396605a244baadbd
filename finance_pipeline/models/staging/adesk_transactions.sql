-- description: Adesk ledger movements (операции), one row per live movement: completed and planned, transfer legs included. Amount positive with a direction, plus the signed amount; dates are Adesk's own calendar days (dd.mm.yyyy, Moscow, no time); currency of the account in ISO (RUR -> RUB).
-- key: transaction_id
-- references: bank_account_id -> staging.adesk_bank_accounts.bank_account_id
-- references: category_id -> staging.adesk_transaction_categories.category_id
-- references: project_id -> staging.adesk_projects.project_id
-- references: contractor_id -> staging.adesk_contractors.contractor_id
-- columns:
--   transaction_id              VARCHAR        Adesk id
--   date                        DATE           cash date
--   related_date                DATE           accrual date
--   amount                      DECIMAL(18,2)  always positive
--   direction                   VARCHAR        in or out (Adesk type 1/2)
--   signed_amount               DECIMAL(18,2)  + in, - out
--   bank_account_id             VARCHAR        account
--   bank_account_name           VARCHAR        account name
--   currency                    VARCHAR        ISO code of the account
--   legal_entity_id             VARCHAR        our company owning the account
--   category_id                 VARCHAR        статья
--   category_name               VARCHAR        category (статья) name
--   category_kind               INTEGER        the category's kind (income, outcome, transfer)
--   category_is_owner_transfer  BOOLEAN        the category is owner money (deposit or withdrawal), not income or expense
--   contractor_id               VARCHAR        Adesk contractor
--   contractor_name             VARCHAR        Adesk contractor's name as written
--   project_id                  VARCHAR        project
--   project_name                VARCHAR        Adesk project's name
--   tag_ids                     VARCHAR[]      ids of the movement's tags
--   tag_names                   VARCHAR[]      names of the movement's tags
--   description                 VARCHAR        as typed
--   is_planned                  BOOLEAN        planned (not yet happened)
--   is_transfer                 BOOLEAN        leg of a transfer between own accounts
--   is_commitment               BOOLEAN        recorded against a commitment (обязательство)
--   is_splitted                 BOOLEAN        split into parts across categories or projects
--   split_id                    VARCHAR        id shared by the parts of a split movement
--   transfer_id                 VARCHAR        Adesk transfer the leg belongs to (transferId)
--   paired_transaction_id       VARCHAR        the transfer's other leg (pairedTransactionId, else pairTransferTransaction.id)
--   exchange_rate               DECIMAL(18,6)  Adesk exchangeRate: base-currency units per unit of the account's currency
--   business_unit_id            VARCHAR        направление бизнеса of the movement (business_unit or businessUnit)
--   business_unit_name          VARCHAR        the business unit's name
--   _parse_errors               VARCHAR[]      fields present but unparsable
--
-- The payload is parsed once per row into a typed struct (json_transform: a value of another
-- JSON type than expected becomes NULL instead of failing, and is then reported below); every
-- field is read as text and typed here, so numbers sent as strings parse all the same.
-- Transfer links and currency fields follow the v2 operation object (adesk-api.md l.1229-1260:
-- transferId, pairedTransactionId, pairTransferTransaction, exchangeRate); the business unit is
-- `business_unit` in the v1 object (l.1103) and `businessUnit` in v2 (l.1260): both are read.
WITH src AS (
    SELECT
        id,
        json_transform(
            payload,
            '{"amount": "VARCHAR", "date": "VARCHAR", "relatedDate": "VARCHAR",
              "type": "VARCHAR", "description": "VARCHAR", "isPlanned": "VARCHAR",
              "isTransfer": "VARCHAR", "isCommitment": "VARCHAR", "isSplitted": "VARCHAR",
              "splitId": "VARCHAR", "exchangeRate": "VARCHAR",
              "transferId": "VARCHAR", "pairedTransactionId": "VARCHAR",
              "pairTransferTransaction": {"id": "VARCHAR"},
              "business_unit": {"id": "VARCHAR", "name": "VARCHAR"},
              "businessUnit": {"id": "VARCHAR", "name": "VARCHAR"},
              "bankAccount": {"id": "VARCHAR", "name": "VARCHAR", "currency": "VARCHAR",
                              "legalEntity": {"id": "VARCHAR"}},
              "category": {"id": "VARCHAR", "name": "VARCHAR", "kind": "VARCHAR",
                           "isOwnerTransfer": "VARCHAR"},
              "contractor": {"id": "VARCHAR", "name": "VARCHAR"},
              "project": {"id": "VARCHAR", "name": "VARCHAR"},
              "tags": [{"id": "VARCHAR", "name": "VARCHAR"}]}'
        ) AS p
    FROM raw.adesk_transactions
    WHERE deleted_at IS NULL
),
typed AS (
    SELECT
        id AS transaction_id,
        adesk_date(p.date) AS date,
        adesk_date(p.relatedDate) AS related_date,
        money_or_null(p.amount) AS amount,
        TRY_CAST(p.type AS INTEGER) AS adesk_type,
        adesk_bool(p.isPlanned) AS is_planned,
        adesk_bool(p.isTransfer) AS is_transfer,
        coalesce(adesk_bool(p.isCommitment), false) AS is_commitment,
        coalesce(adesk_bool(p.isSplitted), false) AS is_splitted,
        NULLIF(p.splitId, '') AS split_id,
        NULLIF(p.transferId, '') AS transfer_id,
        coalesce(NULLIF(p.pairedTransactionId, ''), NULLIF(p.pairTransferTransaction.id, ''))
            AS paired_transaction_id,
        TRY_CAST(p.exchangeRate AS DECIMAL(18, 6)) AS exchange_rate,
        coalesce(NULLIF(p.business_unit.id, ''), NULLIF(p.businessUnit.id, ''))
            AS business_unit_id,
        coalesce(p.business_unit.name, p.businessUnit.name) AS business_unit_name,
        p.bankAccount.id AS bank_account_id,
        p.bankAccount.name AS bank_account_name,
        money_currency(p.bankAccount.currency) AS currency,
        p.bankAccount.legalEntity.id AS legal_entity_id,
        p.category.id AS category_id,
        p.category.name AS category_name,
        TRY_CAST(p.category.kind AS INTEGER) AS category_kind,
        adesk_bool(p.category.isOwnerTransfer) AS category_is_owner_transfer,
        p.contractor.id AS contractor_id,
        p.contractor.name AS contractor_name,
        p.project.id AS project_id,
        p.project.name AS project_name,
        coalesce(list_transform(p.tags, lambda t: t.id), []) AS tag_ids,
        coalesce(list_transform(p.tags, lambda t: t.name), []) AS tag_names,
        p.description,
        p.amount AS raw_amount,
        p.date AS raw_date,
        p.relatedDate AS raw_related_date,
        p.isPlanned AS raw_planned,
        p.isTransfer AS raw_transfer,
        p.bankAccount.currency AS raw_currency,
        p.exchangeRate AS raw_exchange_rate
    FROM src
)
SELECT
    transaction_id,
    date,
    related_date,
    amount,
    CASE adesk_type WHEN 1 THEN 'in' WHEN 2 THEN 'out' END AS direction,
    CASE adesk_type WHEN 1 THEN amount WHEN 2 THEN -amount END AS signed_amount,
    bank_account_id,
    bank_account_name,
    currency,
    legal_entity_id,
    category_id,
    category_name,
    category_kind,
    category_is_owner_transfer,
    contractor_id,
    contractor_name,
    project_id,
    project_name,
    tag_ids,
    tag_names,
    description,
    coalesce(is_planned, false) AS is_planned,
    coalesce(is_transfer, false) AS is_transfer,
    is_commitment,
    is_splitted,
    split_id,
    transfer_id,
    paired_transaction_id,
    exchange_rate,
    business_unit_id,
    business_unit_name,
    list_filter(
        [
            CASE WHEN parse_failed(raw_amount, amount) THEN 'amount' END,
            CASE WHEN parse_failed(raw_date, date) THEN 'date' END,
            CASE WHEN parse_failed(raw_related_date, related_date) THEN 'relatedDate' END,
            CASE WHEN adesk_type IS NULL OR adesk_type NOT IN (1, 2) THEN 'type' END,
            CASE WHEN parse_failed(raw_planned, is_planned) THEN 'isPlanned' END,
            CASE WHEN parse_failed(raw_transfer, is_transfer) THEN 'isTransfer' END,
            CASE WHEN parse_failed(raw_currency, currency) THEN 'bankAccount.currency' END,
            CASE WHEN parse_failed(raw_exchange_rate, exchange_rate) THEN 'exchangeRate' END
        ],
        lambda x: x IS NOT NULL
    ) AS _parse_errors
FROM typed
