-- description: Bitrix24 smart invoices (crm.item.list, entityTypeId 31), one row per live invoice, typed: money DECIMAL, stage kept as Bitrix writes it.
-- key: invoice_id
-- columns:
--   invoice_id        VARCHAR                   Bitrix id
--   account_number    VARCHAR                   invoice number as printed ("С-00123", Cyrillic С)
--   title             VARCHAR                   invoice title as typed
--   company_id        VARCHAR                   client company (NULL when none)
--   contact_id        VARCHAR                   Bitrix24 contact (person) the invoice is for
--   stage_id          VARCHAR                   Bitrix stage of the invoice's funnel (DT31_<category>:<code>, custom UC_…)
--   stage_semantics   VARCHAR                   P in progress / S success / F failure, as the portal reports it (stageSemanticId)
--   category_id       VARCHAR                   smart-invoice funnel (category) id
--   amount            DECIMAL(18,2)             opportunity incl. VAT
--   tax_amount        DECIMAL(18,2)             tax (VAT) included in the amount
--   currency          VARCHAR                   ISO code
--   is_manual_amount  BOOLEAN                   amount typed by hand (not the sum of product rows)
--   created_at        TIMESTAMP WITH TIME ZONE  UTC
--   updated_at        TIMESTAMP WITH TIME ZONE  when last changed (UTC)
--   moved_at          TIMESTAMP WITH TIME ZONE  last stage change (payment time for the paid stage)
--   begin_date        DATE                      invoice date
--   close_date        DATE                      payment due date
--   deal_id           VARCHAR                   parent deal
--   assigned_by_id    VARCHAR                   Bitrix24 user responsible for it
--   comments          VARCHAR                   comment on the invoice
--   _parse_errors     VARCHAR[]                 fields present but unparsable
--
-- Time zone: Bitrix24 writes timestamps with the portal's offset ("2025-01-05T13:31:46+03:00",
-- Moscow); they are stored as UTC instants. `begindate`/`closedate` are midnight in the portal's
-- zone, so their calendar date is the first ten characters, taken as written (not shifted).
-- Numbers arrive as JSON numbers (or, after an API change, strings) and are parsed from their
-- text straight to DECIMAL.
WITH src AS (
    SELECT id, payload AS p FROM raw.bitrix24_invoices WHERE deleted_at IS NULL
),
typed AS (
    SELECT
        id AS invoice_id,
        p ->> 'accountNumber' AS account_number,
        p ->> 'title' AS title,
        NULLIF(NULLIF(p ->> 'companyId', ''), '0') AS company_id,
        NULLIF(NULLIF(p ->> 'contactId', ''), '0') AS contact_id,
        p ->> 'stageId' AS stage_id,
        -- the stage's semantics as the portal reports it (crm-item-get.md `stageSemanticId`:
        -- P in progress, S success, F failure); custom stages (`DT31_7:UC_…`) carry it too
        upper(NULLIF(trim(p ->> 'stageSemanticId'), '')) AS stage_semantics,
        p ->> 'categoryId' AS category_id,
        money_or_null(p ->> 'opportunity') AS amount,
        money_or_null(p ->> 'taxValue') AS tax_amount,
        upper(NULLIF(trim(p ->> 'currencyId'), '')) AS currency,
        (p ->> 'isManualOpportunity') = 'Y' AS is_manual_amount,
        TRY_CAST(p ->> 'createdTime' AS TIMESTAMPTZ) AS created_at,
        TRY_CAST(p ->> 'updatedTime' AS TIMESTAMPTZ) AS updated_at,
        TRY_CAST(p ->> 'movedTime' AS TIMESTAMPTZ) AS moved_at,
        TRY_CAST(left(p ->> 'begindate', 10) AS DATE) AS begin_date,
        TRY_CAST(left(p ->> 'closedate', 10) AS DATE) AS close_date,
        NULLIF(NULLIF(p ->> 'parentId2', ''), '0') AS deal_id,
        p ->> 'assignedById' AS assigned_by_id,
        p ->> 'comments' AS comments,
        list_filter([
            CASE WHEN parse_failed(p ->> 'opportunity', money_or_null(p ->> 'opportunity'))
                THEN 'opportunity' END,
            CASE WHEN parse_failed(p ->> 'taxValue', money_or_null(p ->> 'taxValue'))
                THEN 'taxValue' END,
            CASE WHEN parse_failed(p ->> 'createdTime', TRY_CAST(p ->> 'createdTime' AS TIMESTAMPTZ))
                THEN 'createdTime' END,
            CASE WHEN parse_failed(p ->> 'updatedTime', TRY_CAST(p ->> 'updatedTime' AS TIMESTAMPTZ))
                THEN 'updatedTime' END,
            CASE WHEN parse_failed(p ->> 'movedTime', TRY_CAST(p ->> 'movedTime' AS TIMESTAMPTZ))
                THEN 'movedTime' END,
            CASE WHEN parse_failed(p ->> 'begindate', TRY_CAST(left(p ->> 'begindate', 10) AS DATE))
                THEN 'begindate' END,
            CASE WHEN parse_failed(p ->> 'closedate', TRY_CAST(left(p ->> 'closedate', 10) AS DATE))
                THEN 'closedate' END
        ], lambda x: x IS NOT NULL) AS _parse_errors
    FROM src
)
SELECT * FROM typed
