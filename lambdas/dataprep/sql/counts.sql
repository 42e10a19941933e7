-- One row for the minimum-data guard and the run report. dropped_* cover the whole window (all countries):
-- a row without a user id or with an unknown locale cannot be attributed to a country.
WITH
{{ base }},
-- Drops over every country (a row without a user cannot be attributed to one), from the window's per-file counts;
-- the country's kept rows (duplicates included) from its per-partition counts.
event_drops AS (
    SELECT
        COALESCE(sum(row_count) FILTER (WHERE drop_reason = 'missing_ids'), 0) AS dropped_missing_ids,
        COALESCE(sum(row_count) FILTER (WHERE drop_reason = 'unparsable_timestamp'), 0) AS dropped_unparsable_timestamp,
        COALESCE(sum(row_count) FILTER (WHERE drop_reason = 'unknown_country'), 0) AS dropped_unknown_country
    FROM window_rows
    WHERE part = {{ part_files }}
),
country_days AS (
    SELECT
        COALESCE(sum(row_count), 0) AS country_rows,
        -- The country's rows in the window's last two partitions: data yesterday and none today is a failed export.
        COALESCE(sum(row_count) FILTER (WHERE dt = {{ last_day }}), 0) AS last_day_rows,
        COALESCE(sum(row_count) FILTER (WHERE dt = {{ day_before }}), 0) AS day_before_rows
    FROM window_rows
    WHERE part = {{ part_days }}
),
-- Per user and per item in one pass over the interactions (grouping(user_id, item_id): 1 = per user, 2 = per item):
-- each reference to a CTE is a scan of its table on Athena.
interaction_groups AS (
    SELECT user_id, item_id, count(*) AS n, max(first_dt) AS last_dt, grouping(user_id, item_id) AS grouping_set
    FROM interactions
    GROUP BY GROUPING SETS ((user_id), (item_id))
),
user_totals AS (
    SELECT
        COALESCE(sum(n) FILTER (WHERE grouping_set = 1), 0) AS interactions,
        count_if(grouping_set = 1) AS users,
        count_if(grouping_set = 1 AND n >= 2) AS users_with_2_interactions,
        count_if(grouping_set = 1 AND last_dt >= {{ changes_since }}) AS changed_users,
        count_if(grouping_set = 2) AS interacted_items
    FROM interaction_groups
),
new_totals AS (
    SELECT count(*) AS new_interactions FROM new_interactions
),
catalog_totals AS (
    SELECT count(*) AS items, count_if(unmapped_genres > 0) AS items_with_unmapped_genre FROM catalog
),
content_drops AS (
    SELECT count_if(creation_ts IS NULL OR creation_ts NOT BETWEEN 946684800 AND 4102444799) AS items_dropped_unparsable_timestamp
    FROM parsed_items
),
country_users AS (
    SELECT count(*) AS country_users FROM latest_users WHERE country = {{ country }}
)
SELECT
    t.interactions,
    t.users,
    t.users_with_2_interactions,
    c.items,
    t.interacted_items,
    u.country_users,
    t.changed_users,
    n.new_interactions,
    k.country_rows - t.interactions AS duplicates_removed,
    d.dropped_missing_ids,
    d.dropped_unparsable_timestamp,
    d.dropped_unknown_country,
    x.items_dropped_unparsable_timestamp,
    c.items_with_unmapped_genre,
    k.last_day_rows,
    k.day_before_rows
FROM user_totals AS t
CROSS JOIN new_totals AS n
CROSS JOIN event_drops AS d
CROSS JOIN country_days AS k
CROSS JOIN catalog_totals AS c
CROSS JOIN content_drops AS x
CROSS JOIN country_users AS u
