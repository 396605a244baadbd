-- description: ApiPay.kz invoices (Kaspi Pay, KZT), one row per live invoice, typed, with the cart items as a typed list.
-- key: invoice_id
-- columns:
--   invoice_id         VARCHAR        ApiPay invoice id (also its number)
--   kaspi_invoice_id   VARCHAR        Kaspi's id of the payment request
--   amount             DECIMAL(18,2)  amount requested, KZT
--   subtotal           DECIMAL(18,2)  before an invoice-level discount (NULL: none)
--   discount_sum       DECIMAL(18,2)  invoice-level discount (NULL: none)
--   currency           VARCHAR        always KZT
--   status             VARCHAR        ApiPay status
--   description        VARCHAR        as typed
--   external_order_id  VARCHAR        our order reference sent with the invoice
--   phone_number       VARCHAR        payer as ApiPay stores it (8XXXXXXXXXX; `phone` or `phone_number`)
--   phone              VARCHAR        normalised 7XXXXXXXXXX
--   client_name        VARCHAR        payer's name, when Kaspi tells it
--   total_refunded     DECIMAL(18,2)  refunded so far, per ApiPay
--   is_fully_refunded  BOOLEAN        everything paid has been refunded
--   paid_at            TIMESTAMP WITH TIME ZONE  UTC
--   created_at         TIMESTAMP WITH TIME ZONE  UTC
--   updated_at         TIMESTAMP WITH TIME ZONE  UTC
--   cart_items         STRUCT("position" BIGINT, item_id VARCHAR, "name" VARCHAR, price DECIMAL(18,2), quantity DECIMAL(18,4), discount DECIMAL(18,2), line_total DECIMAL(18,2), catalog_item_id VARCHAR, nomenclature_history_id VARCHAR, item_type VARCHAR, unit_id VARCHAR)[]  position, item_id, name, price, quantity, discount, line_total, catalog_item_id, nomenclature_history_id, item_type, unit_id (ApiPay's own unit id)
--   _parse_errors      VARCHAR[]      fields present in the raw payload but unparsable (their typed value is NULL)
--
-- Time zone: ApiPay writes UTC with 'Z' ("2025-01-22T22:54:40Z"); the business day of a KZT
-- payment is the Almaty date (UTC+5). Money: `amount`, `total_refunded`, item `price` and
-- `discount` are decimal strings (older answers sent prices as JSON numbers), parsed from their
-- text, never through a float.
-- Cart: ApiPay's read answers carry it as `items` (openapi.yaml 2.1 schema `InvoiceItem`:
-- lowercase `id, invoice_id, catalog_item_id, name, price, count, unit_id, discount`). The
-- create request's shape (`cart_items` with `Name`, `Price`, `Count`, `NomenclatureId`,
-- `NomenclatureHistoryId`, `Type`, `UnitId`) is still read when an answer carries it (payloads
-- landed by older versions of this pipeline). catalog_item_id is the id in GET /catalog
-- (staging.apipay_catalog_items); NULL for a free-text item (old FAST_SALE, NomenclatureId -2)
-- or an item deleted from the catalog. unit_id is ApiPay's own (staging.apipay_units).
-- line_total = price * quantity - discount, `discount` read as the line's amount: openapi 2.1
-- does not say whether it is per line or per unit; marts.invoice_lines' sum check names the
-- invoices whose lines then miss the amount.
-- Payer: `phone` in list items of openapi 2.1 (`InvoiceListItem`), `phone_number` in older
-- answers and in `GET /invoices/{id}` (`Invoice`): either is read.
WITH src AS (
    SELECT id, payload AS p FROM raw.apipay_invoices WHERE deleted_at IS NULL
),
items AS (
    SELECT
        id,
        from_json(
            p -> 'items',
            '[{"id": "VARCHAR", "catalog_item_id": "VARCHAR", "name": "VARCHAR",
               "price": "VARCHAR", "count": "VARCHAR", "unit_id": "VARCHAR",
               "discount": "VARCHAR"}]'
        ) AS read_items,
        from_json(
            p -> 'cart_items',
            '[{"Name": "VARCHAR", "Price": "VARCHAR", "Count": "VARCHAR",
               "NomenclatureId": "VARCHAR", "NomenclatureHistoryId": "VARCHAR",
               "Type": "VARCHAR", "UnitId": "VARCHAR"}]'
        ) AS create_items
    FROM src
),
typed_items AS (
    SELECT
        id,
        CASE WHEN read_items IS NOT NULL THEN list_transform(
            read_items,
            lambda it, i: {
                'position': i,
                'item_id': it.id,
                'name': it.name,
                'price': money_or_null(it.price),
                'quantity': qty_or_null(it.count),
                'discount': money_or_null(it.discount),
                'line_total': CAST(round(
                    money_or_null(it.price) * qty_or_null(it.count)
                    - coalesce(money_or_null(it.discount), 0), 2) AS DECIMAL(18, 2)),
                'catalog_item_id': NULLIF(it.catalog_item_id, ''),
                'nomenclature_history_id': CAST(NULL AS VARCHAR),
                'item_type': CASE WHEN it.catalog_item_id IS NULL THEN 'FREE_TEXT'
                    ELSE 'CATALOGUE' END,
                'unit_id': it.unit_id
            }
        ) ELSE list_transform(
            coalesce(create_items, []),
            lambda it, i: {
                'position': i,
                'item_id': CAST(NULL AS VARCHAR),
                'name': it.Name,
                'price': money_or_null(it.Price),
                'quantity': qty_or_null(it.Count),
                'discount': CAST(NULL AS DECIMAL(18, 2)),
                'line_total': CAST(round(money_or_null(it.Price) * qty_or_null(it.Count), 2)
                    AS DECIMAL(18, 2)),
                'catalog_item_id': CASE
                    WHEN it.Type = 'FAST_SALE' OR TRY_CAST(it.NomenclatureId AS BIGINT) < 0
                    THEN NULL ELSE it.NomenclatureId END,
                'nomenclature_history_id': it.NomenclatureHistoryId,
                'item_type': it.Type,
                'unit_id': it.UnitId
            }
        ) END AS cart_items,
        coalesce(list_bool_or(list_transform(
            coalesce(read_items, []),
            lambda it: parse_failed(it.price, money_or_null(it.price))
                OR parse_failed(it.count, qty_or_null(it.count))
                OR parse_failed(it.discount, money_or_null(it.discount))
        )), false)
        OR coalesce(list_bool_or(list_transform(
            coalesce(create_items, []),
            lambda it: parse_failed(it.Price, money_or_null(it.Price))
                OR parse_failed(it.Count, qty_or_null(it.Count))
        )), false) AS bad_items
    FROM items
)
SELECT
    src.id AS invoice_id,
    p ->> 'kaspi_invoice_id' AS kaspi_invoice_id,
    money_or_null(p ->> 'amount') AS amount,
    money_or_null(p ->> 'subtotal') AS subtotal,
    money_or_null(p ->> 'discount_sum') AS discount_sum,
    'KZT' AS currency,
    p ->> 'status' AS status,
    p ->> 'description' AS description,
    NULLIF(trim(p ->> 'external_order_id'), '') AS external_order_id,
    coalesce(p ->> 'phone', p ->> 'phone_number') AS phone_number,
    norm_phone(coalesce(p ->> 'phone', p ->> 'phone_number')) AS phone,
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
