-- description: ApiPay.kz invoices (Kaspi Pay, KZT), one row per live invoice, typed, with the cart items as a typed list.
-- key: invoice_id
-- columns:
--   invoice_id         VARCHAR                                                                                                                                                                                                           ApiPay invoice id (also its number)
--   kaspi_invoice_id   VARCHAR                                                                                                                                                                                                           Kaspi's id of the payment request
--   amount             DECIMAL(18,2)                                                                                                                                                                                                     amount requested, KZT
--   currency           VARCHAR                                                                                                                                                                                                           always KZT
--   status             VARCHAR                                                                                                                                                                                                           ApiPay status
--   description        VARCHAR                                                                                                                                                                                                           as typed
--   external_order_id  VARCHAR                                                                                                                                                                                                           our order reference sent with the invoice
--   phone_number       VARCHAR                                                                                                                                                                                                           payer as ApiPay stores it (8XXXXXXXXXX)
--   phone              VARCHAR                                                                                                                                                                                                           normalised 7XXXXXXXXXX
--   client_name        VARCHAR                                                                                                                                                                                                           payer's name, when Kaspi tells it
--   total_refunded     DECIMAL(18,2)                                                                                                                                                                                                     refunded so far, per ApiPay
--   is_fully_refunded  BOOLEAN                                                                                                                                                                                                           everything paid has been refunded
--   paid_at            TIMESTAMP WITH TIME ZONE                                                                                                                                                                                          UTC
--   created_at         TIMESTAMP WITH TIME ZONE                                                                                                                                                                                          UTC
--   updated_at         TIMESTAMP WITH TIME ZONE                                                                                                                                                                                          UTC
--   cart_items         STRUCT("position" BIGINT, "name" VARCHAR, price DECIMAL(18,2), quantity DECIMAL(18,4), line_total DECIMAL(18,2), nomenclature_id VARCHAR, nomenclature_history_id VARCHAR, item_type VARCHAR, unit_id VARCHAR)[]  position, name, price, quantity, line_total, nomenclature_id, nomenclature_history_id, item_type, unit_id
--   _parse_errors      VARCHAR[]                                                                                                                                                                                                         fields present in the raw payload but unparsable (their typed value is NULL)
--
-- Time zone: ApiPay writes UTC with 'Z' ("2025-01-22T22:54:40Z"); the business day of a KZT
-- payment is the Almaty date (UTC+5). Money: `amount` and `total_refunded` are decimal
-- strings; cart item prices are the JSON numbers the merchant sent (parsed from their text,
-- never through a float). Cart items: CATALOGUE items name a nomenclature (catalog) entry,
-- FAST_SALE items (NomenclatureId -2) are free text.
WITH src AS (
    SELECT id, payload AS p FROM raw.apipay_invoices WHERE deleted_at IS NULL
),
items AS (
    SELECT
        id,
        from_json(
            coalesce(p -> 'cart_items', '[]'),
            '[{"Name": "VARCHAR", "Price": "VARCHAR", "Count": "VARCHAR",
               "NomenclatureId": "VARCHAR", "NomenclatureHistoryId": "VARCHAR",
               "Type": "VARCHAR", "UnitId": "VARCHAR"}]'
        ) AS raw_items
    FROM src
),
typed_items AS (
    SELECT
        id,
        list_transform(
            coalesce(raw_items, []),
            lambda it, i: {
                'position': i,
                'name': it.Name,
                'price': money_or_null(it.Price),
                'quantity': qty_or_null(it.Count),
                'line_total': CAST(round(money_or_null(it.Price) * qty_or_null(it.Count), 2)
                    AS DECIMAL(18, 2)),
                'nomenclature_id': CASE
                    WHEN it.Type = 'FAST_SALE' OR TRY_CAST(it.NomenclatureId AS BIGINT) < 0
                    THEN NULL ELSE it.NomenclatureId END,
                'nomenclature_history_id': it.NomenclatureHistoryId,
                'item_type': it.Type,
                'unit_id': it.UnitId
            }
        ) AS cart_items,
        coalesce(list_bool_or(list_transform(
            coalesce(raw_items, []),
            lambda it: parse_failed(it.Price, money_or_null(it.Price))
                OR parse_failed(it.Count, qty_or_null(it.Count))
        )), false) AS bad_items
    FROM items
)
SELECT
    src.id AS invoice_id,
    p ->> 'kaspi_invoice_id' AS kaspi_invoice_id,
    money_or_null(p ->> 'amount') AS amount,
    'KZT' AS currency,
    p ->> 'status' AS status,
    p ->> 'description' AS description,
    NULLIF(trim(p ->> 'external_order_id'), '') AS external_order_id,
    p ->> 'phone_number' AS phone_number,
    norm_phone(p ->> 'phone_number') AS phone,
    p ->> 'client_name' AS client_name,
    money_or_null(p ->> 'total_refunded') AS total_refunded,
    TRY_CAST(p ->> 'is_fully_refunded' AS BOOLEAN) AS is_fully_refunded,
    TRY_CAST(p ->> 'paid_at' AS TIMESTAMPTZ) AS paid_at,
    TRY_CAST(p ->> 'created_at' AS TIMESTAMPTZ) AS created_at,
    TRY_CAST(p ->> 'updated_at' AS TIMESTAMPTZ) AS updated_at,
    t.cart_items,
    list_filter([
        CASE WHEN parse_failed(p ->> 'amount', money_or_null(p ->> 'amount')) THEN 'amount' END,
        CASE WHEN parse_failed(p ->> 'total_refunded', money_or_null(p ->> 'total_refunded'))
            THEN 'total_refunded' END,
        CASE WHEN parse_failed(p ->> 'paid_at', TRY_CAST(p ->> 'paid_at' AS TIMESTAMPTZ))
            THEN 'paid_at' END,
        CASE WHEN parse_failed(p ->> 'created_at', TRY_CAST(p ->> 'created_at' AS TIMESTAMPTZ))
            THEN 'created_at' END,
        CASE WHEN parse_failed(p ->> 'updated_at', TRY_CAST(p ->> 'updated_at' AS TIMESTAMPTZ))
            THEN 'updated_at' END,
        CASE WHEN t.bad_items THEN 'cart_items' END
    ], lambda x: x IS NOT NULL) AS _parse_errors
FROM src
JOIN typed_items AS t ON t.id = src.id
