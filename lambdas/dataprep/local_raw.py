"""The raw exports as DuckDB tables, read the way Athena's tables read them.

One idea: loading raw days for the local conversion (dataprep.local_columnar). Each raw table is read by position
like Athena's OpenCSVSerDe (header skipped), with its `<table>_lines` twin (each physical line, split at \\x01 like
the Glue lines table's LazySimpleSerDe), both carrying the raw file's name as "$path".
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import duckdb

from dataprep.queries import (
    GENRE_MAPPING_COLUMNS,
    GENRE_MAPPING_TABLE,
    LINE_COLUMN,
    LINE_REST_COLUMN,
    RAW_TABLES,
    lines_table,
)


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _readable_mirror(raw_dir: Path, mirror: Path, days: dict[str, list[date]]) -> None:
    """Give `mirror` the raw layout: a link to every raw file that is UTF-8 and, for any other, a copy whose bytes
    that are not UTF-8 are decoded to U+FFFD (the replacement character). DuckDB's CSV reader stops the whole run at
    the first such byte; from the copy the row is read, and the SQL counts it as invalid_utf8 (_byte_problem.sql)."""
    for table, table_days in days.items():
        for path in (p for day in table_days for p in (raw_dir / table / f"dt={day}").glob("*.csv")):
            target = mirror / path.relative_to(raw_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            data = path.read_bytes()
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                target.write_bytes(data.decode("utf-8", errors="replace").encode("utf-8"))
            else:
                target.symlink_to(path.resolve())


def load_raw_days(con: duckdb.DuckDBPyConnection, raw_dir: Path, days: dict[str, list[date]]) -> None:
    """One table per raw export holding the given days, columns by position like Athena's OpenCSVSerDe (header
    skipped), plus its `<table>_lines` twin (each physical line, split at \\x01 like the Glue lines table's
    LazySimpleSerDe). Both carry the raw file's name as "$path", the column Athena's tables have as a pseudo-column,
    so the conversion SQL runs unchanged. Files are read through a mirror (_readable_mirror) so no byte stops the
    run."""
    with tempfile.TemporaryDirectory(prefix="raw-mirror-") as tmp:
        mirror = Path(tmp)
        _readable_mirror(raw_dir, mirror, days)
        # The mirror's path -> the raw file's path, for every name a quality line shows.
        raw_path = f"{_sql_text(str(raw_dir))} || substr(filename, {len(str(mirror)) + 1})"
        for table, columns in RAW_TABLES.items():
            _load_raw_table(con, table, columns, mirror, raw_path)


def load_genre_mapping(con: duckdb.DuckDBPyConnection, genre_mapping: Path) -> None:
    mapping_types = "{" + ", ".join(f"{_sql_text(c)}: 'VARCHAR'" for c in GENRE_MAPPING_COLUMNS) + "}"
    con.execute(
        f"""
        CREATE TABLE {GENRE_MAPPING_TABLE} AS
        SELECT * FROM read_csv(
            {_sql_text(str(genre_mapping))},
            auto_detect = false, header = true, delim = ',', columns = {mapping_types}
        )
        """
    )


def _load_raw_table(
    con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...], mirror: Path, raw_path: str
) -> None:
    lines = lines_table(table)
    con.execute(f'DROP TABLE IF EXISTS "{table}"')
    con.execute(f'DROP TABLE IF EXISTS "{lines}"')
    if not any((mirror / table).glob("dt=*/*.csv")):
        # A country or table with no export yet is data below the minimum, not an error.
        column_list = ", ".join(f'CAST(NULL AS VARCHAR) AS "{c}"' for c in (*columns, "dt", "$path"))
        con.execute(f'CREATE TABLE "{table}" AS SELECT {column_list} WHERE false')
        line_columns = (LINE_COLUMN, LINE_REST_COLUMN, "dt", "$path")
        con.execute(
            f'CREATE TABLE "{lines}" AS SELECT '
            + ", ".join(f'CAST(NULL AS VARCHAR) AS "{c}"' for c in line_columns)
            + " WHERE false"
        )
        return
    glob = _sql_text(str(mirror / table / "dt=*" / "*.csv"))
    column_types = "{" + ", ".join(f"{_sql_text(c)}: 'VARCHAR'" for c in columns) + "}"
    # ignore_errors: a line the reader cannot parse is skipped instead of stopping the run; quality.sql
    # compares the rows with the physical lines per file, so the loss is counted and named either way.
    con.execute(
        f"""
        CREATE TABLE "{table}" AS
        SELECT {", ".join(f'"{c}"' for c in columns)}, dt, {raw_path} AS "$path"
        FROM read_csv(
            {glob},
            auto_detect = false, header = true, delim = ',', columns = {column_types},
            hive_partitioning = true, filename = true,
            hive_types = {{'dt': 'VARCHAR'}}, quote = '"', escape = '"',
            ignore_errors = true
        )
        """
    )
    # Every physical line after the header, whatever it holds (no CSV reader in between): the text up to a \x01 is
    # the line, what follows it the second column, as the Glue lines table reads it; a line's trailing CR is
    # dropped like Hadoop's line reader does, and the empty string after a final line break is no line.
    con.execute(
        f"""
        CREATE TABLE "{lines}" AS
        WITH files AS (
            SELECT filename, string_split(content, chr(10)) AS parts, suffix(content, chr(10)) AS ends_with_break
            FROM read_text({glob})
        ),
        physical AS (
            SELECT
                filename,
                regexp_replace(
                    unnest(list_slice(parts, 2, len(parts) - CASE WHEN ends_with_break THEN 1 ELSE 0 END)), '\\r$', ''
                ) AS text
            FROM files
        )
        SELECT
            split_part(text, chr(1), 1) AS "{LINE_COLUMN}",
            CASE WHEN strpos(text, chr(1)) > 0 THEN split_part(text, chr(1), 2) END AS "{LINE_REST_COLUMN}",
            regexp_extract(filename, 'dt=([^/]*)/[^/]*$', 1) AS dt,
            {raw_path} AS "$path"
        FROM physical
        """
    )
