-- Common table expressions of every output: the users and contents (_upserts.sql) and the run's window (window.sql,
-- written once per run attempt to run_window, dataprep.columnar), never the raw exports themselves.
-- Placeholders are filled by dataprep.queries.render with validated literals only.
{{ upserts }},

-- This run attempt's window: the injected partition columns take static values (Athena's rule for injected
-- projection), so only this attempt's folder is listed.
window_rows AS (
    SELECT user_id, item_id, ts, event_type, event_value, first_dt, copies, file, source_table, drop_reason, dt, row_count,
        part
    FROM run_window
    WHERE country = {{ country }} AND run_date = {{ run_date }} AND execution = {{ execution }}
        AND attempt = {{ attempt }}
),

-- The country's interactions of the window, exact duplicates (same user, item, instant, type and value) collapsed
-- to one row; first_dt is the earliest partition that carried it, so a re-exported old event does not mark its user
-- as changed.
interactions AS (
    SELECT user_id, item_id, ts, event_type, event_value, first_dt, copies
    FROM window_rows
    WHERE part IN ({{ part_new }}, {{ part_changed }}, {{ part_old }})
),

-- The interactions not imported yet: first seen in partitions [import_since, run_date) (window.sql's part `new`).
new_interactions AS (
    SELECT user_id, item_id, ts, event_type, event_value
    FROM window_rows
    WHERE part = {{ part_new }}
)
