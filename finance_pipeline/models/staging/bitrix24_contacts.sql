-- description: Bitrix24 CRM contacts (crm.contact.list), one row per live contact: the people invoices are issued to when there is no company.
-- columns: contact_id VARCHAR | name VARCHAR full name, last name first ("Иванов Пётр Сергеевич") | last_name VARCHAR | first_name VARCHAR | second_name VARCHAR patronymic | company_id VARCHAR the company the person works for (NULL when none) | phones VARCHAR[] as written | phones_normalized VARCHAR[] 7XXXXXXXXXX | emails VARCHAR[] | created_at TIMESTAMPTZ UTC | updated_at TIMESTAMPTZ UTC | _parse_errors VARCHAR[]
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
