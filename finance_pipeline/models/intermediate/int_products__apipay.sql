-- description: ApiPay catalog items as product records for marts.product_sources: one row per item of ApiPay's own catalog (GET /catalog), plus one per catalog item an invoice names that the catalog no longer lists (name, price and unit of its latest invoice).
-- key: source_id
-- columns:
--   source         VARCHAR        bitrix24/adesk/apipay
--   source_entity  VARCHAR        product/nomenclature
--   source_id      VARCHAR        the record's id in its system (ApiPay catalog_item_id)
--   sku            VARCHAR        article as written (ApiPay has none)
--   name           VARCHAR        as written
--   unit_id        VARCHAR        Adesk unit id of the ApiPay unit's name (NULL: no Adesk unit of that name)
--   list_price     DECIMAL(18,2)  price per unit in tenge: the catalog's selling price, else the latest cart price
--   currency       VARCHAR        ISO currency code (KZT)
--   vat_rate       INTEGER        VAT rate in percent (NULL: ApiPay tells none)
--   product_type   VARCHAR        product/service (NULL: ApiPay tells none)
--
-- ApiPay: its own catalog (staging.apipay_catalog_items, GET /catalog), plus any catalog item
-- an invoice names that the catalog no longer lists (name and price of the latest invoice).
-- ApiPay unit ids are ApiPay's own (staging.apipay_units): they are never joined to Adesk's;
-- an ApiPay unit meets an Adesk unit only by the same name ("штука" = "Штука").
-- Free-text cart lines (no catalog_item_id, old FAST_SALE) are no products. Prices are in tenge.
WITH
unit_adesk AS (
    SELECT u.unit_id AS apipay_unit_id, min(a.unit_id) AS unit_id
    FROM staging.apipay_units AS u
    JOIN staging.adesk_units AS a ON lower(trim(a.name)) = lower(u.name)
    GROUP BY u.unit_id
),
cart_only AS (
    SELECT
        it.catalog_item_id,
        arg_max(it.name, i.created_at) AS name,
        arg_max(it.price, i.created_at) AS price,
        arg_max(it.unit_id, i.created_at) AS unit_id
    FROM (
        SELECT invoice_id, created_at, unnest(cart_items) AS it FROM staging.apipay_invoices
    ) AS i
    WHERE it.catalog_item_id IS NOT NULL
      AND it.catalog_item_id NOT IN (SELECT catalog_item_id FROM staging.apipay_catalog_items)
    GROUP BY it.catalog_item_id
),
items AS (
    SELECT c.catalog_item_id, c.name, c.selling_price AS price, c.unit_id
    FROM staging.apipay_catalog_items AS c
    UNION ALL
    SELECT catalog_item_id, name, price, unit_id FROM cart_only
)
SELECT
    'apipay' AS source,
    'nomenclature' AS source_entity,
    i.catalog_item_id AS source_id,
    CAST(NULL AS VARCHAR) AS sku,
    i.name,
    m.unit_id,
    i.price AS list_price,
    'KZT' AS currency,
    CAST(NULL AS INTEGER) AS vat_rate,
    CAST(NULL AS VARCHAR) AS product_type
FROM items AS i
LEFT JOIN unit_adesk AS m ON m.apipay_unit_id = i.unit_id
