-- description: Adesk warehouse products as product records for marts.product_sources (one row per product); Adesk keeps no list price.
-- key: source_id
-- columns:
--   source         VARCHAR        bitrix24/adesk/apipay
--   source_entity  VARCHAR        product/nomenclature
--   source_id      VARCHAR        the record's id in its system
--   sku            VARCHAR        article as written
--   name           VARCHAR        as written
--   unit_id        VARCHAR        Adesk unit id (shared ids)
--   list_price     DECIMAL(18,2)  price per unit in the record's currency (Bitrix catalog price, ApiPay latest cart price; NULL for Adesk)
--   currency       VARCHAR        ISO currency code (RUB, KZT)
--   vat_rate       INTEGER        VAT rate in percent (NULL: unknown or without VAT)
--   product_type   VARCHAR        product/service
SELECT
    'adesk' AS source,
    'product' AS source_entity,
    product_id AS source_id,
    sku,
    name,
    unit_id,
    CAST(NULL AS DECIMAL(18, 2)) AS list_price,
    currency,
    CAST(NULL AS INTEGER) AS vat_rate,
    product_type
FROM staging.adesk_products
