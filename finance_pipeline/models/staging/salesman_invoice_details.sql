-- description: SalesMan invoice/info of each invoice record: VAT, invoice type, payment flag, bank account, responsible user. One row per live record.
-- key: invoice_id
-- columns:
--   invoice_id       VARCHAR                   record id (crid)
--   number           VARCHAR                   invoice number
--   created_at       TIMESTAMP WITH TIME ZONE  when created (UTC)
--   plan_date        DATE                      payment due
--   paid_date        DATE                      date of payment
--   contract         VARCHAR                   contract named on the invoice
--   amount           DECIMAL(18,2)             amount incl. VAT
--   vat_amount       DECIMAL(18,2)             НДС
--   client_id        VARCHAR                   SalesMan client id (clid)
--   deal_id          VARCHAR                   SalesMan deal the invoice belongs to
--   invoice_type     VARCHAR                   SalesMan "tip"
--   bank_account_id  VARCHAR                   "rs"
--   user_id          VARCHAR                   SalesMan user who issued the invoice
--   is_paid          BOOLEAN                   "do" = on
--   currency         VARCHAR                   ISO code
--   currency_label   VARCHAR                   currency as SalesMan labels it
--   template_title   VARCHAR                   print template used
--   _parse_errors    VARCHAR[]                 fields present in the raw payload but unparsable (their typed value is NULL)
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
