-- Input of the daily batch-inference job: users of the country with interactions first seen in partitions
-- [changes_since, run_date) (new_interactions). changes_since is the previous successful run date (or the
-- window start when there was none), never earlier than the window start.
WITH
{{ base }}
SELECT DISTINCT user_id AS "USER_ID"
FROM new_interactions
