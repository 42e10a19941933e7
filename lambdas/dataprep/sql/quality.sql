-- quality.sql: data quality of the raw files one run reads (docs/data-layout.md, "Data quality"): one row per table
-- (row_kind 'table', file NULL: every file summed) and one per file with a problem (row_kind 'file', worst
-- first, at most {{ max_listed_files }}).
--   lines, malformed_lines  counted once per file when its day was converted (convert_files.sql, <table>_files)
--   rows_read and drops     events from the run window (window.sql: per file and drop reason, and each interaction
--                           in the file of its first copy); users and contents from their columnar days
-- A file is not fully read when rows_read <> lines or a line is malformed: an unclosed quote makes DuckDB's
-- reader swallow the rest of the file and gives Athena's line-based SerDe a garbled row. `file` is the raw object
-- (Athena's "$path" pseudo-column when the day was converted; the raw file's path locally).
-- Event drops are counted over every country (a row without a user cannot be attributed to one); kept_country
-- is this run's country. Duplicates: exact copies of an earlier row (earliest partition, then file, wins).
WITH
{{ base }},
-- Records and malformed records per file, counted once when the file's day was converted (convert_files.sql).
file_lines AS (
    SELECT 'purchases' AS source_table, file, lines, malformed_lines
    FROM purchases_files
    WHERE dt >= {{ window_start }} AND dt < {{ run_date }}
    UNION ALL
    SELECT 'views' AS source_table, file, lines, malformed_lines
    FROM views_files
    WHERE dt >= {{ window_start }} AND dt < {{ run_date }}
    UNION ALL
    SELECT 'users' AS source_table, file, lines, malformed_lines
    FROM users_files
    WHERE dt < {{ run_date }}
    UNION ALL
    SELECT 'contents' AS source_table, file, lines, malformed_lines
    FROM contents_files
    WHERE dt < {{ run_date }}
),
-- Events per file from the run window: rows per drop reason (NULL = kept, copies included) ...
event_rows AS (
    SELECT
        source_table,
        file,
        sum(row_count) AS rows_read,
        COALESCE(sum(row_count) FILTER (WHERE drop_reason = 'invalid_utf8'), 0) AS dropped_invalid_utf8,
        COALESCE(sum(row_count) FILTER (WHERE drop_reason = 'control_character'), 0) AS dropped_control_character,
        COALESCE(sum(row_count) FILTER (WHERE drop_reason = 'missing_ids'), 0) AS dropped_missing_ids,
        COALESCE(sum(row_count) FILTER (WHERE drop_reason = 'unknown_country'), 0) AS dropped_unknown_country,
        COALESCE(sum(row_count) FILTER (WHERE drop_reason = 'unparsable_timestamp'), 0) AS dropped_unparsable_timestamp,
        COALESCE(sum(row_count) FILTER (WHERE drop_reason IS NULL), 0) AS kept_rows
    FROM window_rows
    WHERE part = {{ part_files }}
    GROUP BY source_table, file
),
-- ... and each interaction once, in the file of its first copy (earliest partition, then file): a kept row that is
-- not the first copy of its interaction is a duplicate.
first_copies AS (
    SELECT
        CASE WHEN w.event_type = {{ purchase_event }} THEN 'purchases' ELSE 'views' END AS source_table,
        w.file,
        count(*) AS kept,
        count_if(w.part <> {{ part_other }}) AS kept_country,
        count_if(c.item_id IS NULL) AS unknown_item
    FROM window_rows AS w
    LEFT JOIN catalog AS c ON c.item_id = w.item_id
    WHERE w.part IN ({{ part_new }}, {{ part_changed }}, {{ part_old }}, {{ part_other }})
    GROUP BY 1, 2
),
event_files AS (
    SELECT
        r.source_table,
        r.file,
        r.rows_read,
        r.dropped_invalid_utf8,
        r.dropped_control_character,
        r.dropped_missing_ids,
        r.dropped_unknown_country,
        r.dropped_unparsable_timestamp,
        r.kept_rows - COALESCE(f.kept, 0) AS dropped_duplicate,
        COALESCE(f.kept, 0) AS kept,
        COALESCE(f.kept_country, 0) AS kept_country,
        COALESCE(f.unknown_item, 0) AS unknown_item
    FROM event_rows AS r
    LEFT JOIN first_copies AS f ON f.source_table = r.source_table AND f.file = r.file
),
user_files AS (
    SELECT
        'users' AS source_table,
        file,
        count(*) AS rows_read,
        count_if(byte_problem = 'invalid_utf8') AS dropped_invalid_utf8,
        count_if(byte_problem = 'control_character') AS dropped_control_character,
        count_if(byte_problem IS NULL AND NULLIF(TRIM(user_id), '') IS NULL) AS dropped_missing_ids,
        count_if(byte_problem IS NULL AND NULLIF(TRIM(user_id), '') IS NOT NULL) AS kept,
        count_if(
            byte_problem IS NULL
            AND NULLIF(TRIM(user_id), '') IS NOT NULL
            AND regexp_like(TRIM(locale), '^[A-Za-z]{2,3}[_-][A-Za-z]{2}$')
            AND upper(substr(TRIM(locale), -2)) = {{ country }}
        ) AS kept_country
    FROM raw_users
    GROUP BY file
),
content_rows AS (
    SELECT file, byte_problem, NULLIF(TRIM(item_id), '') AS item_id, TRIM(created_at) AS created_raw
    FROM raw_contents
),
content_files AS (
    SELECT
        'contents' AS source_table,
        file,
        count(*) AS rows_read,
        count_if(byte_problem = 'invalid_utf8') AS dropped_invalid_utf8,
        count_if(byte_problem = 'control_character') AS dropped_control_character,
        count_if(byte_problem IS NULL AND item_id IS NULL) AS dropped_missing_ids,
        count_if(
            byte_problem IS NULL AND item_id IS NOT NULL
            AND COALESCE({{ epoch_seconds(created_raw) }} NOT BETWEEN 946684800 AND 4102444799, true)
        ) AS dropped_unparsable_timestamp,
        count_if(
            byte_problem IS NULL AND item_id IS NOT NULL
            AND COALESCE({{ epoch_seconds(created_raw) }} BETWEEN 946684800 AND 4102444799, false)
        ) AS kept
    FROM content_rows
    GROUP BY file
),
file_drops AS (
    SELECT
        source_table, file, rows_read, dropped_invalid_utf8, dropped_control_character, dropped_missing_ids,
        dropped_unknown_country, dropped_unparsable_timestamp, dropped_duplicate, kept, kept_country, unknown_item
    FROM event_files
    UNION ALL
    SELECT
        source_table, file, rows_read, dropped_invalid_utf8, dropped_control_character, dropped_missing_ids, 0, 0, 0,
        kept, kept_country, 0
    FROM user_files
    UNION ALL
    SELECT
        source_table, file, rows_read, dropped_invalid_utf8, dropped_control_character, dropped_missing_ids, 0,
        dropped_unparsable_timestamp, 0, kept, kept, 0
    FROM content_files
),
per_file AS (
    SELECT
        l.source_table,
        l.file,
        l.lines,
        COALESCE(d.rows_read, 0) AS rows_read,
        l.malformed_lines,
        COALESCE(d.kept, 0) AS kept,
        COALESCE(d.kept_country, 0) AS kept_country,
        COALESCE(d.dropped_invalid_utf8, 0) AS dropped_invalid_utf8,
        COALESCE(d.dropped_control_character, 0) AS dropped_control_character,
        COALESCE(d.dropped_missing_ids, 0) AS dropped_missing_ids,
        COALESCE(d.dropped_unknown_country, 0) AS dropped_unknown_country,
        COALESCE(d.dropped_unparsable_timestamp, 0) AS dropped_unparsable_timestamp,
        COALESCE(d.dropped_duplicate, 0) AS dropped_duplicate,
        COALESCE(d.unknown_item, 0) AS unknown_item,
        -- Rows lost to the CSV reader: lines it never turned into rows, or at least every malformed line.
        greatest(l.lines - COALESCE(d.rows_read, 0), l.malformed_lines) AS dropped_malformed_csv,
        CASE WHEN COALESCE(d.rows_read, 0) <> l.lines OR l.malformed_lines > 0 THEN 1 ELSE 0 END AS not_fully_read
    FROM file_lines AS l
    LEFT JOIN file_drops AS d ON d.source_table = l.source_table AND d.file = l.file
),
ranked_files AS (
    SELECT
        *,
        row_number() OVER (
            ORDER BY not_fully_read DESC, dropped_malformed_csv DESC,
                dropped_invalid_utf8 + dropped_control_character + dropped_missing_ids + dropped_unknown_country
                    + dropped_unparsable_timestamp DESC,
                abs(lines - rows_read) DESC, file
        ) AS file_rank
    FROM per_file
    WHERE not_fully_read = 1
        OR dropped_invalid_utf8 + dropped_control_character + dropped_missing_ids + dropped_unknown_country
            + dropped_unparsable_timestamp > 0
)
SELECT
    'table' AS row_kind,
    source_table,
    CAST(NULL AS VARCHAR) AS file,
    count(*) AS files,
    sum(lines) AS lines,
    sum(rows_read) AS rows_read,
    sum(malformed_lines) AS malformed_lines,
    sum(kept) AS kept,
    sum(kept_country) AS kept_country,
    sum(dropped_invalid_utf8) AS dropped_invalid_utf8,
    sum(dropped_control_character) AS dropped_control_character,
    sum(dropped_missing_ids) AS dropped_missing_ids,
    sum(dropped_unknown_country) AS dropped_unknown_country,
    sum(dropped_unparsable_timestamp) AS dropped_unparsable_timestamp,
    sum(dropped_duplicate) AS dropped_duplicate,
    sum(unknown_item) AS unknown_item,
    sum(dropped_malformed_csv) AS dropped_malformed_csv,
    sum(not_fully_read) AS not_fully_read
FROM per_file
GROUP BY source_table
UNION ALL
SELECT
    'file' AS row_kind,
    source_table,
    file,
    1 AS files,
    lines,
    rows_read,
    malformed_lines,
    kept,
    kept_country,
    dropped_invalid_utf8,
    dropped_control_character,
    dropped_missing_ids,
    dropped_unknown_country,
    dropped_unparsable_timestamp,
    dropped_duplicate,
    unknown_item,
    dropped_malformed_csv,
    not_fully_read
FROM ranked_files
WHERE file_rank <= {{ max_listed_files }}
