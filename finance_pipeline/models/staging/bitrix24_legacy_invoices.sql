-- description: Bitrix24 legacy invoices (the old invoice module, entity type 5; crm.invoice.get), one row per live invoice: the portal's pre-2021 history.
-- key: invoice_id
-- columns:
--   invoice_id         VARCHAR                   Bitrix id (own sequence, unrelated to smart invoices)
--   account_number     VARCHAR                   as printed
--   title              VARCHAR                   ORDER_TOPIC
--   status_id          VARCHAR                   INVOICE_STATUS code (N, S, P, D, custom letters)
--   is_paid            BOOLEAN                   PAYED = Y
--   company_id         VARCHAR                   payer company (NULL when none)
--   contact_id         VARCHAR                   payer person (NULL when none)
--   amount             DECIMAL(18,2)             PRICE incl. VAT
--   tax_amount         DECIMAL(18,2)             VAT included in the amount
--   currency           VARCHAR                   ISO code
--   created_at         TIMESTAMP WITH TIME ZONE  UTC
--   updated_at         TIMESTAMP WITH TIME ZONE  when last changed (UTC)
--   status_changed_at  TIMESTAMP WITH TIME ZONE  last status change (UTC)
--   paid_at            TIMESTAMP WITH TIME ZONE  when paid (UTC)
--   bill_date          DATE                      invoice date
--   pay_before         DATE                      payment due
--   deal_id            VARCHAR                   deal the invoice belongs to
--   comments           VARCHAR                   comment on the invoice
--   _parse_errors      VARCHAR[]                 fields present in the raw payload but unparsable (their typed value is NULL)
--
-- crm-invoice-list.md / crm-invoice-fields.md (b24restdocs, deprecated methods): UPPERCASE
-- fields, values as strings. The currency field is CURRENCY (the docs' own example selects
-- CURRENCY_ID; both are read). The payer is UF_COMPANY_ID ("Specified if the payer is a Legal
-- entity") or else UF_CONTACT_ID ("Natural person"); 0 means none. DATE_BILL and
-- DATE_PAY_BEFORE are dates; their calendar day is the first ten characters, as written.
WITH src AS (
    SELECT id, payload AS p FROM raw.bitrix24_legacy_invoices WHERE deleted_at IS NULL
)
SELECT
    id AS invoice_id,
    p ->> 'ACCOUNT_NUMBER' AS account_number,
    p ->> 'ORDER_TOPIC' AS title,
    p ->> 'STATUS_ID' AS status_id,
    (p ->> 'PAYED') = 'Y' AS is_paid,
    NULLIF(NULLIF(p ->> 'UF_COMPANY_ID', ''), '0') AS company_id,
    NULLIF(NULLIF(p ->> 'UF_CONTACT_ID', ''), '0') AS contact_id,
    money_or_null(p ->> 'PRICE') AS amount,
    money_or_null(p ->> 'TAX_VALUE') AS tax_amount,
    upper(NULLIF(trim(coalesce(p ->> 'CURRENCY', p ->> 'CURRENCY_ID')), '')) AS currency,
    TRY_CAST(p ->> 'DATE_INSERT' AS TIMESTAMPTZ) AS created_at,
    TRY_CAST(p ->> 'DATE_UPDATE' AS TIMESTAMPTZ) AS updated_at,
    TRY_CAST(p ->> 'DATE_STATUS' AS TIMESTAMPTZ) AS status_changed_at,
    TRY_CAST(coalesce(NULLIF(p ->> 'DATE_PAYED', ''), NULLIF(p ->> 'PAY_VOUCHER_DATE', ''))
        AS TIMESTAMPTZ) AS paid_at,
    TRY_CAST(left(p ->> 'DATE_BILL', 10) AS DATE) AS bill_date,
    TRY_CAST(left(p ->> 'DATE_PAY_BEFORE', 10) AS DATE) AS pay_before,
    NULLIF(NULLIF(p ->> 'UF_DEAL_ID', ''), '0') AS deal_id,
    p ->> 'COMMENTS' AS comments,
    list_filter([
        CASE WHEN parse_failed(p ->> 'PRICE', money_or_null(p ->> 'PRICE')) THEN 'PRICE' END,
        CASE WHEN parse_failed(p ->> 'TAX_VALUE', money_or_null(p ->> 'TAX_VALUE'))
            THEN 'TAX_VALUE' END,
        CASE WHEN parse_failed(p ->> 'DATE_INSERT', TRY_CAST(p ->> 'DATE_INSERT' AS TIMESTAMPTZ))
            THEN 'DATE_INSERT' END
    ], lambda x: x IS NOT NULL) AS _parse_errors
FROM src
