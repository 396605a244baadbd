-- description: Adesk warehouse products and services (GET /v1/warehouse/products), one row per live product: name, SKU, unit, initial batch.
-- key: product_id
-- columns:
--   product_id        VARCHAR        Adesk product id
--   product_type      VARCHAR        product/service
--   name              VARCHAR        product name as written
--   sku               VARCHAR        article as typed (sometimes with Cyrillic letters, no hyphen)
--   description       VARCHAR        as typed
--   unit_id           VARCHAR        Adesk unit id
--   unit_symbol       VARCHAR        unit's short name (шт, кг, ...)
--   unit_code         VARCHAR        ОКЕИ code of the unit
--   initial_date      DATE           date of the opening stock
--   initial_quantity  DECIMAL(18,4)  opening stock quantity
--   initial_price     DECIMAL(18,2)  purchase price of the initial batch
--   currency          VARCHAR        ISO (RUR -> RUB)
--   legal_entity_id   VARCHAR        our legal entity whose stock it is
--   _parse_errors     VARCHAR[]      fields present in the raw payload but unparsable (their typed value is NULL)
--
-- The initial batch date is ISO (YYYY-MM-DD) here, unlike the ledger's dd.mm.yyyy. Adesk
-- writes the rouble as RUR; ISO says RUB. Numbers are parsed from their JSON text.
WITH src AS (
    SELECT id, payload AS p FROM raw.adesk_products WHERE deleted_at IS NULL
)
SELECT
    id AS product_id,
    CASE p ->> 'type' WHEN '1' THEN 'product' WHEN '2' THEN 'service' END AS product_type,
    p ->> 'name' AS name,
    NULLIF(trim(p ->> 'sku'), '') AS sku,
    NULLIF(trim(p ->> 'description'), '') AS description,
    p ->> '$.unit.id' AS unit_id,
    p ->> '$.unit.symbol' AS unit_symbol,
    p ->> '$.unit.code' AS unit_code,
    TRY_CAST(p ->> '$.initialBatch.date' AS DATE) AS initial_date,
    qty_or_null(p ->> '$.initialBatch.quantity') AS initial_quantity,
    money_or_null(p ->> '$.initialBatch.price') AS initial_price,
    CASE upper(trim(p ->> '$.initialBatch.currency'))
        WHEN 'RUR' THEN 'RUB' ELSE upper(trim(p ->> '$.initialBatch.currency'))
    END AS currency,
    p ->> '$.initialBatch.legalEntity.id' AS legal_entity_id,
    list_filter([
        CASE WHEN TRY_CAST(p ->> 'type' AS INTEGER) IS NULL AND p ->> 'type' IS NOT NULL
            THEN 'type' END,
        CASE WHEN parse_failed(p ->> '$.initialBatch.date',
                TRY_CAST(p ->> '$.initialBatch.date' AS DATE)) THEN 'initialBatch.date' END,
        CASE WHEN parse_failed(p ->> '$.initialBatch.quantity',
                qty_or_null(p ->> '$.initialBatch.quantity')) THEN 'initialBatch.quantity' END,
        CASE WHEN parse_failed(p ->> '$.initialBatch.price',
                money_or_null(p ->> '$.initialBatch.price')) THEN 'initialBatch.price' END
    ], lambda x: x IS NOT NULL) AS _parse_errors
FROM src
