-- description: Adesk units of measure (GET /v1/warehouse/units), one row per live unit, with the ОКЕИ code that Bitrix24 rows also carry.
-- key: unit_id
-- columns:
--   unit_id        VARCHAR    Adesk unit id
--   symbol         VARCHAR    "шт"
--   name           VARCHAR    "Штука"
--   okei_code      VARCHAR    ОКЕИ code "796"
--   is_fractional  BOOLEAN    quantities may be fractional
--   _parse_errors  VARCHAR[]  fields present in the raw payload but unparsable (their typed value is NULL)
WITH src AS (
    SELECT id, payload AS p FROM raw.adesk_units WHERE deleted_at IS NULL
)
SELECT
    id AS unit_id,
    p ->> 'symbol' AS symbol,
    p ->> 'name' AS name,
    NULLIF(trim(p ->> 'code'), '') AS okei_code,
    TRY_CAST(p ->> 'fractional' AS BOOLEAN) AS is_fractional,
    list_filter([
        CASE WHEN parse_failed(p ->> 'fractional', TRY_CAST(p ->> 'fractional' AS BOOLEAN))
            THEN 'fractional' END
    ], lambda x: x IS NOT NULL) AS _parse_errors
FROM src
