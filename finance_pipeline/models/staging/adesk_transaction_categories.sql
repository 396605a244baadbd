-- description: Adesk transaction categories (статьи), one row per live category: direction (income/outcome), activity kind (operating / investing / financing, Adesk `kind` 1/2/3), the owner-transfer flag (ввод/вывод денег: not revenue or expense) and the category group.
-- key: category_id
-- columns:
--   category_id        VARCHAR    Adesk id
--   name               VARCHAR    category name
--   direction          VARCHAR    in or out (Adesk type 1/2)
--   kind               INTEGER    income, outcome or transfer, as Adesk types the category
--   activity           VARCHAR    operating, investing or financing
--   is_owner_transfer  BOOLEAN    owner money in/out, not revenue or expense
--   is_system          BOOLEAN    a category Adesk creates itself (transfers, owner money); cannot be deleted
--   is_archived        BOOLEAN    archived (no longer offered for new movements)
--   group_id           VARCHAR    category group
--   group_name         VARCHAR    group name
--   _parse_errors      VARCHAR[]  fields present but unparsable
WITH src AS (
    SELECT
        id,
        payload,
        payload ->> '$.type' AS raw_type,
        payload ->> '$.kind' AS raw_kind,
        payload ->> '$.isOwnerTransfer' AS raw_owner,
        -- `group` is an object with full_group=true, a bare id otherwise.
        CASE
            WHEN json_type(payload -> '$.group') = 'OBJECT' THEN payload ->> '$.group.id'
            ELSE payload ->> '$.group'
        END AS group_id,
        CASE
            WHEN json_type(payload -> '$.group') = 'OBJECT' THEN payload ->> '$.group.name'
        END AS group_name
    FROM raw.adesk_transaction_categories
    WHERE deleted_at IS NULL
),
typed AS (
    SELECT
        id AS category_id,
        payload ->> '$.name' AS name,
        TRY_CAST(raw_type AS INTEGER) AS adesk_type,
        TRY_CAST(raw_kind AS INTEGER) AS kind,
        adesk_bool(raw_owner) AS is_owner_transfer,
        coalesce(adesk_bool(payload ->> '$.isSystem'), false) AS is_system,
        coalesce(adesk_bool(payload ->> '$.isArchived'), false) AS is_archived,
        group_id,
        group_name,
        raw_type,
        raw_kind,
        raw_owner
    FROM src
)
SELECT
    category_id,
    name,
    CASE adesk_type WHEN 1 THEN 'in' WHEN 2 THEN 'out' END AS direction,
    kind,
    CASE kind WHEN 1 THEN 'operating' WHEN 2 THEN 'investing' WHEN 3 THEN 'financing' END
        AS activity,
    coalesce(is_owner_transfer, false) AS is_owner_transfer,
    is_system,
    is_archived,
    group_id,
    group_name,
    list_filter(
        [
            CASE WHEN adesk_type IS NULL OR adesk_type NOT IN (1, 2) THEN 'type' END,
            CASE WHEN raw_kind IS NOT NULL AND (kind IS NULL OR kind NOT IN (1, 2, 3))
                THEN 'kind' END,
            CASE WHEN parse_failed(raw_owner, is_owner_transfer) THEN 'isOwnerTransfer' END
        ],
        lambda x: x IS NOT NULL
    ) AS _parse_errors
FROM typed
