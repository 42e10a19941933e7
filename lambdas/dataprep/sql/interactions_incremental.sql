-- Interactions for the INCREMENTAL import of a non-full day: only those that arrived since the last successful
-- run (new_interactions in _base.sql), because an INCREMENTAL interactions import appends. Same columns and
-- rules as interactions.sql; with no previous run it equals the whole window.
WITH
{{ base }}
SELECT
    user_id AS "USER_ID",
    item_id AS "ITEM_ID",
    ts AS "TIMESTAMP",
    event_type AS "EVENT_TYPE",
    event_value AS "EVENT_VALUE"
FROM new_interactions
