-- description: ApiPay payers as counterparty records for marts.counterparty_sources: one row per payer phone number (ApiPay knows a payer only by the Kaspi phone an invoice was sent to).
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
-- A payer has no name, tax id or e-mail in ApiPay: it is matched by its phone, or by a payment in
-- the ledger; left alone it is a counterparty known only by phone.
SELECT DISTINCT
    'apipay' AS source,
    'payer' AS source_entity,
    phone AS source_id,
    CAST(NULL AS VARCHAR) AS tax_id,
    CAST(NULL AS VARCHAR) AS name,
    CAST([] AS VARCHAR[]) AS names,
    [phone] AS phones,
    CAST(NULL AS VARCHAR) AS email
FROM staging.apipay_invoices
WHERE phone IS NOT NULL
