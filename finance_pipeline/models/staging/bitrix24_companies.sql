-- description: Bitrix24 CRM companies (crm.company.list), one row per live company: title, type, phones and e-mails as lists.
-- key: company_id
-- columns:
--   company_id         VARCHAR                   Bitrix24 company id
--   title              VARCHAR                   company name as the manager typed it
--   company_type       VARCHAR                   CUSTOMER/SUPPLIER/...
--   phones             VARCHAR[]                 as written
--   phones_normalized  VARCHAR[]                 7XXXXXXXXXX
--   emails             VARCHAR[]                 every e-mail of the company
--   assigned_by_id     VARCHAR                   Bitrix24 user responsible for it
--   created_at         TIMESTAMP WITH TIME ZONE  UTC
--   updated_at         TIMESTAMP WITH TIME ZONE  UTC
--   _parse_errors      VARCHAR[]                 fields present in the raw payload but unparsable (their typed value is NULL)
--
-- Classic Bitrix24 methods send UPPERCASE fields with every value as a string and timestamps
-- with the portal's offset (+03:00, Moscow), stored here as UTC instants. PHONE and EMAIL are
-- multi-fields: arrays of {VALUE, VALUE_TYPE}.
WITH src AS (
    SELECT id, payload AS p FROM raw.bitrix24_companies WHERE deleted_at IS NULL
)
SELECT
    id AS company_id,
    p ->> 'TITLE' AS title,
    p ->> 'COMPANY_TYPE' AS company_type,
    coalesce(json_extract_string(p, '$.PHONE[*].VALUE'), []) AS phones,
    list_filter(
        list_transform(coalesce(json_extract_string(p, '$.PHONE[*].VALUE'), []),
            lambda x: norm_phone(x)),
        lambda x: x IS NOT NULL) AS phones_normalized,
    coalesce(json_extract_string(p, '$.EMAIL[*].VALUE'), []) AS emails,
    p ->> 'ASSIGNED_BY_ID' AS assigned_by_id,
    TRY_CAST(p ->> 'DATE_CREATE' AS TIMESTAMPTZ) AS created_at,
    TRY_CAST(p ->> 'DATE_MODIFY' AS TIMESTAMPTZ) AS updated_at,
    list_filter([
        CASE WHEN parse_failed(p ->> 'DATE_CREATE', TRY_CAST(p ->> 'DATE_CREATE' AS TIMESTAMPTZ))
            THEN 'DATE_CREATE' END,
        CASE WHEN parse_failed(p ->> 'DATE_MODIFY', TRY_CAST(p ->> 'DATE_MODIFY' AS TIMESTAMPTZ))
            THEN 'DATE_MODIFY' END
    ], lambda x: x IS NOT NULL) AS _parse_errors
FROM src
