-- description: Bitrix24 catalog products (catalog.product.list with catalog.price.list base prices, or crm.product.list on older portals), one row per live product: name, article (SKU), price, VAT, unit.
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
-- Two read shapes land in raw.bitrix24_products: catalog.product.list (camelCase: name, xmlId,
-- vatId, measure, iblockId, dateCreate, timestampX; no price — the base price is in
-- raw.bitrix24_product_prices, catalog.price.list) and the deprecated crm.product.list of older
-- portals (UPPER_CASE, PRICE and CURRENCY_ID included). Both are read here.
WITH raw_src AS (
    SELECT id, payload AS p FROM raw.bitrix24_products WHERE deleted_at IS NULL
),
src AS (
    SELECT
        id,
        p,
        coalesce(p ->> 'NAME', p ->> 'name') AS name,
        coalesce(p ->> 'XML_ID', p ->> 'xmlId') AS xml_id,
        coalesce(p ->> 'VAT_ID', p ->> 'vatId') AS vat_id,
        coalesce(p ->> 'VAT_INCLUDED', p ->> 'vatIncluded') AS vat_included,
        coalesce(p ->> 'MEASURE', p ->> 'measure') AS measure_id,
        coalesce(p ->> 'CATALOG_ID', p ->> 'iblockId') AS catalog_id,
        coalesce(p ->> 'ACTIVE', p ->> 'active') AS active,
        coalesce(p ->> 'DATE_CREATE', p ->> 'dateCreate') AS date_create,
        coalesce(p ->> 'TIMESTAMP_X', p ->> 'timestampX') AS timestamp_x
    FROM raw_src
),
base_price AS (
    SELECT
        payload ->> 'productId' AS product_id,
        arg_max(payload ->> 'price', id) AS price,
        arg_max(payload ->> 'currency', id) AS currency
    FROM raw.bitrix24_product_prices
    WHERE deleted_at IS NULL
    GROUP BY 1
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
    src.name,
    CASE WHEN NULLIF(trim(src.xml_id), '') <> src.id THEN trim(src.xml_id) END AS sku,
    src.xml_id,
    money_or_null(coalesce(p ->> 'PRICE', bp.price)) AS price,
    upper(NULLIF(trim(coalesce(p ->> 'CURRENCY_ID', bp.currency)), '')) AS currency,
    src.vat_id,
    CAST(vat.vat_rate AS INTEGER) AS vat_rate,
    src.vat_included = 'Y' AS vat_included,
    src.measure_id,
    measure.measure_code,
    src.catalog_id,
    src.active IS DISTINCT FROM 'N' AS is_active,
    TRY_CAST(src.date_create AS TIMESTAMPTZ) AS created_at,
    TRY_CAST(src.timestamp_x AS TIMESTAMPTZ) AS updated_at,
    list_filter([
        CASE WHEN parse_failed(coalesce(p ->> 'PRICE', bp.price),
            money_or_null(coalesce(p ->> 'PRICE', bp.price))) THEN 'PRICE' END,
        CASE WHEN parse_failed(src.date_create, TRY_CAST(src.date_create AS TIMESTAMPTZ))
            THEN 'DATE_CREATE' END,
        CASE WHEN parse_failed(src.timestamp_x, TRY_CAST(src.timestamp_x AS TIMESTAMPTZ))
            THEN 'TIMESTAMP_X' END
    ], lambda x: x IS NOT NULL) AS _parse_errors
FROM src
LEFT JOIN base_price AS bp ON bp.product_id = src.id
LEFT JOIN vat ON vat.vat_id = src.vat_id
LEFT JOIN measure ON measure.measure_id = src.measure_id
