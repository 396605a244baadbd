-- description: SalesMan CRM clients (of the invoices) as counterparty records for marts.counterparty_sources, one row per client id, named as on their newest invoice.
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
-- SalesMan's invoice list names the client (id and name) but carries no tax id, phone or e-mail:
-- such a client is matched by its name or by a payment in the ledger.
SELECT
    'salesman' AS source,
    'client' AS source_entity,
    client_id AS source_id,
    CAST(NULL AS VARCHAR) AS tax_id,
    arg_max(client_name, created_at) AS name,
    [arg_max(client_name, created_at)] AS names,
    CAST([] AS VARCHAR[]) AS phones,
    CAST(NULL AS VARCHAR) AS email
FROM staging.salesman_invoices
WHERE client_id IS NOT NULL
GROUP BY client_id
