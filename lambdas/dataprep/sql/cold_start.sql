-- The daily cold-start fallback (docs/personalize-behaviour.md item 6): one line per segment of the country's Users
-- metadata (locale x age group x gender) with the items most users of that segment interacted with in the window
-- (distinct users per item, ties by item id), so users without a batch list are not all given one list. A segment
-- with fewer than {{ cold_start_min_users }} active users gets the country's list instead (source 'country'); the
-- line with locale, age group and gender '*' is the country's list itself, for users without metadata.
-- cold_users: the segment's users without any interaction in the window (they get no batch list).
WITH
{{ base }},

segment_items AS (
    SELECT m.locale, m.age_group, m.gender, i.item_id, count(DISTINCT i.user_id) AS users
    FROM interactions AS i
    JOIN user_metadata AS m ON m.user_id = i.user_id
    GROUP BY m.locale, m.age_group, m.gender, i.item_id
),

segment_lists AS (
    SELECT
        locale, age_group, gender,
        array_agg(item_id ORDER BY users DESC, item_id) AS items
    FROM (
        SELECT
            locale, age_group, gender, item_id, users,
            row_number() OVER (PARTITION BY locale, age_group, gender ORDER BY users DESC, item_id) AS item_rank
        FROM segment_items
    ) AS ranked
    WHERE item_rank <= {{ cold_start_list_size }}
    GROUP BY locale, age_group, gender
),

country_list AS (
    SELECT array_agg(item_id ORDER BY users DESC, item_id) AS items
    FROM (
        SELECT item_id, users, row_number() OVER (ORDER BY users DESC, item_id) AS item_rank
        FROM (SELECT item_id, count(DISTINCT user_id) AS users FROM interactions GROUP BY item_id) AS per_item
    ) AS ranked
    WHERE item_rank <= {{ cold_start_list_size }}
),

segments AS (
    SELECT
        m.locale, m.age_group, m.gender,
        count(DISTINCT a.user_id) AS active_users,
        count(DISTINCT m.user_id) - count(DISTINCT a.user_id) AS cold_users
    FROM user_metadata AS m
    LEFT JOIN (SELECT DISTINCT user_id FROM interactions) AS a ON a.user_id = m.user_id
    GROUP BY m.locale, m.age_group, m.gender
)

SELECT
    s.locale AS "LOCALE",
    s.age_group AS "AGE_GROUP",
    s.gender AS "GENDER",
    CASE WHEN s.active_users >= {{ cold_start_min_users }} AND l.items IS NOT NULL THEN 'segment' ELSE 'country' END
        AS "SOURCE",
    CASE WHEN s.active_users >= {{ cold_start_min_users }} AND l.items IS NOT NULL THEN l.items ELSE c.items END
        AS "ITEM_IDS",
    s.cold_users AS "COLD_USERS"
FROM segments AS s
LEFT JOIN segment_lists AS l ON l.locale = s.locale AND l.age_group = s.age_group AND l.gender = s.gender
CROSS JOIN country_list AS c
WHERE c.items IS NOT NULL
UNION ALL
SELECT '*', '*', '*', 'country', items, 0
FROM country_list
WHERE items IS NOT NULL
