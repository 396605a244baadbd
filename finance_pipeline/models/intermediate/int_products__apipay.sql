-- description: ApiPay nomenclature entries as product records for marts.product_sources: one row per NomenclatureId seen in an invoice's cart, with the name, price and unit of its latest invoice.
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
-- ApiPay has no catalog endpoint in the pipeline: its nomenclature entries are read from the
-- CATALOGUE cart items of the invoices (NomenclatureId; name and price of the latest invoice).
-- Free-text cart lines (FAST_SALE, no NomenclatureId) are no products. Prices are in tenge.
SELECT
    'apipay' AS source,
    'nomenclature' AS source_entity,
    it.nomenclature_id AS source_id,
    CAST(NULL AS VARCHAR) AS sku,
    arg_max(it.name, i.created_at) AS name,
    arg_max(it.unit_id, i.created_at) AS unit_id,
    arg_max(it.price, i.created_at) AS list_price,
    'KZT' AS currency,
    CAST(NULL AS INTEGER) AS vat_rate,
    CAST(NULL AS VARCHAR) AS product_type
FROM (
    SELECT invoice_id, created_at, unnest(cart_items) AS it FROM staging.apipay_invoices
) AS i
WHERE it.nomenclature_id IS NOT NULL
GROUP BY it.nomenclature_id
