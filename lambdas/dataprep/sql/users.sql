-- Users dataset of one country: every user whose latest locale is in it, interactions or not (metadata helps
-- cold start). Missing or unusable categorical values become {{ unknown }}.
WITH
{{ base }}
SELECT
    user_id AS "USER_ID",
    locale AS "LOCALE",
    CASE
        WHEN NOT regexp_like(COALESCE(age, ''), '^[0-9]{1,3}$') THEN {{ unknown }}
        WHEN CAST(age AS INTEGER) < 18 THEN '0-17'
        WHEN CAST(age AS INTEGER) < 25 THEN '18-24'
        WHEN CAST(age AS INTEGER) < 35 THEN '25-34'
        WHEN CAST(age AS INTEGER) < 45 THEN '35-44'
        WHEN CAST(age AS INTEGER) < 55 THEN '45-54'
        WHEN CAST(age AS INTEGER) <= 120 THEN '55+'
        ELSE {{ unknown }}
    END AS "AGE_GROUP",
    -- '|' separates categorical values in Personalize: keep one value per field.
    COALESCE(replace(lower(gender), '|', ' '), {{ unknown }}) AS "GENDER",
    COALESCE(replace(lower(membership), '|', ' '), {{ unknown }}) AS "MEMBERSHIP"
FROM latest_users
WHERE country = {{ country }}
