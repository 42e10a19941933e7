-- Epoch seconds (BIGINT) of one trimmed raw timestamp string, or NULL when its format is not accepted:
--   epoch seconds (9-10 digits); epoch milliseconds (12-13 digits, truncated to seconds);
--   ISO 8601 YYYY-MM-DD[(T| )hh:mm:ss[.fraction][Z|+hh:mm|-hh:mm|+hhmm|-hhmm]], no zone = UTC,
--   date only = midnight UTC.
-- TRY() turns a regex-valid but impossible date (2025-02-30) into NULL instead of failing the whole Athena
-- query. The caller applies the plausible-range check (docs/data-layout.md).
-- {{ value }} is a column name fixed by dataprep.queries, never user input.
CASE
    WHEN regexp_like({{ value }}, '^[0-9]{9,10}$') THEN CAST({{ value }} AS BIGINT)
    WHEN regexp_like({{ value }}, '^[0-9]{12,13}$')
        THEN CAST(substr({{ value }}, 1, length({{ value }}) - 3) AS BIGINT)
    WHEN regexp_like(
        {{ value }},
        '^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$'
    )
        THEN CAST(floor(to_unixtime(TRY(date_parse(
            substr({{ value }}, 1, 10) || ' '
            || CASE WHEN length({{ value }}) >= 19 THEN substr({{ value }}, 12, 8) ELSE '00:00:00' END,
            '%Y-%m-%d %H:%i:%s'
        )))) AS BIGINT)
        - CASE
            WHEN length({{ value }}) > 19 AND regexp_like({{ value }}, '[+-][0-9]{2}:?[0-9]{2}$')
                THEN (CASE WHEN regexp_extract({{ value }}, '([+-])([0-9]{2}):?([0-9]{2})$', 1) = '-' THEN -1 ELSE 1 END)
                    * (CAST(regexp_extract({{ value }}, '([+-])([0-9]{2}):?([0-9]{2})$', 2) AS BIGINT) * 3600
                       + CAST(regexp_extract({{ value }}, '([+-])([0-9]{2}):?([0-9]{2})$', 3) AS BIGINT) * 60)
            ELSE 0
        END
END
