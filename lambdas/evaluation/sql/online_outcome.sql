-- The online outcome of one experiment (evaluation.online reads it): one row per exposed user and arm, with the
-- user's distinct exposures and hits. Athena engine v3 (Trino) dialect; the tests and the bench transpile it to
-- DuckDB. Placeholders are filled by evaluation.online_sql.render with validated literals only.
--
-- Inputs: the exposure log (Glue table `exposures`, one text `line` per JSON line the serving API logged, the
-- exposure under its `exposure` key: common.experiments.Exposure; partition `dt`) and the columnar days' views
-- and purchases (views_parsed / purchases_parsed, partition `dt` = the raw export day; ts in epoch seconds).
-- A hit: an item of an exposure that the same user viewed or purchased within the hit window after that exposure,
-- counted once per (user, item) however many exposures or interactions lead to it. Only exposures whose whole
-- window lies before run_date 00:00 UTC count, so every counted exposure had the same time to convert.
-- A line delivered twice changes nothing (the log delivers at least once): exposures are counted by distinct
-- recommendation id and hits by distinct item.
WITH
exposed AS (
    SELECT
        json_extract_scalar(record, '$.exposure.arm') AS arm,
        json_extract_scalar(record, '$.exposure.user_id') AS user_id,
        json_extract_scalar(record, '$.exposure.recommendation_id') AS recommendation_id,
        try(CAST(json_extract(record, '$.exposure.items') AS ARRAY(VARCHAR))) AS items,
        try(CAST(json_extract_scalar(record, '$.exposure.served_at') AS BIGINT)) AS served_at
    FROM (
        SELECT try(json_parse(line)) AS record
        FROM exposures
        WHERE dt >= {{ from_dt }} AND dt < {{ run_date }} AND trim(line) <> ''
    ) AS parsed
    WHERE json_extract_scalar(record, '$.exposure.experiment') = {{ experiment }}
        AND json_extract_scalar(record, '$.exposure.country') = {{ country }}
),

counted AS (
    SELECT arm, user_id, recommendation_id, items, served_at
    FROM exposed
    WHERE arm IS NOT NULL AND user_id IS NOT NULL AND recommendation_id IS NOT NULL AND served_at IS NOT NULL
        AND served_at >= {{ start_ms }} AND served_at < {{ end_ms }}
        AND served_at + {{ window_ms }} <= {{ data_end_ms }}
),

exposed_items AS (
    SELECT c.arm, c.user_id, c.served_at, t.item_id
    FROM counted AS c
    CROSS JOIN UNNEST(c.items) AS t (item_id)
),

events AS (
    SELECT user_id, item_id, ts
    FROM views_parsed
    WHERE dt >= {{ from_dt }} AND dt <= {{ run_date }} AND user_id IS NOT NULL AND item_id IS NOT NULL
        AND ts >= {{ start_s }} AND ts < {{ data_end_s }}
    UNION ALL
    SELECT user_id, item_id, ts
    FROM purchases_parsed
    WHERE dt >= {{ from_dt }} AND dt <= {{ run_date }} AND user_id IS NOT NULL AND item_id IS NOT NULL
        AND ts >= {{ start_s }} AND ts < {{ data_end_s }}
),

hits AS (
    SELECT x.arm, x.user_id, count(DISTINCT x.item_id) AS hits
    FROM exposed_items AS x
    JOIN events AS e
        ON e.user_id = x.user_id AND e.item_id = x.item_id
        AND e.ts * 1000 >= x.served_at AND e.ts * 1000 < x.served_at + {{ window_ms }}
    GROUP BY x.arm, x.user_id
),

users AS (
    SELECT arm, user_id, count(DISTINCT recommendation_id) AS exposures
    FROM counted
    GROUP BY arm, user_id
)

SELECT u.arm, u.user_id, u.exposures, COALESCE(h.hits, 0) AS hits
FROM users AS u
LEFT JOIN hits AS h ON h.arm = u.arm AND h.user_id = u.user_id
