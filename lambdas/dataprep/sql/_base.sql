-- Common table expressions shared by every output (Athena engine v3 = Trino dialect). The local runner
-- transpiles the rendered statements to DuckDB with sqlglot. Placeholders are filled by
-- dataprep.queries.render with validated literals only.
--
-- Raw columns are strings (OpenCSVSerDe); empty fields are treated like missing ones (Athena reads '' where
-- DuckDB reads NULL, so every field goes through NULLIF(TRIM(x), '')).

-- Users and contents exports are upserts: each dt partition holds the rows added or changed that day, and the
-- newest partition before the run date wins. Ties inside one partition are broken on the values so the choice
-- is deterministic on every engine.
-- Every users row before the run date with its byte problem (_byte_problem.sql): a row holding a byte that is not
-- UTF-8 or a control byte is dropped (and counted by quality.sql), so an older version of that user may win.
raw_users AS (
    SELECT
        user_id, age, gender, locale, membership, dt, file, {{ byte_problem(row_text) }} AS byte_problem
    FROM (
        SELECT
            user_id, age, gender, locale, membership, dt, "$path" AS file,
            COALESCE(user_id, '') || COALESCE(age, '') || COALESCE(gender, '') || COALESCE(locale, '')
                || COALESCE(membership, '') AS row_text
        FROM users
        WHERE dt < {{ run_date }}
    ) AS r
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

-- Only the window's partitions: a plain range on the projected dt column, which Athena prunes. "$path" is
-- Athena's pseudo-column naming the S3 object of a row (the local runner gives its tables the same column),
-- so the data-quality query can count drops per file.
raw_events AS (
    SELECT
        user_id, item_id, "timestamp" AS ts_raw, {{ purchase_event }} AS event_type, CAST(NULL AS VARCHAR) AS value_raw, dt,
        "$path" AS file, COALESCE(user_id, '') || COALESCE(item_id, '') || COALESCE("timestamp", '') AS row_text
    FROM purchases
    WHERE dt >= {{ window_start }} AND dt < {{ run_date }}
    UNION ALL
    SELECT
        user_id, item_id, "timestamp" AS ts_raw, {{ view_event }} AS event_type, item_view_count AS value_raw, dt, "$path" AS file,
        COALESCE(user_id, '') || COALESCE(item_id, '') || COALESCE(item_view_count, '') || COALESCE("timestamp", '')
            AS row_text
    FROM views
    WHERE dt >= {{ window_start }} AND dt < {{ run_date }}
),

trimmed_events AS (
    SELECT
        NULLIF(TRIM(user_id), '') AS user_id,
        NULLIF(TRIM(item_id), '') AS item_id,
        TRIM(ts_raw) AS ts_raw,
        event_type,
        TRIM(value_raw) AS value_raw,
        dt,
        file,
        {{ byte_problem(row_text) }} AS byte_problem
    FROM raw_events
),

parsed_events AS (
    SELECT
        user_id,
        item_id,
        {{ epoch_seconds(ts_raw) }} AS ts,
        event_type,
        -- A view without a usable count is still a view: EVENT_VALUE is nullable.
        CASE WHEN regexp_like(value_raw, '^[0-9]{1,9}$') THEN CAST(value_raw AS BIGINT) END AS event_value,
        dt,
        file,
        byte_problem
    FROM trimmed_events
),

-- One reason per dropped row, first match wins: bytes (not UTF-8, control byte), ids, then country (user unknown or
-- locale unparsable), then time.
classified_events AS (
    SELECT
        e.user_id,
        e.item_id,
        e.ts,
        e.event_type,
        e.event_value,
        e.dt,
        e.file,
        u.country,
        CASE
            WHEN e.byte_problem IS NOT NULL THEN e.byte_problem
            WHEN e.user_id IS NULL OR e.item_id IS NULL THEN 'missing_ids'
            WHEN u.country IS NULL THEN 'unknown_country'
            WHEN e.ts IS NULL OR e.ts NOT BETWEEN 946684800 AND 4102444799 THEN 'unparsable_timestamp'
        END AS drop_reason
    FROM parsed_events AS e
    LEFT JOIN latest_users AS u ON u.user_id = e.user_id
),

-- Exact duplicates (same user, item, instant, type and value) collapse to one row; first_dt is the earliest
-- partition that carried it, so a re-exported old event does not mark its user as changed.
interactions AS (
    SELECT user_id, item_id, ts, event_type, event_value, min(dt) AS first_dt, count(*) AS copies
    FROM classified_events
    WHERE drop_reason IS NULL AND country = {{ country }}
    GROUP BY user_id, item_id, ts, event_type, event_value
),

-- The interactions not imported yet: first seen in partitions [import_since, run_date), import_since being the
-- run date of the last interactions import that ran (a skipped increment of < 1,000 rows carries its rows into
-- the next one). Partitions are export days, so a late event (old timestamp, new partition) is new and gets
-- imported, and a re-exported old event is not (an INCREMENTAL import appends: it would count twice).
-- With no import yet this is the whole window.
new_interactions AS (
    SELECT user_id, item_id, ts, event_type, event_value
    FROM interactions
    WHERE first_dt >= {{ import_since }}
),

-- Every contents row before the run date with its byte problem, like raw_users.
raw_contents AS (
    SELECT item_id, title, genre, created_at, dt, file, {{ byte_problem(row_text) }} AS byte_problem
    FROM (
        SELECT
            item_id, title, genre, created_at, dt, "$path" AS file,
            COALESCE(item_id, '') || COALESCE(title, '') || COALESCE(genre, '') || COALESCE(created_at, '') AS row_text
        FROM contents
        WHERE dt < {{ run_date }}
    ) AS r
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
