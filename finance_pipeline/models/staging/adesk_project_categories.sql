-- description: Adesk project categories (направления проектов), one row per live category.
-- key: project_category_id
-- columns:
--   project_category_id  VARCHAR    Adesk id
--   name                 VARCHAR    name
--   _parse_errors        VARCHAR[]  fields present but unparsable
SELECT
    id AS project_category_id,
    payload ->> '$.name' AS name,
    CAST([] AS VARCHAR[]) AS _parse_errors
FROM raw.adesk_project_categories
WHERE deleted_at IS NULL
