-- Input of the daily batch-inference job: users of the country with interactions first seen in partitions
-- [changes_since, run_date). changes_since is the previous successful run date, or the first partition not
-- imported yet when that is earlier (a skipped increment: its users are scored once their interactions are in),
-- or the window start when there was no run; never earlier than the window start: the run window's parts new and
-- changed (window.sql).
WITH
{{ base }}
SELECT DISTINCT user_id AS "USER_ID"
FROM window_rows
WHERE part IN ({{ part_new }}, {{ part_changed }})
