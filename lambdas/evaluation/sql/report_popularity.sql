-- The popularity list (every user gets the same one): the first list_length items by distinct users. Deeper by
-- baseline_history_items: the open baseline fills a short list with the popular items the user has not seen
-- (report_history holds at most that many per user), so it may need that many more. `users` and `last_ts` are the
-- first two sort keys: evaluation.ties takes the share of slots the tie rule decided from them.
WITH
{{ base }}
SELECT item_id, popularity_rank, users, last_ts
FROM popularity
WHERE popularity_rank <= {{ list_length }} + {{ baseline_history_items }}
