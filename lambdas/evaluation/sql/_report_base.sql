-- Common table expressions of the report queries (Athena engine v3 = Trino dialect; the local runner and the
-- tests transpile the rendered statements to DuckDB with sqlglot). Placeholders are filled by
-- evaluation.queries.render with validated literals only. Definitions: docs/evaluation.md and
-- evaluation.report (the in-memory reference computes the same figures on small data).
--
-- Inputs: the run attempt's window (Glue table run_window, Parquet: the interactions the preparation classified
-- and deduplicated once; the country's are its parts columnar.COUNTRY_PARTS, ts already epoch seconds), the prepared
-- users and items (prepared_users/_items over the prepare step's CSV UNLOAD parts), all with the injected
-- partitions country/run_date/execution/attempt, and Personalize's batch output (batch_output, JSON lines under
-- results/<country>/<run_date>/<recipe>/). Only the columns named here are read from the Parquet window.

run_interactions AS (
    SELECT user_id, item_id, ts, part
    FROM run_window
    WHERE country = {{ country }} AND run_date = {{ run_date }} AND execution = {{ execution }}
        AND attempt = {{ attempt }} AND part IN {{ country_parts }}
),

history AS (
    SELECT user_id, item_id, ts FROM run_interactions WHERE ts < {{ cutoff_epoch }}
),

-- Each (user, item) of the history once, with its latest touch; recency 1 = the user's newest item (ties by
-- item id, so every engine orders them the same way).
history_pairs AS (
    SELECT
        user_id, item_id, last_ts,
        row_number() OVER (PARTITION BY user_id ORDER BY last_ts DESC, item_id) AS recency
    FROM (SELECT user_id, item_id, max(ts) AS last_ts FROM history GROUP BY user_id, item_id) AS pairs
),

history_users AS (
    SELECT user_id, count(*) AS interactions FROM history GROUP BY user_id
),

truth AS (
    SELECT user_id, array_sort(array_agg(DISTINCT item_id)) AS items
    FROM run_interactions
    WHERE ts >= {{ cutoff_epoch }} AND ts < {{ end_epoch }}
    GROUP BY user_id
),

-- Item-item Jaccard over the users' capped recent items: a heavy user adds at most cap^2 pairs, so the self-join
-- stays linear in the users.
capped AS (
    SELECT user_id, item_id FROM history_pairs WHERE recency <= {{ cooccurrence_items }}
),

item_users AS (
    SELECT item_id, count(*) AS users FROM capped GROUP BY item_id
),

cooccurrence AS (
    SELECT a.item_id, b.item_id AS neighbour_id, count(*) AS shared
    FROM capped AS a
    JOIN capped AS b ON b.user_id = a.user_id AND b.item_id <> a.item_id
    GROUP BY a.item_id, b.item_id
),

-- Each item's latest interaction in the history: the first tie key of the neighbour, popularity and curation rankings.
item_recency AS (
    SELECT item_id, max(ts) AS last_ts FROM history GROUP BY item_id
),

-- Each item's top neighbours by Jaccard; equal scores by evaluation.ties' rule (the neighbour's latest interaction,
-- newest first, then the md5 of '<tie_seed>#<item id>'), as similarity.exact_jaccard_topk orders them.
neighbours AS (
    SELECT item_id, neighbour_id, score
    FROM (
        SELECT
            c.item_id, c.neighbour_id,
            CAST(c.shared AS DOUBLE) / (ia.users + ib.users - c.shared) AS score,
            row_number() OVER (
                PARTITION BY c.item_id
                ORDER BY CAST(c.shared AS DOUBLE) / (ia.users + ib.users - c.shared) DESC, r.last_ts DESC,
                    lower(to_hex(md5(to_utf8({{ tie_seed }} || '#' || c.neighbour_id)))), c.neighbour_id
            ) AS slot
        FROM cooccurrence AS c
        JOIN item_users AS ia ON ia.item_id = c.item_id
        JOIN item_users AS ib ON ib.item_id = c.neighbour_id
        JOIN item_recency AS r ON r.item_id = c.neighbour_id
    ) AS ranked
    WHERE slot <= {{ neighbours }}
),

-- Distinct users per item over the last popularity days of the history. Equal counts: evaluation.ties' rule (the
-- latest interaction, newest first, then the md5 of '<tie_seed>#<item id>'; the id only if two hashes collide).
popularity AS (
    SELECT
        item_id, users, last_ts,
        row_number() OVER (
            ORDER BY users DESC, last_ts DESC, lower(to_hex(md5(to_utf8({{ tie_seed }} || '#' || item_id)))), item_id
        ) AS popularity_rank
    FROM (
        SELECT item_id, count(DISTINCT user_id) AS users, max(ts) AS last_ts
        FROM history
        WHERE ts >= {{ popularity_from_epoch }}
        GROUP BY item_id
    ) AS counted
),

