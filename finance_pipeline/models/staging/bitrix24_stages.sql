-- description: Stages of the Bitrix24 invoice funnels and the legacy invoice statuses (crm.status.list), one row per stage, with the semantics the portal reports for it.
-- key: stage_id
-- columns:
--   stage_id       VARCHAR    STATUS_ID as invoices carry it (DT31_<category>:<code>, custom UC_…; legacy: N, P, …)
--   dictionary     VARCHAR    ENTITY_ID (SMART_INVOICE_STAGE_<category> or INVOICE_STATUS)
--   category_id    VARCHAR    funnel (NULL for legacy statuses)
--   name           VARCHAR    as shown on the portal
--   sort           INTEGER    order within the funnel
--   semantics      VARCHAR    success / failure / process, as the portal reports it
--   _parse_errors  VARCHAR[]  fields present in the raw payload but unparsable (their typed value is NULL)
--   is_start       BOOLEAN    the funnel's first stage (lowest sort)
--
-- crm-status-list.md (b24restdocs): `SEMANTICS` is "S" for the success stage, "F" for failure
-- stages (a funnel may have several), null (or empty) for stages in progress; `EXTRA.SEMANTICS`
-- spells it out (process / success / failure / apology). Only the invoice dictionaries are kept:
-- smart-invoice funnels (`SMART_INVOICE_STAGE_<category>`, crm-status-entity-types.md) and the
-- legacy invoices' `INVOICE_STATUS`.
WITH src AS (
    SELECT payload AS p FROM raw.bitrix24_stages WHERE deleted_at IS NULL
),
typed AS (
    SELECT
        p ->> 'STATUS_ID' AS stage_id,
        p ->> 'ENTITY_ID' AS dictionary,
        NULLIF(p ->> 'CATEGORY_ID', '') AS category_id,
        p ->> 'NAME' AS name,
        TRY_CAST(p ->> 'SORT' AS INTEGER) AS sort,
        CASE upper(coalesce(NULLIF(p ->> 'SEMANTICS', ''), ''))
            WHEN 'S' THEN 'success'
            WHEN 'F' THEN 'failure'
            ELSE 'process'
        END AS semantics,
        list_filter([
            CASE WHEN parse_failed(p ->> 'SORT', TRY_CAST(p ->> 'SORT' AS INTEGER)) THEN 'SORT' END
        ], lambda x: x IS NOT NULL) AS _parse_errors
    FROM src
    WHERE p ->> 'ENTITY_ID' LIKE 'SMART_INVOICE_STAGE_%' OR p ->> 'ENTITY_ID' = 'INVOICE_STATUS'
)
SELECT
    *,
    sort = min(sort) OVER (PARTITION BY dictionary) AS is_start
FROM typed
