-- convert_events.sql: one raw events table's days, parsed once into <table>_parsed (dataprep.columnar). Every row the
-- CSV reader produced is kept, dropped ones included: the run window classifies them (window.sql), so the rules that
-- depend on the run (a user's latest country, duplicates across days) stay where the run is known.
-- {{ table }} is purchases or views, {{ value_column }} the raw view count (NULL for purchases); both are fixed by
-- dataprep.queries, never user input. "$path" is Athena's pseudo-column naming the row's S3 object. The rows keep the
-- export's order: sorted by user, a day's user_id column shrinks but its timestamps grow more (measured on the
-- bench's sample: the window's scan of the parsed days is 7 % larger), so no ORDER BY here.
SELECT
    NULLIF(TRIM(user_id), '') AS user_id,
    NULLIF(TRIM(item_id), '') AS item_id,
    {{ epoch_seconds(ts_raw) }} AS ts,
    -- A view without a usable count is still a view: EVENT_VALUE is nullable.
    CASE WHEN regexp_like(value_raw, '^[0-9]{1,9}$') THEN CAST(value_raw AS BIGINT) END AS event_value,
    file,
    {{ byte_problem(row_text) }} AS byte_problem,
    dt
FROM (
    SELECT
        user_id,
        item_id,
        TRIM("timestamp") AS ts_raw,
        TRIM({{ value_column }}) AS value_raw,
        "$path" AS file,
        COALESCE(user_id, '') || COALESCE(item_id, '') || COALESCE({{ value_column }}, '') || COALESCE("timestamp", '')
            AS row_text,
        dt
    FROM {{ table }}
    WHERE dt IN ({{ days }})
) AS r
