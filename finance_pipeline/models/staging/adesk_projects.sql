-- description: Adesk projects and deals, one row per live project (archived included): category (направление), plan income/outcome, the income/outcome Adesk reports for it (completed movements), manager, and for deals the contractor and legal entity. `created` is an Adesk dd.mm.yyyy date.
-- key: project_id
-- columns:
--   project_id             VARCHAR        Adesk id
--   project_type           VARCHAR        project or deal
--   name                   VARCHAR        name
--   description            VARCHAR        as typed
--   created_date           DATE           creation date (Moscow)
--   project_category_id    VARCHAR        направление
--   project_category_name  VARCHAR        project category's name
--   is_archived            BOOLEAN        archived/finished
--   plan_income            DECIMAL(18,2)  planned income
--   plan_outcome           DECIMAL(18,2)  planned outcome
--   reported_income        DECIMAL(18,2)  income as Adesk reports
--   reported_outcome       DECIMAL(18,2)  outcome as Adesk reports
--   manager_name           VARCHAR        project manager's name
--   deal_contractor_id     VARCHAR        contractor of the deal the project is for (Adesk id)
--   deal_legal_entity_id   VARCHAR        our legal entity on that deal (Adesk id)
--   _parse_errors          VARCHAR[]      fields present but unparsable
WITH src AS (
    SELECT
        id,
        payload,
        payload ->> '$.created' AS raw_created,
        payload ->> '$.planIncome' AS raw_plan_income,
        payload ->> '$.planOutcome' AS raw_plan_outcome,
        payload ->> '$.income' AS raw_income,
        payload ->> '$.outcome' AS raw_outcome
    FROM raw.adesk_projects
    WHERE deleted_at IS NULL
),
typed AS (
    SELECT
        id AS project_id,
        payload ->> '$.type' AS project_type,
        payload ->> '$.name' AS name,
        payload ->> '$.description' AS description,
        adesk_date(raw_created) AS created_date,
        payload ->> '$.category.id' AS project_category_id,
        payload ->> '$.category.name' AS project_category_name,
        coalesce(adesk_bool(payload ->> '$.isArchived'), false) AS is_archived,
        money_or_null(raw_plan_income) AS plan_income,
        money_or_null(raw_plan_outcome) AS plan_outcome,
        money_or_null(raw_income) AS reported_income,
        money_or_null(raw_outcome) AS reported_outcome,
        payload ->> '$.manager.name' AS manager_name,
        payload ->> '$.deal_contractor.id' AS deal_contractor_id,
        payload ->> '$.deal_legal_entity.id' AS deal_legal_entity_id,
        raw_created,
        raw_plan_income,
        raw_plan_outcome,
        raw_income,
        raw_outcome
    FROM src
)
SELECT
    * EXCLUDE (raw_created, raw_plan_income, raw_plan_outcome, raw_income, raw_outcome),
    list_filter(
        [
            CASE WHEN parse_failed(raw_created, created_date) THEN 'created' END,
            CASE WHEN parse_failed(raw_plan_income, plan_income) THEN 'planIncome' END,
            CASE WHEN parse_failed(raw_plan_outcome, plan_outcome) THEN 'planOutcome' END,
            CASE WHEN parse_failed(raw_income, reported_income) THEN 'income' END,
            CASE WHEN parse_failed(raw_outcome, reported_outcome) THEN 'outcome' END
        ],
        lambda x: x IS NOT NULL
    ) AS _parse_errors
FROM typed
