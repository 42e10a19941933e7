-- The popularity list (every user gets the same one): the first list_length items by distinct users.
WITH
{{ base }}
SELECT item_id, popularity_rank
FROM popularity
WHERE popularity_rank <= {{ list_length }}
