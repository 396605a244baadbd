-- description: ApiPay.kz's own product catalog (GET /catalog, every status), one row per live record: name, selling price (KZT), ApiPay unit, status, barcodes.
-- key: catalog_item_id
-- columns:
--   catalog_item_id  VARCHAR                   id in GET /catalog (an invoice item's catalog_item_id)
--   kaspi_item_id    VARCHAR                   Kaspi's id of the item
--   name             VARCHAR                   as written
--   unit_id          VARCHAR                   ApiPay unit id (staging.apipay_units)
--   unit_name        VARCHAR                   ApiPay unit name
--   selling_price    DECIMAL(18,2)             selling price, KZT
--   currency         VARCHAR                   always KZT
--   status           VARCHAR                   active, pending, deleting, deleted, failed
--   barcode          VARCHAR                   barcode as written
--   ntin             VARCHAR                   national trade item number
--   gtin             VARCHAR                   global trade item number
--   external_ref     VARCHAR                   our own reference for the item
--   created_at       TIMESTAMP WITH TIME ZONE  UTC
--   synced_at        TIMESTAMP WITH TIME ZONE  UTC, when ApiPay last synchronised it with Kaspi
--   _parse_errors    VARCHAR[]                 fields present in the raw payload but unparsable (their typed value is NULL)
--
-- Shape: openapi.yaml 2.1 (bazarbaykz/apipay-docs) schema `CatalogItem`: `selling_price` is a
-- JSON number (parsed from its text, never through a float); dates UTC "+00:00".
WITH src AS (
    SELECT id, payload AS p FROM raw.apipay_catalog_items WHERE deleted_at IS NULL
)
SELECT
    src.id AS catalog_item_id,
    NULLIF(p ->> 'kaspi_item_id', '') AS kaspi_item_id,
    NULLIF(trim(p ->> 'name'), '') AS name,
    NULLIF(p ->> 'unit_id', '') AS unit_id,
    u.name AS unit_name,
    money_or_null(p ->> 'selling_price') AS selling_price,
    'KZT' AS currency,
    p ->> 'status' AS status,
    NULLIF(trim(p ->> 'barcode'), '') AS barcode,
    NULLIF(trim(p ->> 'ntin'), '') AS ntin,
    NULLIF(trim(p ->> 'gtin'), '') AS gtin,
    NULLIF(trim(p ->> 'external_ref'), '') AS external_ref,
    TRY_CAST(p ->> 'created_at' AS TIMESTAMPTZ) AS created_at,
    TRY_CAST(p ->> 'synced_at' AS TIMESTAMPTZ) AS synced_at,
    list_filter([
        CASE WHEN parse_failed(p ->> 'selling_price', money_or_null(p ->> 'selling_price'))
            THEN 'selling_price' END,
        CASE WHEN parse_failed(p ->> 'created_at', TRY_CAST(p ->> 'created_at' AS TIMESTAMPTZ))
            THEN 'created_at' END
    ], lambda x: x IS NOT NULL) AS _parse_errors
FROM src
LEFT JOIN staging.apipay_units AS u ON u.unit_id = p ->> 'unit_id'
