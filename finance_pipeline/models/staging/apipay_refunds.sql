-- description: ApiPay.kz refunds (GET /invoices/{id}/refunds), one row per live refund, typed.
-- key: refund_id
-- columns:
--   refund_id      VARCHAR                   ApiPay refund id
--   invoice_id     VARCHAR                   the ApiPay invoice refunded
--   amount         DECIMAL(18,2)             KZT
--   currency       VARCHAR                   ISO currency code (RUB, KZT)
--   status         VARCHAR                   (completed, ...)
--   reason         VARCHAR                   reason given for the refund
--   initiated_by   VARCHAR                   who started the refund (merchant, API, ...)
--   created_at     TIMESTAMP WITH TIME ZONE  UTC
--   _parse_errors  VARCHAR[]                 fields present in the raw payload but unparsable (their typed value is NULL)
--
-- Time zone: ApiPay writes UTC with 'Z'. `amount` is a decimal string.
WITH src AS (
    SELECT id, payload AS p FROM raw.apipay_refunds WHERE deleted_at IS NULL
)
SELECT
    id AS refund_id,
    p ->> 'invoice_id' AS invoice_id,
    money_or_null(p ->> 'amount') AS amount,
    'KZT' AS currency,
    p ->> 'status' AS status,
    p ->> 'reason' AS reason,
    p ->> 'initiated_by' AS initiated_by,
    TRY_CAST(p ->> 'created_at' AS TIMESTAMPTZ) AS created_at,
    list_filter([
        CASE WHEN parse_failed(p ->> 'amount', money_or_null(p ->> 'amount')) THEN 'amount' END,
        CASE WHEN parse_failed(p ->> 'created_at', TRY_CAST(p ->> 'created_at' AS TIMESTAMPTZ))
            THEN 'created_at' END
    ], lambda x: x IS NOT NULL) AS _parse_errors
FROM src
