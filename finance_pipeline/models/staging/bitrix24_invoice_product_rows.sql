-- description: Bitrix24 product rows of the smart invoices (crm.item.productrow.list, ownerType SI), one row per live line, typed.
-- key: row_id
-- columns:
--   row_id           VARCHAR        product row id
--   invoice_id       VARCHAR        owner invoice
--   owner_type       VARCHAR        owner kind (SI: a smart invoice)
--   product_id       VARCHAR        catalog product (NULL for a free-text line)
--   product_name     VARCHAR        product name as written on the line
--   price            DECIMAL(18,4)  final unit price incl. tax after discount
--   price_exclusive  DECIMAL(18,4)  unit price after discount, before tax
--   price_netto      DECIMAL(18,4)  unit price before discount and tax
--   price_brutto     DECIMAL(18,4)  unit price before discount, with tax
--   quantity         DECIMAL(18,4)  quantity in the line's unit
--   discount_type    VARCHAR        absolute/percent
--   discount_rate    DECIMAL(18,4)  percent
--   discount_sum     DECIMAL(18,4)  per unit, excl. tax
--   tax_rate         DECIMAL(18,4)  percent
--   tax_included     BOOLEAN        the price includes the tax
--   measure_code     VARCHAR        ОКЕИ code
--   measure_name     VARCHAR        unit name (шт, час, ...)
--   sort             INTEGER        position of the line on the invoice
--   line_total       DECIMAL(18,2)  price * quantity
--   _parse_errors    VARCHAR[]      fields present in the raw payload but unparsable (their typed value is NULL)
--
-- Bitrix24 semantics: `price` is the final unit price with tax and after the discount, so the
-- line total is price * quantity (exactly what the invoice's opportunity adds up); priceNetto /
-- priceBrutto are before the discount without / with tax, priceExclusive after the discount
-- without tax; discountSum is per unit, without tax. Numbers are parsed from their JSON text.
WITH src AS (
    SELECT id, payload AS p FROM raw.bitrix24_invoice_product_rows WHERE deleted_at IS NULL
),
typed AS (
    SELECT
        id AS row_id,
        p ->> 'ownerId' AS invoice_id,
        p ->> 'ownerType' AS owner_type,
        NULLIF(NULLIF(p ->> 'productId', ''), '0') AS product_id,
        p ->> 'productName' AS product_name,
        qty_or_null(p ->> 'price') AS price,
        qty_or_null(p ->> 'priceExclusive') AS price_exclusive,
        qty_or_null(p ->> 'priceNetto') AS price_netto,
        qty_or_null(p ->> 'priceBrutto') AS price_brutto,
        qty_or_null(p ->> 'quantity') AS quantity,
        CASE p ->> 'discountTypeId' WHEN '1' THEN 'absolute' WHEN '2' THEN 'percent' END
            AS discount_type,
        qty_or_null(p ->> 'discountRate') AS discount_rate,
        qty_or_null(p ->> 'discountSum') AS discount_sum,
        qty_or_null(p ->> 'taxRate') AS tax_rate,
        (p ->> 'taxIncluded') = 'Y' AS tax_included,
        NULLIF(p ->> 'measureCode', '') AS measure_code,
        p ->> 'measureName' AS measure_name,
        TRY_CAST(p ->> 'sort' AS INTEGER) AS sort,
        list_filter([
            CASE WHEN parse_failed(p ->> 'price', qty_or_null(p ->> 'price')) THEN 'price' END,
            CASE WHEN parse_failed(p ->> 'quantity', qty_or_null(p ->> 'quantity'))
                THEN 'quantity' END,
            CASE WHEN parse_failed(p ->> 'discountSum', qty_or_null(p ->> 'discountSum'))
                THEN 'discountSum' END,
            CASE WHEN parse_failed(p ->> 'taxRate', qty_or_null(p ->> 'taxRate'))
                THEN 'taxRate' END
        ], lambda x: x IS NOT NULL) AS _parse_errors
    FROM src
)
SELECT
    * EXCLUDE (_parse_errors),
    CAST(round(price * quantity, 2) AS DECIMAL(18, 2)) AS line_total,
    _parse_errors
FROM typed
