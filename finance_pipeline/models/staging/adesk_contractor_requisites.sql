-- description: Adesk contractor requisites (GET /v1/contractor/<id>/requisites), one row per live requisite: legal name, ИНН/БИН, КПП, bank account.
-- key: requisite_id
-- columns:
--   requisite_id           VARCHAR    requisite id in its system
--   contractor_id          VARCHAR    Adesk contractor the requisite belongs to
--   name                   VARCHAR    legal name
--   inn                    VARCHAR    ИНН (RU) or БИН/ИИН (KZ) as written
--   inn_valid              BOOLEAN    check digits right
--   kpp                    VARCHAR    КПП (Russia)
--   bank_account_number    VARCHAR    settlement account number
--   bank_code              VARCHAR    БИК or BIC
--   bank_name              VARCHAR    bank's name
--   correspondent_account  VARCHAR    bank's correspondent account
--   address                VARCHAR    postal address as written
--   phone_number           VARCHAR    phone as written
--   phone                  VARCHAR    normalised
--   email                  VARCHAR    e-mail address as written
--   website                VARCHAR    website as written
--   _parse_errors          VARCHAR[]  fields present in the raw payload but unparsable (their typed value is NULL)
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
