-- convert_files.sql: the line-based half of the data quality (docs/data-layout.md, "Data quality"), counted once per
-- raw file when its day is converted, into <table>_files: one row per file with
--   lines            CSV records after the header (<table>_lines: each physical line, no CSV parsing). A line break
--                    inside a quoted field does not end a record: a record spanning two lines has an odd number of
--                    quotes on each of them, so every such pair of lines counts once. (No engine gives a line's
--                    position, so a field with several line breaks counts its middle lines as lines of their own.)
--   malformed_lines  records that are not exactly one well-formed CSV line with the table's field count (a
--                    record spanning lines is one: Athena's CSV SerDe reads no line break inside a field); lines
--                    holding a bad byte are not counted here but as the row's invalid_utf8 / control_character
--   rows_read        rows the CSV reader produced from the file
-- {{ table }} / {{ lines_table }} / {{ record }} are fixed by dataprep.queries (RAW_TABLES), never user input.
WITH
checked_lines AS (
    SELECT
        dt,
        "$path" AS file,
        regexp_like(line, {{ record }}) AS well_formed,
        -- Text after a \x01 is the lines table's second column: the line held a control byte.
        CASE WHEN line_rest IS NOT NULL THEN 'control_character' ELSE {{ byte_problem(line) }} END AS byte_problem,
        (length(line) - length(replace(line, '"', ''))) % 2 = 1 AS odd_quotes
    FROM {{ lines_table }}
    WHERE dt IN ({{ days }})
),
line_counts AS (
    SELECT
        dt,
        file,
        count(*) AS physical_lines,
        count_if(byte_problem IS NULL AND NOT COALESCE(well_formed, false)) AS malformed_physical_lines,
        -- Lines that continue a record: one per pair of odd-quote lines (those are never well-formed).
        CAST(floor(count_if(byte_problem IS NULL AND odd_quotes) / 2.0) AS BIGINT) AS continuation_lines
    FROM checked_lines
    GROUP BY dt, file
),
file_rows AS (
    SELECT dt, "$path" AS file, count(*) AS rows_read
    FROM {{ table }}
    WHERE dt IN ({{ days }})
    GROUP BY dt, "$path"
)
SELECT
    l.file,
    l.physical_lines - l.continuation_lines AS lines,
    l.malformed_physical_lines - l.continuation_lines AS malformed_lines,
    COALESCE(r.rows_read, 0) AS rows_read,
    l.dt
FROM line_counts AS l
LEFT JOIN file_rows AS r ON r.dt = l.dt AND r.file = l.file
