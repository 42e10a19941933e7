-- User-personalization batch input on the full-training day (or in all-users batch mode): every user of the
-- country with interactions in the window. Its row count is counts.users.
WITH
{{ base }}
SELECT DISTINCT user_id AS "USER_ID"
FROM interactions
