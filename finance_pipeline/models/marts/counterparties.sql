-- description: One row per real-world customer or supplier across Bitrix24, Adesk, SalesMan and ApiPay, resolved by tax id, then normalised legal name, then phone (see marts.counterparty_sources for every source record and the rule that placed it). No two rows share a tax id.
-- key: counterparty_key
-- columns:
--   counterparty_key  VARCHAR    tax:/name:/phone:/record: key
--   tax_id            VARCHAR    ИНН (RU) or БИН/ИИН (KZ), check digits verified
--   tax_id_kind       VARCHAR    ru_inn_organisation, ru_inn_person or kz_bin_iin
--   name              VARCHAR    display name, legal form abbreviated in front ('ООО «Дорос»')
--   display_name      VARCHAR    the name a person reads: name, or '+7… (payer known only by phone)' for a payer ApiPay knows only by phone
--   legal_name        VARCHAR    the best legal name as written
--   name_key          VARCHAR    normalised name
--   legal_form        VARCHAR    ООО, АО, ПАО, ИП, ТОО, ...
--   phone             VARCHAR    7XXXXXXXXXX
--   phones            VARCHAR[]  every known phone
--   email             VARCHAR    e-mail address as written
--   matched_by        VARCHAR    strongest rule tying its records: tax_id, name, phone, payment or none
--   source_records    BIGINT     source records merged into this row
--   in_bitrix24       BOOLEAN    has a Bitrix24 record
--   in_adesk          BOOLEAN    has an Adesk record
--   in_salesman       BOOLEAN    has a SalesMan record
--   in_apipay         BOOLEAN    has an ApiPay record
--
-- The name: the legal name from requisites (Bitrix24 RQ_COMPANY_NAME, Adesk requisite name) when
-- there is one, else the Adesk contractor name, the Bitrix24 title, the SalesMan client name;
-- a counterparty known only as an ApiPay payer is named by its phone. `name` shows it with the
-- legal form abbreviated and in front (short_legal_name), `legal_name` as written.
-- `display_name` is what a person reads (reports, examples, check samples): `name`, except that a
-- payer known only by a phone number says so ('+77476907400 (payer known only by phone)').
WITH s AS (
    SELECT
        cs.*,
        CASE cs.source WHEN 'bitrix24' THEN 1 WHEN 'adesk' THEN 2 WHEN 'salesman' THEN 3 ELSE 4 END
            AS source_rank
    FROM marts.counterparty_sources AS cs
),
legal_names AS (
    -- the requisites' legal names, first by source rank
    SELECT company_id AS source_id, 'bitrix24' AS source,
        coalesce(company_name,
            CASE WHEN preset_id = '2' AND rq_name IS NOT NULL THEN 'ИП ' || rq_name END) AS name
    FROM staging.bitrix24_requisites
    WHERE company_id IS NOT NULL AND is_active
    UNION ALL
    SELECT contractor_id, 'adesk', name FROM staging.adesk_contractor_requisites
),
named AS (
    SELECT s.*, l.legal_name
    FROM s
    LEFT JOIN (
        SELECT source, source_id, min(name) AS legal_name
        FROM legal_names
        WHERE name IS NOT NULL
        GROUP BY source, source_id
    ) AS l ON l.source = s.source AND l.source_id = s.source_id
),
phones AS (
    SELECT counterparty_key, list(DISTINCT p ORDER BY p) AS phones
    FROM (SELECT counterparty_key, unnest(phones) AS p FROM s)
    GROUP BY counterparty_key
),
resolved AS (
    SELECT
        n.counterparty_key,
        min(n.tax_id) AS tax_id,
        tax_id_kind(min(n.tax_id)) AS tax_id_kind,
        coalesce(
            arg_min(n.legal_name, (n.source_rank, n.source_id))
                FILTER (WHERE n.legal_name IS NOT NULL),
            arg_min(n.name, (CASE n.source WHEN 'adesk' THEN 1 WHEN 'bitrix24' THEN 2 ELSE 3 END,
                n.source_id)) FILTER (WHERE n.name IS NOT NULL),
            '+' || min(n.phones[1])
        ) AS name,
        coalesce(
            arg_min(legal_form_of(n.legal_name), (n.source_rank, n.source_id))
                FILTER (WHERE legal_form_of(n.legal_name) IS NOT NULL),
            arg_min(legal_form_of(n.name), (n.source_rank, n.source_id))
                FILTER (WHERE legal_form_of(n.name) IS NOT NULL)
        ) AS legal_form,
        arg_min(n.phones[1], (n.source_rank, n.source_id)) FILTER (WHERE len(n.phones) > 0)
            AS phone,
        coalesce(min(p.phones), []) AS phones,
        arg_min(n.email, (n.source_rank, n.source_id)) FILTER (WHERE n.email IS NOT NULL)
            AS email,
        CASE
            WHEN bool_or(n.matched_by = 'tax_id') THEN 'tax_id'
            WHEN bool_or(n.matched_by = 'name') THEN 'name'
            WHEN bool_or(n.matched_by = 'phone') THEN 'phone'
            WHEN bool_or(n.matched_by = 'payment') THEN 'payment'
            ELSE 'none'
        END AS matched_by,
        count(*) AS source_records,
        bool_or(n.source = 'bitrix24') AS in_bitrix24,
        bool_or(n.source = 'adesk') AS in_adesk,
        bool_or(n.source = 'salesman') AS in_salesman,
        bool_or(n.source = 'apipay') AS in_apipay
    FROM named AS n
    LEFT JOIN phones AS p ON p.counterparty_key = n.counterparty_key
    GROUP BY n.counterparty_key
)
SELECT
    counterparty_key,
    tax_id,
    tax_id_kind,
    coalesce(short_legal_name(name), name) AS name,
    CASE
        WHEN phone IS NOT NULL AND name = '+' || phone
            THEN '+' || phone || ' (payer known only by phone)'
        ELSE coalesce(short_legal_name(name), name)
    END AS display_name,
    name AS legal_name,
    norm_legal_name(name) AS name_key,
    legal_form,
    phone,
    phones,
    email,
    matched_by,
    source_records,
    in_bitrix24,
    in_adesk,
    in_salesman,
    in_apipay
FROM resolved
