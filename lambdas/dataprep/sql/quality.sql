-- quality.sql: data quality of the raw files one run reads (docs/data-layout.md, "Data quality"): one row per table
-- (row_kind 'table', file NULL: every file summed) and one per file with a problem (row_kind 'file', worst
-- first, at most {{ max_listed_files }}).
--   lines            CSV records after the header (<table>_lines: each physical line, no CSV parsing). A line break
--                    inside a quoted field does not end a record: a record spanning two lines has an odd number of
--                    quotes on each of them, so every such pair of lines counts once. (No engine gives a line's
--                    position, so a field with several line breaks counts its middle lines as lines of their own.)
--   rows_read        rows the CSV reader produced from the file
--   malformed_lines  records that are not exactly one well-formed CSV line with the table's field count (a
--                    record spanning lines is one: Athena's CSV SerDe reads no line break inside a field); lines
--                    holding a bad byte are not counted here but as the row's invalid_utf8 / control_character
-- A file is not fully read when rows_read <> lines or a line is malformed: an unclosed quote makes DuckDB's
-- reader swallow the rest of the file and gives Athena's line-based SerDe a garbled row. "$path" is Athena's
-- pseudo-column naming a row's S3 object; the local runner gives its tables the same column.
-- Event drops are counted over every country (a row without a user cannot be attributed to one); kept_country
-- is this run's country. Duplicates: exact copies of an earlier row (earliest partition, then file, wins).
WITH
{{ base }},
raw_lines AS (
    SELECT
        'purchases' AS source_table, "$path" AS file, line, line_rest,
        regexp_like(line, {{ purchases_record }}) AS well_formed
    FROM purchases_lines
    WHERE dt >= {{ window_start }} AND dt < {{ run_date }}
    UNION ALL
    SELECT
        'views' AS source_table, "$path" AS file, line, line_rest,
        regexp_like(line, {{ views_record }}) AS well_formed
    FROM views_lines
    WHERE dt >= {{ window_start }} AND dt < {{ run_date }}
    UNION ALL
    SELECT
        'users' AS source_table, "$path" AS file, line, line_rest,
        regexp_like(line, {{ users_record }}) AS well_formed
    FROM users_lines
    WHERE dt < {{ run_date }}
    UNION ALL
    SELECT
        'contents' AS source_table, "$path" AS file, line, line_rest,
        regexp_like(line, {{ contents_record }}) AS well_formed
    FROM contents_lines
    WHERE dt < {{ run_date }}
),
checked_lines AS (
    SELECT
        source_table,
        file,
        well_formed,
        -- Text after a \x01 is the lines table's second column: the line held a control byte.
        CASE WHEN line_rest IS NOT NULL THEN 'control_character' ELSE {{ byte_problem(line) }} END AS byte_problem,
        (length(line) - length(replace(line, '"', ''))) % 2 = 1 AS odd_quotes
    FROM raw_lines
),
line_counts AS (
    SELECT
        source_table,
        file,
        count(*) AS physical_lines,
        count_if(byte_problem IS NULL AND NOT COALESCE(well_formed, false)) AS malformed_physical_lines,
        -- Lines that continue a record: one per pair of odd-quote lines (those are never well-formed).
        CAST(floor(count_if(byte_problem IS NULL AND odd_quotes) / 2.0) AS BIGINT) AS continuation_lines
    FROM checked_lines
    GROUP BY source_table, file
),
file_lines AS (
    SELECT
        source_table,
        file,
        physical_lines - continuation_lines AS lines,
        malformed_physical_lines - continuation_lines AS malformed_lines
    FROM line_counts
),
numbered_events AS (
    SELECT
        CASE WHEN event_type = {{ purchase_event }} THEN 'purchases' ELSE 'views' END AS source_table,
        file,
        drop_reason,
        country,
        item_id,
        row_number() OVER (
            PARTITION BY drop_reason, user_id, item_id, ts, event_type, event_value ORDER BY dt, file
        ) AS copy
    FROM classified_events
),
event_files AS (
    SELECT
        e.source_table,
        e.file,
        count(*) AS rows_read,
        count_if(e.drop_reason = 'invalid_utf8') AS dropped_invalid_utf8,
        count_if(e.drop_reason = 'control_character') AS dropped_control_character,
        count_if(e.drop_reason = 'missing_ids') AS dropped_missing_ids,
        count_if(e.drop_reason = 'unknown_country') AS dropped_unknown_country,
        count_if(e.drop_reason = 'unparsable_timestamp') AS dropped_unparsable_timestamp,
        count_if(e.drop_reason IS NULL AND e.copy > 1) AS dropped_duplicate,
        count_if(e.drop_reason IS NULL AND e.copy = 1) AS kept,
        count_if(e.drop_reason IS NULL AND e.copy = 1 AND e.country = {{ country }}) AS kept_country,
        count_if(e.drop_reason IS NULL AND e.copy = 1 AND c.item_id IS NULL) AS unknown_item
    FROM numbered_events AS e
    LEFT JOIN catalog AS c ON c.item_id = e.item_id
    GROUP BY e.source_table, e.file
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
