-- description: Lines of the Bitrix24 legacy invoices (PRODUCT_ROWS of crm.invoice.get), one row per line of a live invoice, typed.
-- key: row_id
-- columns:
--   row_id          VARCHAR        PRODUCT_ROWS ID
--   invoice_id      VARCHAR        owner legacy invoice
--   line_number     INTEGER        order within the invoice
--   product_id      VARCHAR        catalog product (NULL for a typed line)
--   product_name    VARCHAR        as on the invoice
--   price           DECIMAL(18,4)  unit price incl. VAT after discount
--   discount_price  DECIMAL(18,4)  discount per unit
--   quantity        DECIMAL(18,4)  quantity
--   line_total      DECIMAL(18,2)  price * quantity
--   tax_rate        DECIMAL(18,4)  VAT percent
--   tax_included    BOOLEAN        the price includes VAT
--   measure_code    VARCHAR        ОКЕИ code
--   measure_name    VARCHAR        unit name
--   _parse_errors   VARCHAR[]      fields present in the raw payload but unparsable (their typed value is NULL)
--
-- crm-invoice-fields.md (PRODUCT_ROWS): PRICE per unit, DISCOUNT_PRICE "Discount per product
-- unit", VAT_RATE a coefficient (0.2 = 20 %), PRODUCT_ID 0 when not from the catalog. The line
-- total is PRICE * QUANTITY; the invoice's PRICE is their sum.
WITH src AS (
    SELECT id AS invoice_id, payload AS p FROM raw.bitrix24_legacy_invoices
    WHERE deleted_at IS NULL
),
lines AS (
    SELECT
        invoice_id,
        unnest(range(CAST(coalesce(json_array_length(p, '$.PRODUCT_ROWS'), 0) AS BIGINT)))
            AS i,
        p
    FROM src
),
typed AS (
    SELECT
        json_extract_string(p, '$.PRODUCT_ROWS[' || i || '].ID') AS row_id,
        invoice_id,
        CAST(i + 1 AS INTEGER) AS line_number,
        NULLIF(NULLIF(json_extract_string(p, '$.PRODUCT_ROWS[' || i || '].PRODUCT_ID'), ''),
            '0') AS product_id,
        json_extract_string(p, '$.PRODUCT_ROWS[' || i || '].PRODUCT_NAME') AS product_name,
        qty_or_null(json_extract_string(p, '$.PRODUCT_ROWS[' || i || '].PRICE')) AS price,
        qty_or_null(json_extract_string(p, '$.PRODUCT_ROWS[' || i || '].DISCOUNT_PRICE'))
            AS discount_price,
        qty_or_null(json_extract_string(p, '$.PRODUCT_ROWS[' || i || '].QUANTITY')) AS quantity,
        CAST(qty_or_null(json_extract_string(p, '$.PRODUCT_ROWS[' || i || '].VAT_RATE')) * 100
            AS DECIMAL(18, 4)) AS tax_rate,
        json_extract_string(p, '$.PRODUCT_ROWS[' || i || '].VAT_INCLUDED') = 'Y' AS tax_included,
        NULLIF(json_extract_string(p, '$.PRODUCT_ROWS[' || i || '].MEASURE_CODE'), '')
            AS measure_code,
        json_extract_string(p, '$.PRODUCT_ROWS[' || i || '].MEASURE_NAME') AS measure_name,
        json_extract_string(p, '$.PRODUCT_ROWS[' || i || '].PRICE') AS raw_price,
        json_extract_string(p, '$.PRODUCT_ROWS[' || i || '].QUANTITY') AS raw_quantity
    FROM lines
)
SELECT
    row_id,
    invoice_id,
    line_number,
    product_id,
    product_name,
    price,
    discount_price,
    quantity,
    CAST(round(price * quantity, 2) AS DECIMAL(18, 2)) AS line_total,
    tax_rate,
    tax_included,
    measure_code,
    measure_name,
    list_filter([
        CASE WHEN parse_failed(raw_price, price) THEN 'PRICE' END,
        CASE WHEN parse_failed(raw_quantity, quantity) THEN 'QUANTITY' END
    ], lambda x: x IS NOT NULL) AS _parse_errors
FROM typed
