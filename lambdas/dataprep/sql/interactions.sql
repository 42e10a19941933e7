-- Interactions dataset of one country: [window_start, run_date), deduplicated. Columns in schema order
-- (common.schemas.INTERACTIONS_FIELDS); the CSV line is built from these names by dataprep.queries.
WITH
{{ base }}
SELECT
    user_id AS "USER_ID",
    item_id AS "ITEM_ID",
    ts AS "TIMESTAMP",
    event_type AS "EVENT_TYPE",
    event_value AS "EVENT_VALUE"
FROM interactions
