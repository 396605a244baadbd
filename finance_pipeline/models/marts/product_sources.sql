-- description: Every catalog record (Bitrix24 catalog product, Adesk warehouse product, ApiPay catalog item) mapped to exactly one product of marts.products, with the rule that matched it (sku, name or none).
-- columns: source VARCHAR bitrix24/adesk/apipay | source_entity VARCHAR product/nomenclature | source_id VARCHAR the record's id in its system | record_key VARCHAR source:entity:id | product_key VARCHAR marts.products key | matched_by VARCHAR sku, name or none | sku VARCHAR article as written | sku_key VARCHAR normalised SKU | name VARCHAR as written | name_key VARCHAR normalised name | unit_id VARCHAR Adesk unit id (Bitrix24: by ОКЕИ code; ApiPay: by unit name) | list_price DECIMAL price per unit in the record's currency (Bitrix catalog price, ApiPay catalog selling price, else latest cart price; NULL for Adesk) | currency VARCHAR | vat_rate INTEGER | product_type VARCHAR product/service
--
-- Matching, in this order:
--   1. sku: records whose normalised SKU (norm_sku: case, Cyrillic look-alike letters, hyphens
--      and spaces folded: 'KO-123456' = 'КО123456') is the same are one product.
--   2. name: a record without a SKU joins the SKU product whose records carry its normalised
--      name (norm_product_name: case, ё, runs of spaces) when exactly one does; records without a
--      SKU that match no SKU product group by name.
--   Otherwise the record is a product of its own (matched_by = none).
-- matched_by says how the record met the other records of its product: 'sku' (same SKU),
-- 'name' (placed by its name), 'none' when it is the product's only record.
-- ApiPay: its own catalog (staging.apipay_catalog_items, GET /catalog), plus any catalog item
-- an invoice names that the catalog no longer lists (name and price of the latest invoice).
-- ApiPay unit ids are ApiPay's own (staging.apipay_units): they are never joined to Adesk's;
-- an ApiPay unit meets an Adesk unit only by the same name ("штука" = "Штука").
-- Free-text lines (Bitrix product id 0, ApiPay FAST_SALE) are no products.
-- product_key: 'sku:<sku key>', 'name:<name key>' or 'record:<source>:<entity>:<id>'.
WITH
unit_by_code AS (
    SELECT okei_code, min(unit_id) AS unit_id FROM staging.adesk_units GROUP BY okei_code
),
apipay_unit_adesk AS (
    SELECT u.unit_id AS apipay_unit_id, min(a.unit_id) AS unit_id
    FROM staging.apipay_units AS u
    JOIN staging.adesk_units AS a ON lower(trim(a.name)) = lower(u.name)
    GROUP BY u.unit_id
),
apipay_cart_only AS (
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
apipay_nomenclature AS (
    SELECT
        c.catalog_item_id AS nomenclature_id, c.name, c.selling_price AS price, m.unit_id
    FROM staging.apipay_catalog_items AS c
    LEFT JOIN apipay_unit_adesk AS m ON m.apipay_unit_id = c.unit_id
    UNION ALL
    SELECT c.catalog_item_id, c.name, c.price, m.unit_id
    FROM apipay_cart_only AS c
    LEFT JOIN apipay_unit_adesk AS m ON m.apipay_unit_id = c.unit_id
),
records AS (
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
    UNION ALL
    SELECT
        'adesk', 'product', product_id, sku, name, unit_id, NULL, currency, NULL, product_type
    FROM staging.adesk_products
    UNION ALL
    SELECT
        'apipay', 'nomenclature', nomenclature_id, NULL, name, unit_id, price, 'KZT', NULL, NULL
    FROM apipay_nomenclature
),
rec AS (
    SELECT
        source || ':' || source_entity || ':' || source_id AS record_key,
        *,
        norm_sku(sku) AS sku_key,
        norm_product_name(name) AS name_key
    FROM records
),
with_sku AS (
    SELECT record_key, 'sku:' || sku_key AS product_key FROM rec WHERE sku_key IS NOT NULL
),
name_candidates AS (
    SELECT DISTINCT r.record_key, s.product_key
    FROM rec AS r
    JOIN rec AS o ON o.name_key = r.name_key AND o.sku_key IS NOT NULL
    JOIN with_sku AS s ON s.record_key = o.record_key
    WHERE r.sku_key IS NULL AND r.name_key IS NOT NULL
),
name_decision AS (
    SELECT record_key, count(*) AS n, min(product_key) AS product_key
    FROM name_candidates
    GROUP BY record_key
),
placed AS (
    SELECT record_key, product_key, 'sku' AS matched_by FROM with_sku
    UNION ALL
    SELECT record_key, product_key, 'name' FROM name_decision WHERE n = 1
),
leftover AS (
    SELECT
        r.record_key,
        CASE
            WHEN r.name_key IS NOT NULL AND d.record_key IS NULL THEN 'name:' || r.name_key
            ELSE 'record:' || r.record_key
        END AS product_key
    FROM rec AS r
    LEFT JOIN name_decision AS d ON d.record_key = r.record_key
    WHERE r.record_key NOT IN (SELECT record_key FROM placed)
),
leftover_size AS (
    SELECT product_key, count(*) AS records FROM leftover GROUP BY product_key
),
resolved AS (
    SELECT * FROM placed
    UNION ALL
    SELECT
        l.record_key,
        l.product_key,
        CASE WHEN s.records > 1 THEN 'name' ELSE 'none' END
    FROM leftover AS l
    JOIN leftover_size AS s ON s.product_key = l.product_key
),
-- A product of one record: that record met nobody, whatever key formed it.
product_size AS (
    SELECT product_key, count(*) AS records FROM resolved GROUP BY product_key
)
SELECT
    r.source,
    r.source_entity,
    r.source_id,
    r.record_key,
    s.product_key,
    CASE WHEN z.records = 1 THEN 'none' ELSE s.matched_by END AS matched_by,
    r.sku,
    r.sku_key,
    r.name,
    r.name_key,
    r.unit_id,
    r.list_price,
    r.currency,
    r.vat_rate,
    r.product_type
FROM rec AS r
JOIN resolved AS s ON s.record_key = r.record_key
JOIN product_size AS z ON z.product_key = s.product_key
