-- Items dataset (shared catalogue): GENRES consolidated through genre_mapping, distinct, sorted, '|'-joined.
-- TITLE is selected always; the CSV line keeps it only when an enabled recipe reads text
-- (common.schemas.items_fields).
WITH
{{ base }}
SELECT
    item_id AS "ITEM_ID",
    genres AS "GENRES",
    creation_ts AS "CREATION_TIMESTAMP",
    title AS "TITLE"
FROM catalog
