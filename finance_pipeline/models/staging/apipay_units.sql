-- description: ApiPay.kz's own units of measure (GET /catalog/units), one row per live unit. Their ids are ApiPay's: never joined to Adesk or Bitrix24 units.
-- key: unit_id
-- columns:
--   unit_id        VARCHAR    ApiPay unit id
--   name           VARCHAR    Russian name ("штука")
--   name_kaz       VARCHAR    Kazakh name ("дана")
--   _parse_errors  VARCHAR[]  fields present in the raw payload but unparsable (here: a unit without a name)
--
-- Shape: openapi.yaml 2.1 (bazarbaykz/apipay-docs) `listCatalogUnits`: {"data": [{id, name,
-- name_kaz}]}.
SELECT
    id AS unit_id,
    NULLIF(trim(payload ->> 'name'), '') AS name,
    NULLIF(trim(payload ->> 'name_kaz'), '') AS name_kaz,
    CASE WHEN NULLIF(trim(payload ->> 'name'), '') IS NULL THEN ['name']
        ELSE CAST([] AS VARCHAR[]) END AS _parse_errors
FROM raw.apipay_units
WHERE deleted_at IS NULL
