-- description: One product catalog across Bitrix24 catalog products, Adesk warehouse products and ApiPay nomenclature, matched by SKU, then by normalised name (see marts.product_sources for every source record and the rule that placed it).
-- key: product_key
-- columns:
--   product_key              VARCHAR        sku:/name:/record: key
--   sku                      VARCHAR        article as written (Bitrix24, else Adesk)
--   sku_key                  VARCHAR        normalised SKU
--   name                     VARCHAR        (Adesk, else ApiPay, else Bitrix24 spelling)
--   product_type             VARCHAR        product/service (Adesk)
--   unit_id                  VARCHAR        Adesk unit id
--   unit                     VARCHAR        unit symbol
--   list_price               DECIMAL(18,2)  price per unit incl. VAT in `currency`
--   currency                 VARCHAR        ISO currency code (RUB, KZT)
--   vat_rate                 INTEGER        percent (Bitrix24; NULL when unknown)
--   source_records           BIGINT         source records merged into this row
--   in_bitrix24              BOOLEAN        has a Bitrix24 record
--   in_adesk                 BOOLEAN        has an Adesk record
--   in_apipay                BOOLEAN        has an ApiPay record
--   bitrix24_product_ids     VARCHAR[]      its Bitrix24 catalog product ids
--   adesk_product_ids        VARCHAR[]      its Adesk product ids
--   apipay_nomenclature_ids  VARCHAR[]      its ApiPay nomenclature ids
--
-- Names: Adesk and ApiPay keep the catalog's own spelling; Bitrix24 managers retype names (case,
-- double spaces), so it comes last. List price: Bitrix24's catalog price (RUB), else the latest
-- ApiPay cart price (KZT); Adesk only knows the purchase price of the initial batch.
WITH s AS (
    SELECT
        *,
        CASE source WHEN 'adesk' THEN 1 WHEN 'apipay' THEN 2 ELSE 3 END AS name_rank,
        CASE source WHEN 'bitrix24' THEN 1 WHEN 'adesk' THEN 2 ELSE 3 END AS sku_rank,
        CASE source WHEN 'bitrix24' THEN 1 WHEN 'apipay' THEN 2 ELSE 3 END AS price_rank
    FROM marts.product_sources
)
SELECT
    s.product_key,
    arg_min(s.sku, (s.sku_rank, s.source_id)) FILTER (WHERE s.sku IS NOT NULL) AS sku,
    min(s.sku_key) AS sku_key,
    arg_min(s.name, (s.name_rank, s.source_id)) FILTER (WHERE s.name IS NOT NULL) AS name,
    min(s.product_type) AS product_type,
    arg_min(s.unit_id, (s.name_rank, s.source_id)) FILTER (WHERE s.unit_id IS NOT NULL)
        AS unit_id,
    arg_min(u.symbol, (s.name_rank, s.source_id)) FILTER (WHERE u.symbol IS NOT NULL) AS unit,
    arg_min(s.list_price, (s.price_rank, s.source_id)) FILTER (WHERE s.list_price IS NOT NULL)
        AS list_price,
    arg_min(s.currency, (s.price_rank, s.source_id)) FILTER (WHERE s.currency IS NOT NULL)
        AS currency,
    max(s.vat_rate) AS vat_rate,
    count(*) AS source_records,
    bool_or(s.source = 'bitrix24') AS in_bitrix24,
    bool_or(s.source = 'adesk') AS in_adesk,
    bool_or(s.source = 'apipay') AS in_apipay,
    coalesce(list(s.source_id ORDER BY s.source_id) FILTER (WHERE s.source = 'bitrix24'), [])
        AS bitrix24_product_ids,
    coalesce(list(s.source_id ORDER BY s.source_id) FILTER (WHERE s.source = 'adesk'), [])
        AS adesk_product_ids,
    coalesce(list(s.source_id ORDER BY s.source_id) FILTER (WHERE s.source = 'apipay'), [])
        AS apipay_nomenclature_ids
FROM s
LEFT JOIN staging.adesk_units AS u ON u.unit_id = s.unit_id
GROUP BY s.product_key
