"""The columnar days on DuckDB: what the Prepare step keeps in Glue and S3, kept in a local folder.

One idea: the local catalogue of converted days. `convert(...)` parses each raw day a run reads that is not converted
as it is now (dataprep.columnar.days_to_convert: new, re-delivered, another layout) with the same conversion SQL the
pipeline UNLOADs, into Parquet folders `<dir>/<table>_parsed/<conversion>/dt=D/`; `catalog.json` points each day
at its conversion and is rewritten only after a table's conversion finished, so an interrupted run leaves the
previous state. `attach(...)` then makes `<table>_parsed` / `<table>_files` views over the current days.
A local file's digest stands in for the ETag (a re-written file changes it).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from dataprep.columnar import (
    FILES_COLUMNS,
    LAYOUT_VERSION,
    PARSED_COLUMNS,
    UPSERT_TABLES,
    DayState,
    RawObject,
    days_to_convert,
    files_table,
    parsed_table,
    raw_digest,
)
from dataprep.duckdb_dialect import to_duckdb
from dataprep.queries import RAW_TABLES, PrepareParams, render_conversion, render_file_counts

CATALOG = "catalog.json"
_DUCKDB_TYPES = {"string": "VARCHAR", "bigint": "BIGINT"}

# (con, raw_dir, {table: days}) -> loads the raw tables and their _lines twins for those days only.
RawLoader = Callable[[duckdb.DuckDBPyConnection, Path, dict[str, list[date]]], None]


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _read_catalog(columnar_dir: Path) -> dict[str, dict[str, dict[str, str]]]:
    path = columnar_dir / CATALOG
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _write_catalog(columnar_dir: Path, catalog: dict[str, dict[str, dict[str, str]]]) -> None:
    columnar_dir.mkdir(parents=True, exist_ok=True)
    tmp = columnar_dir / f".{CATALOG}.{uuid.uuid4().hex}"
    tmp.write_text(json.dumps(catalog, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(columnar_dir / CATALOG)  # atomic: readers see the old or the new catalogue


def needed_days(raw_dir: Path, params: PrepareParams) -> dict[str, dict[date, list[Path]]]:
    """Per raw table, the days the run reads that have raw files, with those files: the window's days for events,
    every day before the run date for the upsert tables."""
    result: dict[str, dict[date, list[Path]]] = {}
    for table in RAW_TABLES:
        days: dict[date, list[Path]] = {}
        for folder in sorted((raw_dir / table).glob("dt=*")):
            try:
                day = date.fromisoformat(folder.name[3:])
            except ValueError:
                continue  # dataprep.local_args refuses such layouts before a run; nothing here to read
            if day >= params.run_date or (table not in UPSERT_TABLES and day < params.window_start):
                continue
            files = sorted(folder.glob("*.csv"))
            if files:
                days[day] = files
        result[table] = days
    return result


def _digest(raw_dir: Path, files: list[Path]) -> str:
    return raw_digest(
        RawObject(
            key=str(path.relative_to(raw_dir)),
            etag=hashlib.sha256(path.read_bytes()).hexdigest(),
            size=path.stat().st_size,
        )
        for path in files
    )


def convert(
    con: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    columnar_dir: Path,
    params: PrepareParams,
    load_raw: RawLoader,
    *,
    window_days: int,
    now: datetime | None = None,
) -> dict[str, list[date]]:
    """Convert the days the run reads that are not converted as they are now; returns the converted days per table."""
    now = now or datetime.now(UTC)
    catalog = _read_catalog(columnar_dir)
    todo: dict[str, list[date]] = {}
    digests: dict[str, dict[date, str]] = {}
    for table, files_by_day in needed_days(raw_dir, params).items():
        digests[table] = {day: _digest(raw_dir, files) for day, files in files_by_day.items()}
        converted = {
            date.fromisoformat(day): DayState.model_validate(state)
            for day, state in catalog.get(parsed_table(table), {}).items()
        }
        todo[table] = days_to_convert(digests[table], converted, now=now, window_days=window_days)
    if not any(todo.values()):
        return todo
    load_raw(con, raw_dir, {t: d for t, d in todo.items() if d})
    for table, days in todo.items():
        if not days:
            continue
        conversion = f"local-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        for name, select in (
            (parsed_table(table), render_conversion(table, days)),
            (files_table(table), render_file_counts(table, days)),
        ):
            target = columnar_dir / name / conversion
            target.parent.mkdir(parents=True, exist_ok=True)
            con.execute(
                f"COPY ({to_duckdb(select)}) TO {_sql_text(str(target))} "
                "(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (dt))"
            )
        for name in (parsed_table(table), files_table(table)):
            entries = catalog.setdefault(name, {})
            for day in days:
                superseded = entries.get(day.isoformat())
                entries[day.isoformat()] = DayState(
                    raw_digest=digests[table][day],
                    layout_version=LAYOUT_VERSION,
                    converted_at=now,
                    conversion=conversion,
                ).model_dump(mode="json")
                if superseded:
                    # Nothing reads a superseded day locally once the catalogue moved (no concurrent reader here).
                    shutil.rmtree(columnar_dir / name / superseded["conversion"] / f"dt={day}", ignore_errors=True)
        _write_catalog(columnar_dir, catalog)
    return todo


def _empty(columns: tuple[tuple[str, str], ...]) -> str:
    typed = ", ".join(f'CAST(NULL AS {_DUCKDB_TYPES[t]}) AS "{c}"' for c, t in columns)
    return f"SELECT {typed}, CAST(NULL AS VARCHAR) AS dt WHERE false"


def attach(con: duckdb.DuckDBPyConnection, columnar_dir: Path) -> None:
    """Views `<table>_parsed` and `<table>_files` over the catalogue's current days (the Glue partitions' stand-in)."""
    catalog = _read_catalog(columnar_dir)
    for table in RAW_TABLES:
        for name, columns in ((parsed_table(table), PARSED_COLUMNS[table]), (files_table(table), FILES_COLUMNS)):
            files = [
                str(path)
                for day, state in sorted(catalog.get(name, {}).items())
                for path in sorted((columnar_dir / name / state["conversion"] / f"dt={day}").glob("*.parquet"))
            ]
            names = ", ".join(f'"{c}"' for c, _ in columns)
            body = (
                f"SELECT {names}, dt FROM read_parquet({files!r}, hive_partitioning = true, "
                "hive_types = {'dt': 'VARCHAR'})"
                if files
                else _empty(columns)
            )
            con.execute(f'CREATE OR REPLACE VIEW "{name}" AS {body}')


def default_dir(out_dir: Path) -> Path:
    """Where `make prepare` keeps the converted days unless told (COLUMNAR): beside the outputs, reused by the next
    run into the same OUT."""
    return out_dir / ".columnar"
