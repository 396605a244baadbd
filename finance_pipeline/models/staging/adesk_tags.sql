-- description: Adesk tags (метки of movements), one row per live tag.
-- key: tag_id
-- columns:
--   tag_id         VARCHAR    Adesk id
--   name           VARCHAR    tag
--   color          VARCHAR    colour name
--   _parse_errors  VARCHAR[]  fields present but unparsable
SELECT
    id AS tag_id,
    payload ->> '$.name' AS name,
    payload ->> '$.color' AS color,
    CAST([] AS VARCHAR[]) AS _parse_errors
FROM raw.adesk_tags
WHERE deleted_at IS NULL
