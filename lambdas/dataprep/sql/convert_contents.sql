-- convert_contents.sql: contents export days into contents_parsed (dataprep.columnar), raw strings kept like users.
SELECT item_id, title, genre, created_at, file, {{ byte_problem(row_text) }} AS byte_problem, dt
FROM (
    SELECT
        item_id, title, genre, created_at, "$path" AS file,
        COALESCE(item_id, '') || COALESCE(title, '') || COALESCE(genre, '') || COALESCE(created_at, '') AS row_text,
        dt
    FROM contents
    WHERE dt IN ({{ days }})
) AS r
