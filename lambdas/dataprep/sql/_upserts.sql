-- Common table expressions over the users and contents exports (Athena engine v3 = Trino dialect), shared by the run
-- window (window.sql) and every output (_base.sql). They read the columnar days (dataprep.columnar: users_parsed,
-- contents_parsed), where each row's byte problem (_byte_problem.sql) was found once, when its day was converted.
-- The local runner transpiles the rendered statements to DuckDB with sqlglot. Placeholders are filled by
-- dataprep.queries.render with validated literals only.
--
-- Raw columns are strings; empty fields are treated like missing ones (Athena reads '' where DuckDB reads NULL, so
-- every field goes through NULLIF(TRIM(x), '')).

-- Users and contents exports are upserts: each dt partition holds the rows added or changed that day, and the
-- newest partition before the run date wins. Ties inside one partition are broken on the values so the choice
-- is deterministic on every engine. A row holding a byte that is not UTF-8 or a control byte is dropped (and
-- counted by quality.sql), so an older version of that user may win.
raw_users AS (
    SELECT user_id, age, gender, locale, membership, dt, file, byte_problem
    FROM users_parsed
    WHERE dt < {{ run_date }}
),

latest_users AS (
    SELECT user_id, locale, country, age, gender, membership
    FROM (
        SELECT
            NULLIF(TRIM(user_id), '') AS user_id,
            CASE
                WHEN regexp_like(TRIM(locale), '^[A-Za-z]{2,3}[_-][A-Za-z]{2}$')
                    THEN lower(substr(TRIM(locale), 1, length(TRIM(locale)) - 3)) || '_' || upper(substr(TRIM(locale), -2))
            END AS locale,
            CASE
                WHEN regexp_like(TRIM(locale), '^[A-Za-z]{2,3}[_-][A-Za-z]{2}$') THEN upper(substr(TRIM(locale), -2))
            END AS country,
            NULLIF(TRIM(age), '') AS age,
            NULLIF(TRIM(gender), '') AS gender,
            NULLIF(TRIM(membership), '') AS membership,
            row_number() OVER (
                PARTITION BY NULLIF(TRIM(user_id), '')
                ORDER BY dt DESC, locale DESC NULLS LAST, age DESC NULLS LAST, gender DESC NULLS LAST,
                    membership DESC NULLS LAST
            ) AS version
        FROM raw_users
        WHERE byte_problem IS NULL
    ) AS versions
    WHERE version = 1 AND user_id IS NOT NULL
),

-- The Users dataset's categorical metadata of one country (users.sql) and the cold-start segments
-- (cold_start.sql: locale x age group x gender). Missing or unusable values become {{ unknown }}.
user_metadata AS (
    SELECT
        user_id,
        locale,
        CASE
            WHEN NOT regexp_like(COALESCE(age, ''), '^[0-9]{1,3}$') THEN {{ unknown }}
            WHEN CAST(age AS INTEGER) < 18 THEN '0-17'
            WHEN CAST(age AS INTEGER) < 25 THEN '18-24'
            WHEN CAST(age AS INTEGER) < 35 THEN '25-34'
            WHEN CAST(age AS INTEGER) < 45 THEN '35-44'
            WHEN CAST(age AS INTEGER) < 55 THEN '45-54'
            WHEN CAST(age AS INTEGER) <= 120 THEN '55+'
            ELSE {{ unknown }}
        END AS age_group,
        -- '|' separates categorical values in Personalize: keep one value per field.
        COALESCE(replace(lower(gender), '|', ' '), {{ unknown }}) AS gender,
        COALESCE(replace(lower(membership), '|', ' '), {{ unknown }}) AS membership
    FROM latest_users
    WHERE country = {{ country }}
),

-- Every contents row before the run date with its byte problem, like raw_users.
raw_contents AS (
    SELECT item_id, title, genre, created_at, dt, file, byte_problem
    FROM contents_parsed
    WHERE dt < {{ run_date }}
),

latest_contents AS (
    SELECT item_id, title, genre, created_raw
    FROM (
        SELECT
            NULLIF(TRIM(item_id), '') AS item_id,
            NULLIF(TRIM(title), '') AS title,
            NULLIF(TRIM(genre), '') AS genre,
            TRIM(created_at) AS created_raw,
            row_number() OVER (
                PARTITION BY NULLIF(TRIM(item_id), '')
                ORDER BY dt DESC, title DESC NULLS LAST, genre DESC NULLS LAST, created_at DESC NULLS LAST
            ) AS version
        FROM raw_contents
        WHERE byte_problem IS NULL
    ) AS versions
    WHERE version = 1 AND item_id IS NOT NULL
),

parsed_items AS (
    SELECT
        item_id,
        -- One CSV record per line: Personalize rejects embedded line breaks.
        replace(replace(title, chr(13), ' '), chr(10), ' ') AS title,
        genre,
        {{ epoch_seconds(created_raw) }} AS creation_ts
    FROM latest_contents
),

item_source_genres AS (
    SELECT i.item_id, lower(TRIM(g.source_genre)) AS source_genre
    FROM parsed_items AS i
    CROSS JOIN UNNEST(split(i.genre, '|')) AS g (source_genre)
    WHERE i.genre IS NOT NULL
),

item_genres AS (
    SELECT
        s.item_id,
        array_join(array_sort(array_distinct(array_agg(m.genre) FILTER (WHERE m.genre IS NOT NULL))), '|') AS genres,
        count_if(m.genre IS NULL AND s.source_genre <> '') AS unmapped_genres
    FROM item_source_genres AS s
    LEFT JOIN (
        SELECT DISTINCT lower(TRIM(source_genre)) AS source_genre, TRIM(genre) AS genre
        FROM genre_mapping
        WHERE NULLIF(TRIM(genre), '') IS NOT NULL
    ) AS m ON m.source_genre = s.source_genre
    GROUP BY s.item_id
),

-- The catalogue is shared by every country; CREATION_TIMESTAMP is a required long, so an item without a
-- parsable created_at is dropped (and counted) rather than imported with a made-up date.
catalog AS (
    SELECT
        i.item_id,
        COALESCE(NULLIF(g.genres, ''), {{ unknown }}) AS genres,
        i.creation_ts,
        i.title,
        COALESCE(g.unmapped_genres, 0) AS unmapped_genres
    FROM parsed_items AS i
    LEFT JOIN item_genres AS g ON g.item_id = i.item_id
    WHERE i.creation_ts BETWEEN 946684800 AND 4102444799
)
