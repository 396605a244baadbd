-- description: Bitrix24 CRM contacts (crm.contact.list), one row per live contact: the people invoices are issued to when there is no company.
-- key: contact_id
-- columns:
--   contact_id         VARCHAR                   Bitrix24 contact id
--   name               VARCHAR                   full name, last name first ("Иванов Пётр Сергеевич")
--   last_name          VARCHAR                   last name
--   first_name         VARCHAR                   first name
--   second_name        VARCHAR                   patronymic
--   company_id         VARCHAR                   the company the person works for (NULL when none)
--   phones             VARCHAR[]                 as written
--   phones_normalized  VARCHAR[]                 7XXXXXXXXXX
--   emails             VARCHAR[]                 e-mail addresses as written
--   created_at         TIMESTAMP WITH TIME ZONE  UTC
--   updated_at         TIMESTAMP WITH TIME ZONE  when last changed (UTC)
--   _parse_errors      VARCHAR[]                 fields present in the raw payload but unparsable (their typed value is NULL)
--
-- Classic method (crm-contact-list.md): UPPERCASE fields, every value a string, timestamps with
-- the portal's offset stored as UTC instants; PHONE and EMAIL are multi-fields like a company's.
WITH src AS (
    SELECT id, payload AS p FROM raw.bitrix24_contacts WHERE deleted_at IS NULL
)
SELECT
    id AS contact_id,
    NULLIF(trim(concat_ws(' ', NULLIF(trim(p ->> 'LAST_NAME'), ''),
        NULLIF(trim(p ->> 'NAME'), ''), NULLIF(trim(p ->> 'SECOND_NAME'), ''))), '') AS name,
    NULLIF(trim(p ->> 'LAST_NAME'), '') AS last_name,
    NULLIF(trim(p ->> 'NAME'), '') AS first_name,
    NULLIF(trim(p ->> 'SECOND_NAME'), '') AS second_name,
    NULLIF(NULLIF(p ->> 'COMPANY_ID', ''), '0') AS company_id,
    coalesce(json_extract_string(p, '$.PHONE[*].VALUE'), []) AS phones,
    list_filter(
        list_transform(coalesce(json_extract_string(p, '$.PHONE[*].VALUE'), []),
            lambda x: norm_phone(x)),
        lambda x: x IS NOT NULL) AS phones_normalized,
    coalesce(json_extract_string(p, '$.EMAIL[*].VALUE'), []) AS emails,
    TRY_CAST(p ->> 'DATE_CREATE' AS TIMESTAMPTZ) AS created_at,
    TRY_CAST(p ->> 'DATE_MODIFY' AS TIMESTAMPTZ) AS updated_at,
    list_filter([
        CASE WHEN parse_failed(p ->> 'DATE_CREATE', TRY_CAST(p ->> 'DATE_CREATE' AS TIMESTAMPTZ))
            THEN 'DATE_CREATE' END,
        CASE WHEN parse_failed(p ->> 'DATE_MODIFY', TRY_CAST(p ->> 'DATE_MODIFY' AS TIMESTAMPTZ))
            THEN 'DATE_MODIFY' END
    ], lambda x: x IS NOT NULL) AS _parse_errors
FROM src
