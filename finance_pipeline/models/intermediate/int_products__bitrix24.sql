-- description: Bitrix24 catalog products as product records for marts.product_sources (one row per catalog product), with the Adesk unit of their OKEI measure code.
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
--
-- Units: Bitrix24 names a unit by its OKEI code (measure_code); Adesk's units carry the same
-- codes, so the product gets the Adesk unit of that code (the smallest id when two share one).
WITH
unit_by_code AS (
    SELECT okei_code, min(unit_id) AS unit_id FROM staging.adesk_units GROUP BY okei_code
)
SELECT
    'bitrix24' AS source,
    'product' AS source_entity,
    p.product_id AS source_id,
    p.sku,
    p.name,
    u.unit_id,
    p.price AS list_price,
    p.currency,
    p.vat_rate,
    CAST(NULL AS VARCHAR) AS product_type
FROM staging.bitrix24_products AS p
LEFT JOIN unit_by_code AS u ON u.okei_code = p.measure_code
