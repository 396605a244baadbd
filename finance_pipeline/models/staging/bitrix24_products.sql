-- description: Bitrix24 catalog products (crm.product.list), one row per live product: name, article (SKU), price, VAT, unit.
-- key: product_id
-- columns:
--   product_id     VARCHAR                   Bitrix24 catalog product id
--   name           VARCHAR                   product name as written
--   sku            VARCHAR                   article (XML_ID when the manager filled it)
--   xml_id         VARCHAR                   external (1C exchange) id
--   price          DECIMAL(18,2)             catalog price per unit
--   currency       VARCHAR                   ISO currency code (RUB, KZT)
--   vat_id         VARCHAR                   Bitrix24 VAT rate id
--   vat_rate       INTEGER                   percent (NULL = without VAT)
--   vat_included   BOOLEAN                   the price includes VAT
--   measure_id     VARCHAR                   Bitrix24 unit id
--   measure_code   VARCHAR                   ОКЕИ code
--   catalog_id     VARCHAR                   catalog the product belongs to
--   is_active      BOOLEAN                   active in its system
--   created_at     TIMESTAMP WITH TIME ZONE  UTC
--   updated_at     TIMESTAMP WITH TIME ZONE  when last changed (UTC)
--   _parse_errors  VARCHAR[]                 fields present in the raw payload but unparsable (their typed value is NULL)
--
-- The article: Bitrix keeps the external code in XML_ID and fills it with the product's own id
-- when nobody typed one, so XML_ID equal to the id is no SKU. VAT_ID and MEASURE are ids of the
-- portal's VAT rates and units; the mapping below is Bitrix24's default set (catalog.vat.list,
-- catalog.measure.list of a fresh portal). Timestamps +03:00 (Moscow), stored as UTC.
WITH src AS (
    SELECT id, payload AS p FROM raw.bitrix24_products WHERE deleted_at IS NULL
),
vat(vat_id, vat_rate) AS (
    VALUES ('1', NULL), ('2', 0), ('3', 10), ('4', 20)
),
measure(measure_id, measure_code) AS (
    VALUES ('1', '006'), ('3', '112'), ('5', '796'), ('7', '163'), ('9', '166'),
        ('11', '356'), ('13', '876'), ('15', '778')
)
SELECT
    src.id AS product_id,
    p ->> 'NAME' AS name,
    CASE WHEN NULLIF(trim(p ->> 'XML_ID'), '') <> src.id THEN trim(p ->> 'XML_ID') END AS sku,
    p ->> 'XML_ID' AS xml_id,
    money_or_null(p ->> 'PRICE') AS price,
    upper(NULLIF(trim(p ->> 'CURRENCY_ID'), '')) AS currency,
    p ->> 'VAT_ID' AS vat_id,
    CAST(vat.vat_rate AS INTEGER) AS vat_rate,
    (p ->> 'VAT_INCLUDED') = 'Y' AS vat_included,
    p ->> 'MEASURE' AS measure_id,
    measure.measure_code,
    p ->> 'CATALOG_ID' AS catalog_id,
    (p ->> 'ACTIVE') IS DISTINCT FROM 'N' AS is_active,
    TRY_CAST(p ->> 'DATE_CREATE' AS TIMESTAMPTZ) AS created_at,
    TRY_CAST(p ->> 'TIMESTAMP_X' AS TIMESTAMPTZ) AS updated_at,
    list_filter([
        CASE WHEN parse_failed(p ->> 'PRICE', money_or_null(p ->> 'PRICE')) THEN 'PRICE' END,
        CASE WHEN parse_failed(p ->> 'DATE_CREATE', TRY_CAST(p ->> 'DATE_CREATE' AS TIMESTAMPTZ))
            THEN 'DATE_CREATE' END,
        CASE WHEN parse_failed(p ->> 'TIMESTAMP_X', TRY_CAST(p ->> 'TIMESTAMP_X' AS TIMESTAMPTZ))
            THEN 'TIMESTAMP_X' END
    ], lambda x: x IS NOT NULL) AS _parse_errors
FROM src
LEFT JOIN vat ON vat.vat_id = src.p ->> 'VAT_ID'
LEFT JOIN measure ON measure.measure_id = src.p ->> 'MEASURE'
