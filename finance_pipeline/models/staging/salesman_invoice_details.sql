-- description: SalesMan invoice/info (dealinfo=true) of each invoice record: VAT, invoice type, payment flag, bank account, responsible user, the deal's currency and course, the payer. One row per live record.
-- key: invoice_id
-- columns:
--   invoice_id         VARCHAR                   record id (crid)
--   number             VARCHAR                   invoice number
--   created_at         TIMESTAMP WITH TIME ZONE  when created (UTC)
--   plan_date          DATE                      payment due
--   paid_date          DATE                      date of payment
--   contract           VARCHAR                   contract named on the invoice
--   amount             DECIMAL(18,2)             amount incl. VAT, in the account currency
--   vat_amount         DECIMAL(18,2)             НДС
--   client_id          VARCHAR                   SalesMan client id (clid)
--   deal_id            VARCHAR                   SalesMan deal the invoice belongs to
--   invoice_type       VARCHAR                   SalesMan "tip"
--   bank_account_id    VARCHAR                   "rs"
--   user_id            VARCHAR                   SalesMan user who issued the invoice
--   is_paid            BOOLEAN                   "do" = on
--   currency           VARCHAR                   ISO code of `amount` (the account's currency)
--   currency_label     VARCHAR                   currency as SalesMan labels it
--   document_currency  VARCHAR                   ISO code of the deal's currency (= currency when the deal has none)
--   exchange_rate      DECIMAL(18,6)             account currency per unit of document_currency (1 when the same)
--   document_amount    DECIMAL(18,2)             amount in document_currency
--   payer_id           VARCHAR                   clid of the paying client (deal.payer)
--   payer_name         VARCHAR                   the paying client's name
--   template_title     VARCHAR                   print template used
--   _parse_errors      VARCHAR[]                 fields present in the raw payload but unparsable (their typed value is NULL)
--
-- Time zone: `datum` is a naive Moscow local timestamp (stored as UTC). `valuta` "р." is the
-- account's currency, the rouble. Numbers parsed from their JSON text straight to DECIMAL.
-- Currency (vladandreevg/salesmancrm inc/class/Invoice.php Invoice::info, Currency.php):
-- SalesMan stores every amount in the account's currency and converts it for display only
-- (currencyConvert: amount / course). A deal in another currency has `idcurrency` > 0, the
-- currency record in `currency` (name, view, code: an HTML name such as "dollar") and its rate
-- in `course.course`. (`idcourse` of Invoice::info repeats idcurrency, a SalesMan bug: the rate
-- is read from `course`, else from `currency.course`.) The ISO code is `view` when it is one,
-- else derived from `code` / the symbol.
-- Payer: Deal::info `payer` (get_client_info of the deal's payer), present when the details
-- were read with dealinfo.
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
        WHEN p ->> 'valuta' IN ('р.', 'руб.', 'руб', '₽', 'RUB', 'RUR') THEN 'RUB'
        WHEN NULLIF(p ->> 'valuta', '') IS NULL THEN 'RUB'
    END AS currency,
    p ->> 'valuta' AS currency_label,
    CASE
        WHEN coalesce(NULLIF(p ->> 'idcurrency', ''), '0') = '0' THEN
            CASE WHEN p ->> 'valuta' IN ('р.', 'руб.', 'руб', '₽', 'RUB', 'RUR')
                OR NULLIF(p ->> 'valuta', '') IS NULL THEN 'RUB' END
        WHEN regexp_full_match(upper(trim(p ->> '$.currency.view')), '[A-Z]{3}')
            THEN upper(trim(p ->> '$.currency.view'))
        ELSE CASE coalesce(NULLIF(lower(trim(p ->> '$.currency.code')), ''),
                           trim(p ->> '$.currency.symbol'), trim(p ->> '$.currency.view'))
            WHEN 'dollar' THEN 'USD' WHEN '$' THEN 'USD'
            WHEN 'euro' THEN 'EUR' WHEN '€' THEN 'EUR'
            WHEN 'pound' THEN 'GBP' WHEN '£' THEN 'GBP'
            WHEN 'yen' THEN 'JPY' WHEN '¥' THEN 'JPY'
            WHEN 'yuan' THEN 'CNY' WHEN '￥' THEN 'CNY'
            WHEN 'grivna' THEN 'UAH' WHEN '₴' THEN 'UAH'
            WHEN 'rouble' THEN 'RUB' WHEN 'ք' THEN 'RUB'
            WHEN 'frank' THEN 'CHF' WHEN '₣' THEN 'CHF'
            WHEN 'tenge' THEN 'KZT' WHEN '₸' THEN 'KZT' WHEN 'тг.' THEN 'KZT'
        END
    END AS document_currency,
    CASE WHEN coalesce(NULLIF(p ->> 'idcurrency', ''), '0') = '0' THEN CAST(1 AS DECIMAL(18, 6))
        ELSE TRY_CAST(coalesce(p ->> '$.course.course', p ->> '$.currency.course')
            AS DECIMAL(18, 6))
    END AS exchange_rate,
    CASE WHEN coalesce(NULLIF(p ->> 'idcurrency', ''), '0') = '0' THEN money_or_null(p ->> 'summa')
        ELSE CAST(round(money_or_null(p ->> 'summa') / NULLIF(TRY_CAST(
            coalesce(p ->> '$.course.course', p ->> '$.currency.course') AS DECIMAL(18, 6)), 0),
            2) AS DECIMAL(18, 2))
    END AS document_amount,
    NULLIF(NULLIF(p ->> '$.deal.payer.clid', ''), '0') AS payer_id,
    NULLIF(trim(p ->> '$.deal.payer.title'), '') AS payer_name,
    p -> 'template' ->> '$[0].title' AS template_title,
    list_filter([
        CASE WHEN parse_failed(p ->> 'datum', msk_naive_to_utc(p ->> 'datum')) THEN 'datum' END,
        CASE WHEN parse_failed(p ->> 'summa', money_or_null(p ->> 'summa')) THEN 'summa' END,
        CASE WHEN parse_failed(p ->> 'nds', money_or_null(p ->> 'nds')) THEN 'nds' END,
        CASE WHEN parse_failed(p ->> 'invoice_date',
                TRY_CAST(NULLIF(p ->> 'invoice_date', '') AS DATE)) THEN 'invoice_date' END
    ], lambda x: x IS NOT NULL) AS _parse_errors
FROM src
