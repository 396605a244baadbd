-- description: Adesk commitments (обязательства: what a contractor owes us or we owe them, by contract/shipment), one row per live commitment. Direction as Adesk types it: 1 = incoming (входящее), 2 = outgoing (исходящее). Amount and VAT DECIMAL; date dd.mm.yyyy; currency ISO (RUR -> RUB). Not money movements: never counted in cash flow or balances.
-- key: commitment_id
-- references: contractor_id -> staging.adesk_contractors.contractor_id
-- columns:
--   commitment_id    VARCHAR        Adesk id
--   date             DATE           commitment date
--   amount           DECIMAL(18,2)  amount incl. VAT
--   vat              DECIMAL(18,2)  VAT
--   vat_percent      INTEGER        VAT rate
--   currency         VARCHAR        ISO code
--   direction        VARCHAR        incoming or outgoing
--   description      VARCHAR        as typed
--   legal_entity_id  VARCHAR        our company
--   contractor_id    VARCHAR        Adesk contractor
--   contractor_name  VARCHAR        Adesk contractor's name as written
--   project_id       VARCHAR        project
--   transaction_id   VARCHAR        linked movement
--   is_shipment      BOOLEAN        a shipment (goods delivered) rather than a service or a payment obligation
--   _parse_errors    VARCHAR[]      fields present but unparsable
WITH src AS (
    SELECT
        id,
        payload,
        payload ->> '$.amount' AS raw_amount,
        payload ->> '$.vat' AS raw_vat,
        payload ->> '$.vatPercent' AS raw_vat_percent,
        payload ->> '$.date' AS raw_date,
        payload ->> '$.type' AS raw_type,
        payload ->> '$.currency' AS raw_currency,
        -- `project` is a bare id in the commitments list, an object elsewhere.
        CASE
            WHEN json_type(payload -> '$.project') = 'OBJECT' THEN payload ->> '$.project.id'
            ELSE payload ->> '$.project'
        END AS project_id
    FROM raw.adesk_commitments
    WHERE deleted_at IS NULL
),
typed AS (
    SELECT
        id AS commitment_id,
        adesk_date(raw_date) AS date,
        money_or_null(raw_amount) AS amount,
        money_or_null(raw_vat) AS vat,
        TRY_CAST(raw_vat_percent AS INTEGER) AS vat_percent,
        money_currency(raw_currency) AS currency,
        TRY_CAST(raw_type AS INTEGER) AS adesk_type,
        payload ->> '$.description' AS description,
        payload ->> '$.legalEntity.id' AS legal_entity_id,
        payload ->> '$.contractor.id' AS contractor_id,
        payload ->> '$.contractor.name' AS contractor_name,
        project_id,
        payload ->> '$.transaction.id' AS transaction_id,
        coalesce(adesk_bool(payload ->> '$.isShipment'), false) AS is_shipment,
        raw_amount,
        raw_vat,
        raw_vat_percent,
        raw_date,
        raw_type
    FROM src
)
SELECT
    commitment_id,
    date,
    amount,
    vat,
    vat_percent,
    currency,
    CASE adesk_type WHEN 1 THEN 'incoming' WHEN 2 THEN 'outgoing' END AS direction,
    description,
    legal_entity_id,
    contractor_id,
    contractor_name,
    project_id,
    transaction_id,
    is_shipment,
    list_filter(
        [
            CASE WHEN parse_failed(raw_amount, amount) THEN 'amount' END,
            CASE WHEN parse_failed(raw_vat, vat) THEN 'vat' END,
            CASE WHEN parse_failed(raw_vat_percent, vat_percent) THEN 'vatPercent' END,
            CASE WHEN parse_failed(raw_date, date) THEN 'date' END,
            CASE WHEN adesk_type IS NULL OR adesk_type NOT IN (1, 2) THEN 'type' END
        ],
        lambda x: x IS NOT NULL
    ) AS _parse_errors
FROM typed
