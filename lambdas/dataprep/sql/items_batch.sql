-- Input of the similar-items batch job: every item of the prepared catalogue.
WITH
{{ base }}
SELECT item_id AS "ITEM_ID"
FROM catalog
