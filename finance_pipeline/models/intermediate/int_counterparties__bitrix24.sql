-- description: Bitrix24 companies as counterparty records for marts.counterparty_sources, one row per company, with the tax id and names of its active requisites.
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
-- Names: the company title plus its active requisites' names (RQ_COMPANY_NAME, the full name,
-- and for a sole trader, preset 2, 'ИП ' + RQ_NAME). The tax id is the smallest normalised INN of
-- its active requisites (a company with two is flagged by conflicting_tax_ids).
WITH
requisite AS (
    SELECT
        company_id,
        min(norm_tax_id(inn)) AS tax_id,
        list(DISTINCT n ORDER BY n) FILTER (WHERE n IS NOT NULL) AS names
    FROM (
        SELECT
            company_id,
            inn,
            unnest([
                company_name,
                company_full_name,
                CASE WHEN preset_id = '2' AND rq_name IS NOT NULL THEN 'ИП ' || rq_name
                    ELSE rq_name END
            ]) AS n
        FROM staging.bitrix24_requisites
        WHERE company_id IS NOT NULL AND is_active
    )
    GROUP BY company_id
)
SELECT
    'bitrix24' AS source,
    'company' AS source_entity,
    c.company_id AS source_id,
    r.tax_id,
    c.title AS name,
    list_sort(list_distinct(list_concat([c.title], coalesce(r.names, [])))) AS names,
    list_sort(list_distinct(c.phones_normalized)) AS phones,
    c.emails[1] AS email
FROM staging.bitrix24_companies AS c
LEFT JOIN requisite AS r ON r.company_id = c.company_id
