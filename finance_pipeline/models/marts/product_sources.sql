-- description: Every catalog record (Bitrix24 catalog product, Adesk warehouse product, ApiPay catalog item) mapped to exactly one product of marts.products, with the rule that matched it (sku, name or none).
-- key: record_key
-- references: product_key -> marts.products.product_key
-- columns:
--   source         VARCHAR        bitrix24/adesk/apipay
--   source_entity  VARCHAR        product/nomenclature
--   source_id      VARCHAR        the record's id in its system
--   record_key     VARCHAR        source:entity:id
--   product_key    VARCHAR        marts.products key
--   matched_by     VARCHAR        sku, name or none
--   sku            VARCHAR        article as written
--   sku_key        VARCHAR        normalised SKU
--   name           VARCHAR        as written
--   name_key       VARCHAR        normalised name
--   unit_id        VARCHAR        Adesk unit id (Bitrix24: by ОКЕИ code; ApiPay: by unit name)
--   list_price     DECIMAL(18,2)  price per unit in the record's currency (Bitrix catalog price, ApiPay catalog selling price, else latest cart price; NULL for Adesk)
--   currency       VARCHAR        ISO currency code (RUB, KZT)
--   vat_rate       INTEGER        VAT rate in percent (NULL: unknown or without VAT)
--   product_type   VARCHAR        product/service
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
-- The records come from intermediate.int_products__<source> (one file per catalog, with its
-- rules: Bitrix24 units by OKEI code; ApiPay's own catalog (GET /catalog) plus any catalog item
-- an invoice names that the catalog no longer lists, its units met with Adesk's by name).
-- Free-text lines (Bitrix product id 0, ApiPay FAST_SALE) are no products.
-- product_key: 'sku:<sku key>', 'name:<name key>' or 'record:<source>:<entity>:<id>'.
WITH
records AS (
    SELECT * FROM intermediate.int_products__bitrix24
    UNION ALL BY NAME
    SELECT * FROM intermediate.int_products__adesk
    UNION ALL BY NAME
    SELECT * FROM intermediate.int_products__apipay
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