-- Personalize's batch output, one row per non-blank line, parsed here (the Glue table reads each line as text:
-- stacks/constructs/report_catalog.py says why). A line that is not JSON, or whose fields have other types, gives
-- NULLs (counted as malformed in report_summary) instead of failing the query. Keys are Personalize's, case and
-- all: {"input": {"userId": ...}, "output": {"recommendedItems": [...], "scores": [...]}, "error": ...}.
batch_records AS (
    SELECT
        json_extract_scalar(record, '$.input.userId') AS user_id,
        try(CAST(json_extract(record, '$.output.recommendedItems') AS ARRAY(VARCHAR))) AS items,
        json_extract_scalar(record, '$.error') AS error
    FROM (
        SELECT try(json_parse(line)) AS record
        FROM batch_output
        WHERE country = {{ country }} AND run_date = {{ run_date }} AND recipe = {{ personalize_recipe }}
            AND trim(line) <> ''
    ) AS parsed
),

-- Personalize's lists: lines without an error and with recommendedItems (others are counted in report_summary).
personalize_lists AS (
    SELECT user_id, items
    FROM batch_records
    WHERE user_id IS NOT NULL AND COALESCE(error, '') = '' AND items IS NOT NULL
),

-- Evaluated users: a truth interaction (and a Personalize list when Personalize output is compared), at most
-- max_evaluated_users of them, chosen by the md5 of the user id: the same users on every engine and every run.
evaluable AS (
    SELECT t.user_id, t.items AS truth_items
    FROM truth AS t
    WHERE NOT {{ with_personalize }} OR t.user_id IN (SELECT user_id FROM personalize_lists)
),

sample AS (
    SELECT user_id
    FROM (
        SELECT user_id, row_number() OVER (ORDER BY lower(to_hex(md5(to_utf8(user_id)))), user_id) AS draw
        FROM evaluable
    ) AS drawn
    WHERE draw <= {{ max_evaluated_users }}
),

-- The heaviest users (most history interactions) shown on the page.
heavy AS (
    SELECT user_id, heavy_rank
    FROM (
        SELECT u.user_id, row_number() OVER (ORDER BY u.interactions DESC, u.user_id) AS heavy_rank
        FROM history_users AS u
        WHERE NOT {{ with_personalize }} OR u.user_id IN (SELECT user_id FROM personalize_lists)
    ) AS ranked
    WHERE heavy_rank <= {{ top_users }}
),

-- The users whose lists the report reads: the sample and the heavy users.
shown AS (
    SELECT user_id FROM sample
    UNION
    SELECT user_id FROM heavy
),

-- The users `curation` lists: the report's shown users, or (curation_lists.sql, the serving read model's curation)
-- the users of the country parts the day's batch job scores, every active user on a full-batch day.
curated_users AS (
    SELECT user_id FROM shown WHERE {{ curate_shown }}
    UNION
    SELECT user_id FROM run_interactions WHERE NOT {{ curate_shown }} AND part IN {{ curated_parts }}
),

-- Curation for the curated users: merged neighbours of each user's recent items, minus everything the user saw, best first; a list
-- shorter than list_length is filled with the popular items the user neither saw nor got.
candidates AS (
    SELECT r.user_id, n.neighbour_id AS item_id, sum(n.score) AS score
    FROM history_pairs AS r
    JOIN curated_users AS w ON w.user_id = r.user_id
    JOIN neighbours AS n ON n.item_id = r.item_id
    WHERE r.recency <= {{ recent_items }}
    GROUP BY r.user_id, n.neighbour_id
),

picked AS (
    SELECT user_id, item_id, pos
    FROM (
        SELECT
            c.user_id, c.item_id,
            row_number() OVER (
                PARTITION BY c.user_id
                ORDER BY c.score DESC, r.last_ts DESC, lower(to_hex(md5(to_utf8({{ tie_seed }} || '#' || c.item_id)))),
                    c.item_id
            ) AS pos
        FROM candidates AS c
        JOIN item_recency AS r ON r.item_id = c.item_id
        LEFT JOIN history_pairs AS h ON h.user_id = c.user_id AND h.item_id = c.item_id
        WHERE h.item_id IS NULL
    ) AS ranked
    WHERE pos <= {{ list_length }}
),

short_lists AS (
    SELECT u.user_id, COALESCE(p.picked, 0) AS picked, d.distinct_items
    FROM history_users AS u
    JOIN curated_users AS w ON w.user_id = u.user_id
    JOIN (SELECT user_id, count(*) AS distinct_items FROM history_pairs GROUP BY user_id) AS d
        ON d.user_id = u.user_id
    LEFT JOIN (SELECT user_id, count(*) AS picked FROM picked GROUP BY user_id) AS p ON p.user_id = u.user_id
    WHERE COALESCE(p.picked, 0) < {{ list_length }}
),

-- Among the first (list_length + seen + picked) popular items at least list_length are neither seen nor picked.
fill AS (
    SELECT user_id, item_id, pos
    FROM (
        SELECT
            s.user_id, p.item_id,
            s.picked + row_number() OVER (PARTITION BY s.user_id ORDER BY p.popularity_rank) AS pos
        FROM short_lists AS s
        JOIN popularity AS p ON p.popularity_rank <= {{ list_length }} + s.distinct_items + s.picked
        LEFT JOIN history_pairs AS h ON h.user_id = s.user_id AND h.item_id = p.item_id
        LEFT JOIN picked AS k ON k.user_id = s.user_id AND k.item_id = p.item_id
        WHERE h.item_id IS NULL AND k.item_id IS NULL
    ) AS ranked
    WHERE pos <= {{ list_length }}
),

curation AS (
    SELECT user_id, item_id, pos FROM picked
    UNION ALL
    SELECT user_id, item_id, pos FROM fill
)
