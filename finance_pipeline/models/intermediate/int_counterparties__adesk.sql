-- description: Adesk contractors as counterparty records for marts.counterparty_sources, one row per contractor, with the tax id, names, phones and e-mail of its requisites.
-- key: source_id
-- columns:
--   source         VARCHAR    bitrix24/adesk/salesman/apipay
--   source_entity  VARCHAR    company/contractor/client/payer
--   source_id      VARCHAR    the record's id in its system (ApiPay: the payer's phone, 7XXXXXXXXXX)
--   tax_id         VARCHAR    the record's valid ИНН/БИН/ИИН
--   name           VARCHAR    the record's name as written
--   names          VARCHAR[]  every name the record is known by (title, requisites' names), sorted
--   phones         VARCHAR[]  normalised
--   email          VARCHAR    e-mail address as written
--
-- The tax id is the smallest normalised INN/BIN of the contractor's requisites; names and phones
-- are the contractor's own plus every requisite's.
WITH
requisite AS (
    SELECT
        contractor_id,
        min(norm_tax_id(inn)) AS tax_id,
        list(DISTINCT name ORDER BY name) FILTER (WHERE name IS NOT NULL) AS names,
        list(DISTINCT phone ORDER BY phone) FILTER (WHERE phone IS NOT NULL) AS phones,
        min(email) AS email
    FROM staging.adesk_contractor_requisites
    GROUP BY contractor_id
)
SELECT
    'adesk' AS source,
    'contractor' AS source_entity,
    c.contractor_id AS source_id,
    r.tax_id,
    c.name,
    list_sort(list_distinct(list_concat([c.name], coalesce(r.names, [])))) AS names,
    list_sort(list_distinct(list_concat([c.phone], coalesce(r.phones, [])))) AS phones,
    coalesce(c.email, r.email) AS email
FROM staging.adesk_contractors AS c
LEFT JOIN requisite AS r ON r.contractor_id = c.contractor_id
