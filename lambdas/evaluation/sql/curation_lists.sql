-- The legacy curation's list of every curated user (the changed users, or all on a full-batch day: `curated_users`),
-- over the whole window: one row {user_id, item_ids} per user, best first. The Publish step loads them as the
-- read model's CURATION#<run_date> items (pipeline.publishing); the definition is the report's (`curation`).
WITH
{{ base }}
SELECT user_id, array_agg(item_id ORDER BY pos) AS item_ids
FROM curation
GROUP BY user_id
