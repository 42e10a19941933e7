-- Users dataset of one country: every user whose latest locale is in it, interactions or not (metadata helps
-- cold start after training). Values as in user_metadata (_base.sql).
WITH
{{ base }}
SELECT
    user_id AS "USER_ID",
    locale AS "LOCALE",
    age_group AS "AGE_GROUP",
    gender AS "GENDER",
    membership AS "MEMBERSHIP"
FROM user_metadata
