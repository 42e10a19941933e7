-- The open baseline's training history (evaluation.open_baseline, trained in the report step's Lambda): one row
-- per training user with the distinct items of their history (before the cutoff), newest first, and how many
-- distinct items the whole history holds. The baseline trains on binary (user, item) cells, so no count or
-- weight is needed. Bounded (evaluation.queries explains the defaults): at most baseline_history_items items per user; every shown user (the sample and the heavy users,
-- whose lists are scored and shown), then the other users with history in md5 order (the sample's draw) while
-- the running total of pairs stays within baseline_training_pairs. So the output holds at most
-- max(baseline_training_pairs, shown users x baseline_history_items) pairs, whatever the country's size.
-- `older_items`: a shown user's titles older than their newest baseline_history_items, not trained on but kept
-- out of their list (every seen title is, as the curation's), for shown users in md5 order while the running
-- total of such titles stays within baseline_excluded_pairs; NULL for the others (the page counts those).
WITH
{{ base }},

user_pairs AS (
    SELECT user_id, count(*) AS distinct_items, least(count(*), {{ baseline_history_items }}) AS pairs
    FROM history_pairs
    GROUP BY user_id
),

drawn AS (
    SELECT
        p.user_id, p.distinct_items,
        s.user_id IS NOT NULL AS shown,
        sum(p.pairs) OVER (
            ORDER BY CASE WHEN s.user_id IS NULL THEN 1 ELSE 0 END, lower(to_hex(md5(to_utf8(p.user_id)))), p.user_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS running_pairs
    FROM user_pairs AS p
    LEFT JOIN shown AS s ON s.user_id = p.user_id
),

excluded_users AS (
    SELECT user_id
    FROM (
        SELECT
            p.user_id,
            sum(p.distinct_items - p.pairs) OVER (
                ORDER BY lower(to_hex(md5(to_utf8(p.user_id)))), p.user_id
                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
            ) AS running_excluded
        FROM user_pairs AS p
        JOIN shown AS s ON s.user_id = p.user_id
        WHERE p.distinct_items > p.pairs
    ) AS ranked
    WHERE running_excluded <= {{ baseline_excluded_pairs }}
),

older AS (
    SELECT h.user_id, array_agg(h.item_id ORDER BY h.recency) AS older_items
    FROM history_pairs AS h
    JOIN excluded_users AS e ON e.user_id = h.user_id
    WHERE h.recency > {{ baseline_history_items }}
    GROUP BY h.user_id
),

trained AS (
    SELECT h.user_id, d.shown, d.distinct_items, array_agg(h.item_id ORDER BY h.recency) AS items
    FROM history_pairs AS h
    JOIN drawn AS d ON d.user_id = h.user_id
    WHERE h.recency <= {{ baseline_history_items }} AND (d.shown OR d.running_pairs <= {{ baseline_training_pairs }})
    GROUP BY h.user_id, d.shown, d.distinct_items
)

SELECT t.user_id, t.shown, t.distinct_items, t.items, o.older_items
FROM trained AS t
LEFT JOIN older AS o ON o.user_id = t.user_id
