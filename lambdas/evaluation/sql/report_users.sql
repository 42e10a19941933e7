-- One row per evaluated (sampled) user and per heavy user: truth, the lists of every recommender that differs per
-- user, and for heavy users the newest history items shown on the page. evaluation.sql_report reads it.
WITH
{{ base }},

shown_curation AS (
    SELECT user_id, array_agg(item_id ORDER BY pos) AS items FROM curation GROUP BY user_id
),

shown_history AS (
    SELECT
        h.user_id,
        array_agg(h.item_id ORDER BY h.recency) AS items,
        array_agg(h.last_ts ORDER BY h.recency) AS ts
    FROM history_pairs AS h
    JOIN heavy AS v ON v.user_id = h.user_id
    WHERE h.recency <= {{ shown_items }}
    GROUP BY h.user_id
),

-- The truth minus re-watches (items already in the user's history): the new-to-user evaluation's truth.
truth_new AS (
    SELECT r.user_id, array_sort(array_agg(DISTINCT r.item_id)) AS items
    FROM run_interactions AS r
    JOIN shown AS s ON s.user_id = r.user_id
    LEFT JOIN history_pairs AS h ON h.user_id = r.user_id AND h.item_id = r.item_id
    WHERE r.ts >= {{ cutoff_epoch }} AND r.ts < {{ end_epoch }} AND h.item_id IS NULL
    GROUP BY r.user_id
)

SELECT
    s.user_id,
    s.user_id IN (SELECT user_id FROM sample) AS sampled,
    v.heavy_rank,
    COALESCE(u.interactions, 0) AS history_interactions,
    t.items AS truth,
    n.items AS truth_new,
    c.items AS curation,
    COALESCE(k.picked, 0) AS curation_picked,
    p.items AS personalize,
    h.items AS history_items,
    h.ts AS history_ts
FROM shown AS s
LEFT JOIN heavy AS v ON v.user_id = s.user_id
LEFT JOIN history_users AS u ON u.user_id = s.user_id
LEFT JOIN truth AS t ON t.user_id = s.user_id
LEFT JOIN truth_new AS n ON n.user_id = s.user_id
LEFT JOIN shown_curation AS c ON c.user_id = s.user_id
-- How many leading curation items came from the neighbours (the rest is the popularity fallback).
LEFT JOIN (SELECT user_id, count(*) AS picked FROM picked GROUP BY user_id) AS k ON k.user_id = s.user_id
LEFT JOIN personalize_lists AS p ON p.user_id = s.user_id
LEFT JOIN shown_history AS h ON h.user_id = s.user_id
