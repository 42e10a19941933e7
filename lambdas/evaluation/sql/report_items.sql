-- The catalogue (items dataset and every interacted item: Personalize's coverage denominator) with what the page
-- shows of an item. Only the catalogue's size, never the interactions', decides this output's size.
WITH
run_items AS (
    SELECT item_id, title, genres, CAST("creation_timestamp" AS BIGINT) AS created
    FROM prepared_items
    WHERE country = {{ country }} AND run_date = {{ run_date }} AND execution = {{ execution }}
        AND attempt = {{ attempt }}
),

interacted AS (
    SELECT DISTINCT item_id
    FROM run_window
    WHERE country = {{ country }} AND run_date = {{ run_date }} AND execution = {{ execution }}
        AND attempt = {{ attempt }} AND part IN {{ country_parts }}
)

SELECT i.item_id, i.title, i.genres, i.created
FROM run_items AS i
UNION ALL
SELECT n.item_id, CAST(NULL AS VARCHAR) AS title, CAST(NULL AS VARCHAR) AS genres, CAST(NULL AS BIGINT) AS created
FROM interacted AS n
WHERE n.item_id NOT IN (SELECT item_id FROM run_items)
