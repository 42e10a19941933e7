-- The popularity list (every user gets the same one): the first list_length items by distinct users. Deeper by
-- baseline_history_items: the open baseline fills a short list with the popular items the user has not seen
-- (report_history holds at most that many per user), so it may need that many more.
WITH
{{ base }}
SELECT item_id, popularity_rank
FROM popularity
WHERE popularity_rank <= {{ list_length }} + {{ baseline_history_items }}
