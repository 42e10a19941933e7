-- convert_users.sql: users export days into users_parsed (dataprep.columnar), raw strings kept: the newest version of
-- a user is chosen on the raw values (_base.sql, latest_users), so nothing is trimmed here.
SELECT user_id, age, gender, locale, membership, file, {{ byte_problem(row_text) }} AS byte_problem, dt
FROM (
    SELECT
        user_id, age, gender, locale, membership, "$path" AS file,
        COALESCE(user_id, '') || COALESCE(age, '') || COALESCE(gender, '') || COALESCE(locale, '')
            || COALESCE(membership, '') AS row_text,
        dt
    FROM users
    WHERE dt IN ({{ days }})
) AS r
