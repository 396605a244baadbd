-- description: SalesMan invoice/info of each invoice record: VAT, invoice type, payment flag, bank account, responsible user. One row per live record.
-- columns: invoice_id VARCHAR record id (crid) | number VARCHAR | amount DECIMAL | vat_amount DECIMAL НДС | invoice_type VARCHAR SalesMan "tip" | is_paid BOOLEAN "do" = on | bank_account_id VARCHAR "rs" | user_id VARCHAR | currency VARCHAR ISO code | _parse_errors VARCHAR[]
--
-- Time zone: `datum` is a naive Moscow local timestamp (stored as UTC). `valuta` "р." is the
-- rouble; idcurrency 0 means the account's own currency (RUB). Numbers parsed from their JSON
-- text straight to DECIMAL.
WITH src AS (
    SELECT id, payload AS p FROM raw.salesman_invoice_details WHERE deleted_at IS NULL
)
SELECT
    id AS invoice_id,
    NULLIF(trim(p ->> 'invoice'), '') AS number,
    msk_naive_to_utc(p ->> 'datum') AS created_at,
    TRY_CAST(NULLIF(p ->> 'datum_credit', '') AS DATE) AS plan_date,
    TRY_CAST(NULLIF(p ->> 'invoice_date', '') AS DATE) AS paid_date,
    NULLIF(trim(p ->> 'contractnum'), '') AS contract,
    money_or_null(p ->> 'summa') AS amount,
    money_or_null(p ->> 'nds') AS vat_amount,
    NULLIF(NULLIF(p ->> 'clid', ''), '0') AS client_id,
    NULLIF(NULLIF(p ->> 'did', ''), '0') AS deal_id,
    p ->> 'tip' AS invoice_type,
    NULLIF(NULLIF(p ->> 'rs', ''), '0') AS bank_account_id,
    NULLIF(NULLIF(p ->> 'iduser', ''), '0') AS user_id,
    lower(p ->> 'do') IN ('on', 'yes', 'true', '1') AS is_paid,
    CASE
        WHEN coalesce(NULLIF(p ->> 'idcurrency', ''), '0') <> '0' THEN NULL
        WHEN p ->> 'valuta' IN ('р.', 'руб.', 'руб', '₽', 'RUB', 'RUR') THEN 'RUB'
        WHEN NULLIF(p ->> 'valuta', '') IS NULL THEN 'RUB'
    END AS currency,
    p ->> 'valuta' AS currency_label,
    p -> 'template' ->> '$[0].title' AS template_title,
    list_filter([
        CASE WHEN parse_failed(p ->> 'datum', msk_naive_to_utc(p ->> 'datum')) THEN 'datum' END,
        CASE WHEN parse_failed(p ->> 'summa', money_or_null(p ->> 'summa')) THEN 'summa' END,
        CASE WHEN parse_failed(p ->> 'nds', money_or_null(p ->> 'nds')) THEN 'nds' END,
        CASE WHEN parse_failed(p ->> 'invoice_date',
                TRY_CAST(NULLIF(p ->> 'invoice_date', '') AS DATE)) THEN 'invoice_date' END
    ], lambda x: x IS NOT NULL) AS _parse_errors
FROM src
