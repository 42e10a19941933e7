-- Items dataset (shared catalogue): GENRES consolidated through genre_mapping, distinct, sorted, '|'-joined.
-- TITLE is selected always and always written (the Items schema does not depend on the recipes)
-- (common.schemas.dataset_fields("Items")).
WITH
{{ base }}
SELECT
    item_id AS "ITEM_ID",
    genres AS "GENRES",
    creation_ts AS "CREATION_TIMESTAMP",
    title AS "TITLE"
FROM catalog
