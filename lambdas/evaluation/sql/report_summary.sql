-- One row of counts behind the report's figures (over every user, not only the sample); every ratio is taken in
-- evaluation.sql_report from these integers, so the figures equal the in-memory reference's exactly.
WITH
{{ base }},

run_users AS (
    SELECT user_id
    FROM prepared_users
    WHERE country = {{ country }} AND run_date = {{ run_date }} AND execution = {{ execution }}
        AND attempt = {{ attempt }}
    UNION
    SELECT user_id FROM run_interactions
),

catalog_items AS (
    SELECT item_id, CAST("creation_timestamp" AS BIGINT) AS created
    FROM prepared_items
    WHERE country = {{ country }} AND run_date = {{ run_date }} AND execution = {{ execution }}
        AND attempt = {{ attempt }}
),

new_items AS (
    SELECT DISTINCT item_id FROM catalog_items WHERE created BETWEEN {{ fresh_from_epoch }} AND {{ end_epoch }}
),

-- Personalize's lists for users without history: how many users, how many distinct lists, the largest group.
personalize_cold AS (
    SELECT count(*) AS lists, sum(users) AS users, max(users) AS most_common
    FROM (
        SELECT slice(p.items, 1, {{ metric_depth }}) AS list, count(*) AS users
        FROM personalize_lists AS p
        LEFT JOIN history_users AS u ON u.user_id = p.user_id
        WHERE u.user_id IS NULL
        GROUP BY slice(p.items, 1, {{ metric_depth }})
    ) AS groups
),

batch_lines AS (
    SELECT
        count(*) AS lines,
        count_if(user_id IS NOT NULL AND COALESCE(error, '') <> '') AS error_lines,
        count_if(user_id IS NULL OR (COALESCE(error, '') = '' AND items IS NULL)) AS malformed_lines
    FROM batch_records
),

truth_pairs AS (
    SELECT count(*) AS pairs, count(h.item_id) AS repeats
    FROM truth AS t
    CROSS JOIN UNNEST(t.items) AS x (item_id)
    LEFT JOIN history_pairs AS h ON h.user_id = t.user_id AND h.item_id = x.item_id
)

SELECT
    (SELECT count(*) FROM run_interactions) AS interactions,
    (SELECT count(*) FROM history) AS history_interactions,
    (SELECT count(*) FROM run_interactions WHERE ts >= {{ cutoff_epoch }} AND ts < {{ end_epoch }})
        AS truth_interactions,
    (SELECT min(ts) FROM run_interactions) AS first_ts,
    (SELECT count(*) FROM run_users) AS users,
    (SELECT count(*) FROM (SELECT item_id FROM catalog_items UNION SELECT item_id FROM run_interactions) AS c)
        AS items,
    (SELECT count(*) FROM history_users) AS history_users,
    (SELECT count(DISTINCT user_id) FROM run_interactions WHERE ts < {{ end_epoch }}) AS window_users,
    (SELECT count(*) FROM new_items) AS new_items,
    (SELECT count(*) FROM truth) AS truth_users,
    (SELECT count(*) FROM evaluable) AS evaluable_users,
    (SELECT count(*) FROM sample) AS sampled_users,
    (SELECT count(*) FROM personalize_lists) AS personalize_users,
    (SELECT count(*) FROM popularity) AS popular_items,
    (SELECT pairs FROM truth_pairs) AS truth_pairs,
    (SELECT repeats FROM truth_pairs) AS truth_repeats,
    (SELECT lists FROM personalize_cold) AS personalize_cold_lists,
    (SELECT users FROM personalize_cold) AS personalize_cold_users,
    (SELECT most_common FROM personalize_cold) AS personalize_cold_most_common,
    (SELECT lines FROM batch_lines) AS batch_lines,
    (SELECT error_lines FROM batch_lines) AS batch_error_lines,
    (SELECT malformed_lines FROM batch_lines) AS batch_malformed_lines
