-- description: Bitrix24 CRM requisites (crm.requisite.list), one row per live requisite: the legal name and registration numbers (ИНН, КПП, ОГРН) of a company.
-- key: requisite_id
-- columns:
--   requisite_id       VARCHAR                   requisite id in its system
--   entity_type_id     VARCHAR                   4 = company
--   entity_id          VARCHAR                   id of the company (or contact) the requisite belongs to
--   company_id         VARCHAR                   owner company when entity_type_id = 4
--   preset_id          VARCHAR                   1 organisation, 2 sole trader
--   requisite_title    VARCHAR                   requisite's title
--   rq_name            VARCHAR                   sole trader's full name (RQ_NAME)
--   company_name       VARCHAR                   short legal name
--   company_full_name  VARCHAR                   full legal name (RQ_COMPANY_FULL_NAME)
--   last_name          VARCHAR                   sole trader's surname
--   first_name         VARCHAR                   sole trader's first name
--   second_name        VARCHAR                   sole trader's patronymic
--   inn                VARCHAR                   as written
--   inn_valid          BOOLEAN                   check digits right
--   kpp                VARCHAR                   КПП (Russia)
--   ogrn               VARCHAR                   ОГРН or ОГРНИП
--   is_active          BOOLEAN                   active in its system
--   created_at         TIMESTAMP WITH TIME ZONE  when created (UTC)
--   updated_at         TIMESTAMP WITH TIME ZONE  when last changed (UTC)
--   _parse_errors      VARCHAR[]                 fields present in the raw payload but unparsable (their typed value is NULL)
--
-- Timestamps carry the portal's +03:00 offset (Moscow) and are stored as UTC instants.
-- DATE_MODIFY stays empty until the first edit.
WITH src AS (
    SELECT id, payload AS p FROM raw.bitrix24_requisites WHERE deleted_at IS NULL
)
SELECT
    id AS requisite_id,
    p ->> 'ENTITY_TYPE_ID' AS entity_type_id,
    p ->> 'ENTITY_ID' AS entity_id,
    CASE WHEN p ->> 'ENTITY_TYPE_ID' = '4' THEN p ->> 'ENTITY_ID' END AS company_id,
    p ->> 'PRESET_ID' AS preset_id,
    p ->> 'NAME' AS requisite_title,
    p ->> 'RQ_NAME' AS rq_name,
    p ->> 'RQ_COMPANY_NAME' AS company_name,
    p ->> 'RQ_COMPANY_FULL_NAME' AS company_full_name,
    p ->> 'RQ_LAST_NAME' AS last_name,
    p ->> 'RQ_FIRST_NAME' AS first_name,
    p ->> 'RQ_SECOND_NAME' AS second_name,
    NULLIF(trim(p ->> 'RQ_INN'), '') AS inn,
    valid_tax_id(p ->> 'RQ_INN') AS inn_valid,
    NULLIF(trim(p ->> 'RQ_KPP'), '') AS kpp,
    NULLIF(trim(coalesce(p ->> 'RQ_OGRN', p ->> 'RQ_OGRNIP')), '') AS ogrn,
    (p ->> 'ACTIVE') IS DISTINCT FROM 'N' AS is_active,
    TRY_CAST(p ->> 'DATE_CREATE' AS TIMESTAMPTZ) AS created_at,
    TRY_CAST(p ->> 'DATE_MODIFY' AS TIMESTAMPTZ) AS updated_at,
    list_filter([
        CASE WHEN parse_failed(p ->> 'DATE_CREATE', TRY_CAST(p ->> 'DATE_CREATE' AS TIMESTAMPTZ))
            THEN 'DATE_CREATE' END,
        CASE WHEN parse_failed(p ->> 'DATE_MODIFY', TRY_CAST(p ->> 'DATE_MODIFY' AS TIMESTAMPTZ))
            THEN 'DATE_MODIFY' END
    ], lambda x: x IS NOT NULL) AS _parse_errors
FROM src
