-- window.sql: the run window (dataprep.columnar.WINDOW_TABLE), written once per run attempt as Parquet partitioned by
-- `part`. It reads the window's columnar days once, classifies every row as the preparation always has, and keeps
-- what the outputs, the counts, the data quality and the report need:
--   new / changed / old  the run's country's interactions, deduplicated, by the partition that first carried them
--                        ([import_since, run_date) / [changes_since, import_since) / earlier), with the copies and
--                        the file of the first copy (earliest partition, then file)
--   other                the same for every other country (the per-file quality counts every country's rows)
--   files                rows per source table, file and drop reason (NULL = kept, duplicates included)
--   days                 the country's kept rows per partition (duplicates included)
-- One scan with three grouping sets: Athena bills the bytes each table scan reads, and a CTE referenced twice is
-- scanned twice, so the three aggregates share one GROUP BY. Rows are written in user order: UNLOAD's page, "If the
-- SELECT query in the UNLOAD statement specifies a sort order, each file's contents are in sorted order", and a
-- sorted user_id column is a few runs per file in Parquet, so the outputs that read only users scan little.
WITH
{{ upserts }},

-- Only the window's partitions: a plain range on the dt partition column, which Athena prunes.
raw_events AS (
    SELECT user_id, item_id, ts, {{ purchase_event }} AS event_type, event_value, dt, file, byte_problem
    FROM purchases_parsed
    WHERE dt >= {{ window_start }} AND dt < {{ run_date }}
    UNION ALL
    SELECT user_id, item_id, ts, {{ view_event }} AS event_type, event_value, dt, file, byte_problem
    FROM views_parsed
    WHERE dt >= {{ window_start }} AND dt < {{ run_date }}
),

-- One reason per dropped row, first match wins: bytes (not UTF-8, control byte), ids, then country (user unknown or
-- locale unparsable), then time.
classified_events AS (
    SELECT
        e.user_id,
        e.item_id,
        e.ts,
        e.event_type,
        e.event_value,
        e.dt,
        e.file,
        u.country,
        CASE
            WHEN e.byte_problem IS NOT NULL THEN e.byte_problem
            WHEN e.user_id IS NULL OR e.item_id IS NULL THEN 'missing_ids'
            WHEN u.country IS NULL THEN 'unknown_country'
            WHEN e.ts IS NULL OR e.ts NOT BETWEEN 946684800 AND 4102444799 THEN 'unparsable_timestamp'
        END AS drop_reason
    FROM raw_events AS e
    LEFT JOIN latest_users AS u ON u.user_id = e.user_id
),

-- grouping(user_id, file, dt): 3 = per interaction, 5 = per file, 6 = per partition (a bit is 1 when its column is
-- not in the grouping set). dt is yyyy-MM-dd (the projection's and the local layout's format), so the smallest
-- dt || file is the first copy's partition followed by its file.
grouped AS (
    SELECT
        user_id, item_id, ts, event_type, event_value, country, file, dt, drop_reason,
        count(*) AS row_count,
        min(dt) AS first_dt,
        min(dt || file) AS first_copy,
        grouping(user_id, file, dt) AS grouping_set
    FROM classified_events
    GROUP BY GROUPING SETS (
        (drop_reason, user_id, item_id, ts, event_type, event_value, country),
        (drop_reason, event_type, file),
        (drop_reason, country, dt)
    )
),

parted AS (
    SELECT
        *,
        CASE
            WHEN grouping_set = 3 AND drop_reason IS NULL AND country = {{ country }} AND first_dt >= {{ import_since }}
                THEN {{ part_new }}
            WHEN grouping_set = 3 AND drop_reason IS NULL AND country = {{ country }} AND first_dt >= {{ changes_since }}
                THEN {{ part_changed }}
            WHEN grouping_set = 3 AND drop_reason IS NULL AND country = {{ country }} THEN {{ part_old }}
            WHEN grouping_set = 3 AND drop_reason IS NULL THEN {{ part_other }}
            WHEN grouping_set = 5 THEN {{ part_files }}
            WHEN grouping_set = 6 AND drop_reason IS NULL AND country = {{ country }} THEN {{ part_days }}
        END AS part
    FROM grouped
)

SELECT
    user_id,
    item_id,
    ts,
    event_type,
    event_value,
    CASE WHEN grouping_set = 3 THEN first_dt END AS first_dt,
    CASE WHEN grouping_set = 3 THEN row_count END AS copies,
    CASE WHEN grouping_set = 3 THEN substr(first_copy, length(first_dt) + 1) ELSE file END AS file,
    CASE
        WHEN grouping_set = 5 THEN CASE WHEN event_type = {{ purchase_event }} THEN 'purchases' ELSE 'views' END
    END AS source_table,
    CASE WHEN grouping_set = 5 THEN drop_reason END AS drop_reason,
    dt,
    CASE WHEN grouping_set <> 3 THEN row_count END AS row_count,
    part
FROM parted
WHERE part IS NOT NULL
ORDER BY user_id, item_id, ts
