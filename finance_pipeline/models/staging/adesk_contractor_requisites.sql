-- description: Adesk contractor requisites (GET /v1/contractor/<id>/requisites), one row per live requisite: legal name, ИНН/БИН, КПП, bank account.
-- columns: requisite_id VARCHAR | contractor_id VARCHAR | name VARCHAR legal name | inn VARCHAR ИНН (RU) or БИН/ИИН (KZ) as written | inn_valid BOOLEAN check digits right | kpp VARCHAR | bank_account_number VARCHAR | bank_code VARCHAR БИК or BIC | bank_name VARCHAR | phone VARCHAR normalised | email VARCHAR | _parse_errors VARCHAR[]
--
-- Adesk has one `inn` field for the Russian ИНН and the Kazakh БИН/ИИН; both are validated by
-- their check digits (valid_tax_id). The owning contractor's id is added by the extraction
-- (`_contractor_id`: the requisites endpoint is per contractor).
WITH src AS (
    SELECT id, payload AS p FROM raw.adesk_contractor_requisites WHERE deleted_at IS NULL
)
SELECT
    id AS requisite_id,
    p ->> '_contractor_id' AS contractor_id,
    p ->> 'name' AS name,
    NULLIF(trim(p ->> 'inn'), '') AS inn,
    valid_tax_id(p ->> 'inn') AS inn_valid,
    NULLIF(trim(p ->> 'kpp'), '') AS kpp,
    NULLIF(trim(p ->> 'bankAccountNumber'), '') AS bank_account_number,
    NULLIF(trim(p ->> 'bankCode'), '') AS bank_code,
    NULLIF(trim(p ->> 'bankName'), '') AS bank_name,
    NULLIF(trim(p ->> 'correspondentAccount'), '') AS correspondent_account,
    NULLIF(trim(p ->> 'address'), '') AS address,
    NULLIF(trim(p ->> 'phoneNumber'), '') AS phone_number,
    norm_phone(p ->> 'phoneNumber') AS phone,
    NULLIF(trim(p ->> 'email'), '') AS email,
    NULLIF(trim(p ->> 'website'), '') AS website,
    CAST([] AS VARCHAR[]) AS _parse_errors
FROM src
