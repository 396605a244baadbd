-- description: Adesk contractors (контрагенты, GET /v1/contractors), one row per live contractor: name, contact, phone.
-- key: contractor_id
-- columns:
--   contractor_id   VARCHAR        Adesk contractor id
--   name            VARCHAR        as typed or imported from a bank statement
--   contact_person  VARCHAR        contact person's name
--   phone_number    VARCHAR        as written
--   phone           VARCHAR        normalised 7XXXXXXXXXX
--   email           VARCHAR        e-mail address as written
--   balance         DECIMAL(18,2)  commitments balance
--   _parse_errors   VARCHAR[]      fields present in the raw payload but unparsable (their typed value is NULL)
--
-- The contractor's tax id lives in its requisites (staging.adesk_contractor_requisites).
-- `balance` is a JSON number (or a string after an API change), parsed from its text.
WITH src AS (
    SELECT id, payload AS p FROM raw.adesk_contractors WHERE deleted_at IS NULL
)
SELECT
    id AS contractor_id,
    p ->> 'name' AS name,
    NULLIF(trim(p ->> 'contactPerson'), '') AS contact_person,
    NULLIF(trim(p ->> 'phoneNumber'), '') AS phone_number,
    norm_phone(p ->> 'phoneNumber') AS phone,
    NULLIF(trim(p ->> 'email'), '') AS email,
    money_or_null(p ->> 'balance') AS balance,
    list_filter([
        CASE WHEN parse_failed(p ->> 'balance', money_or_null(p ->> 'balance')) THEN 'balance' END
    ], lambda x: x IS NOT NULL) AS _parse_errors
FROM src
