-- description: Our own legal entities in Adesk (юридические лица), one row per live entity: names, tax id (Russian ИНН or Kazakh БИН, Adesk keeps both in `inn`), КПП, registration number (ОГРН / БИН), address, phone.
-- key: legal_entity_id
-- columns:
--   legal_entity_id      VARCHAR    Adesk id
--   name                 VARCHAR    short name
--   full_name            VARCHAR    full legal name
--   tax_id               VARCHAR    ИНН / БИН (check digits valid, else NULL and listed in _parse_errors)
--   kpp                  VARCHAR    КПП (Russia)
--   registration_number  VARCHAR    ОГРН / БИН
--   address              VARCHAR    postal address as written
--   phone_raw            VARCHAR    phone as Adesk stores it (not normalised)
--   phone                VARCHAR    normalised 7XXXXXXXXXX (norm_phone)
--   country              VARCHAR    RU or KZ, from the currency of its accounts
--   _parse_errors        VARCHAR[]  fields present but unparsable
WITH accounts AS (
    SELECT
        payload ->> '$.legalEntity.id' AS legal_entity_id,
        min(money_currency(payload ->> '$.currency')) AS currency
    FROM raw.adesk_bank_accounts
    WHERE deleted_at IS NULL
    GROUP BY 1
)
SELECT
    le.id AS legal_entity_id,
    le.payload ->> '$.name' AS name,
    le.payload ->> '$.fullName' AS full_name,
    norm_tax_id(le.payload ->> '$.inn') AS tax_id,
    NULLIF(le.payload ->> '$.kpp', '') AS kpp,
    NULLIF(le.payload ->> '$.registrationNumber', '') AS registration_number,
    le.payload ->> '$.address' AS address,
    NULLIF(le.payload ->> '$.phoneNumber', '') AS phone_raw,
    norm_phone(le.payload ->> '$.phoneNumber') AS phone,
    CASE a.currency WHEN 'RUB' THEN 'RU' WHEN 'KZT' THEN 'KZ' END AS country,
    list_filter(
        [
            CASE WHEN parse_failed(le.payload ->> '$.inn', norm_tax_id(le.payload ->> '$.inn'))
                THEN 'inn' END,
            CASE WHEN parse_failed(
                le.payload ->> '$.phoneNumber', norm_phone(le.payload ->> '$.phoneNumber')
            )
                THEN 'phoneNumber' END
        ],
        lambda x: x IS NOT NULL
    ) AS _parse_errors
FROM raw.adesk_legal_entities AS le
LEFT JOIN accounts AS a ON a.legal_entity_id = le.id
WHERE le.deleted_at IS NULL
