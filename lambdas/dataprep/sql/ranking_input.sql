-- Personalized-ranking batch input: for each changed user (interactions first seen since the last run), the
-- newest items of the prepared catalogue to rank. The catalogue is shared by every country (items.sql), so is
-- this list: items released in the window (CREATION_TIMESTAMP in [window_start, run_date) midnight UTC),
-- newest first, ties by id, at most `ranking_candidates` (a validated parameter). With no such item there is
-- nothing to rank: the output is empty rather than lines with an empty list.
WITH
{{ base }},
candidates AS (
    SELECT item_id, creation_ts
    FROM catalog
    WHERE creation_ts >= {{ window_start_epoch }} AND creation_ts < {{ run_date_epoch }}
    ORDER BY creation_ts DESC, item_id
    LIMIT {{ ranking_candidates }}
),
candidate_list AS (
    -- NULL when there is no candidate (an aggregate over no rows).
    SELECT array_agg(item_id ORDER BY creation_ts DESC, item_id) AS item_ids
    FROM candidates
)
SELECT u.user_id AS "USER_ID", c.item_ids AS "ITEM_LIST"
FROM (SELECT DISTINCT user_id FROM new_interactions) AS u
CROSS JOIN candidate_list AS c
WHERE c.item_ids IS NOT NULL
