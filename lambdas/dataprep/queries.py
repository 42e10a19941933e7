"""Render the preparation SQL (Athena/Trino dialect) for one country and run date.

One idea: every statement of the preparation (the conversions of raw days, the run window, the outputs) rendered
from validated parameters by one placeholder language; kept whole so no second renderer can quote a value
differently.

The SQL lives in `sql/*.sql`, one file per output plus shared fragments. Placeholders `{{ name }}` are
replaced only by literals built here from validated parameters (country ^[A-Z]{2}$, ISO dates), so no
caller-supplied text ever reaches a statement. This module has no third-party imports besides pydantic:
it runs inside the pipeline's Lambda, where sqlglot and DuckDB are not installed.

Each output is produced as *lines*: `line_select()` wraps the output's SELECT in an outer SELECT that
formats one CSV record (or one JSON object) per row from the schema in common.schemas. Athena UNLOADs
those lines as TEXTFILE (Athena's own SELECT result CSV quotes and lowercases the header, which
Personalize rejects: "Don't enclose headers in quotation marks"); the local runner executes the very same
line SELECT on DuckDB. `dataprep.assemble` then puts the header and the UNLOAD parts into one CSV object.
"""

from __future__ import annotations

import re
from calendar import timegm
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.event_kinds import EventKind
from common.prepared_outputs import Output as Output  # re-exported: callers name the outputs dataprep.queries.Output
from common.recipes import Recipe
from common.schemas import UNKNOWN, csv_header, dataset_fields
from dataprep.columnar import (
    WINDOW_FOLDER,
    WINDOW_PART,
    WINDOW_TABLE,
    Part,
    chunks,
    conversion_folder,
    files_table,
    parsed_table,
)

SQL_DIR = Path(__file__).resolve().parent / "sql"
GENRE_MAPPING_CSV = Path(__file__).resolve().parent / "genre_mapping.csv"

DEFAULT_WINDOW_DAYS = 183
# The cold-start fallback (cold_start.sql): items per segment list (the batch jobs' numResults), and the active users
# a segment needs for its own list (fewer: the country's list, a list of two users' tastes is no popularity).
COLD_START_LIST_SIZE = 25
DEFAULT_COLD_START_MIN_USERS = 20
# Items each personalized-ranking batch line asks to rank. GetPersonalizedRanking accepts at most 500 items
# in its input list (50 when metadata is returned), the bound applied here.
DEFAULT_RANKING_CANDIDATES = 50
MAX_RANKING_CANDIDATES = 500
# Recipe names as in common.recipes; the default includes recipes that read the text field (TITLE, `reads_text`).
DEFAULT_RECIPES: tuple[str, ...] = ("user-personalization", "similar-items")

# Glue/DuckDB table names and their raw CSV columns, in file order (docs/data-layout.md).
RAW_TABLES: dict[str, tuple[str, ...]] = {
    "purchases": ("user_id", "item_id", "timestamp"),
    "views": ("user_id", "item_id", "item_view_count", "timestamp"),
    "users": ("user_id", "age", "gender", "locale", "membership"),
    "contents": ("item_id", "title", "genre", "created_at"),
}
# The raw exports that hold events, and the kind of event each of their rows becomes (the prepared EVENT_TYPE).
EVENT_TABLES: dict[str, EventKind] = {"purchases": EventKind.PURCHASE, "views": EventKind.VIEW}
GENRE_MAPPING_TABLE = "genre_mapping"
GENRE_MAPPING_COLUMNS: tuple[str, ...] = ("source_genre", "genre")
# Each raw export is also a one-column table `<table>_lines` (`line`: the physical line, no CSV parsing), so the
# data-quality query can compare physical lines with the rows the CSV reader produced, per file ("$path").
LINES_TABLE_SUFFIX = "_lines"
LINE_COLUMN = "line"
# The lines tables split on \x01 (a byte the exports must not contain): what follows a \x01 lands in this second
# column, so a line holding one is seen (and counted as control_character) instead of being cut short unseen.
LINE_REST_COLUMN = "line_rest"
# Bytes no export field may hold (C0 controls but tab, line feed and carriage return; DEL): a row holding one is
# dropped as control_character. A regex both Trino and DuckDB (RE2) read the same way.
CONTROL_CHARACTERS = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]"
# Files listed one by one in the data-quality result (worst first); the tables' totals always cover every file.
MAX_LISTED_FILES = 20

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)(?:\((\w+)\))?\s*\}\}")
# Bucket names per S3 rules; key characters limited to a safe set so the URI can be quoted as a literal.
_S3_PREFIX = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*()=\-]+)*/?$")


# Outputs read with GetQueryResults (one small result) instead of being UNLOADed.
SELECT_OUTPUTS = frozenset({Output.COUNTS, Output.QUALITY})


class _CsvOutput(BaseModel):
    dataset_type: Literal["Interactions", "Users", "Items"]
    file_name: str


class _JsonField(BaseModel):
    key: str  # JSON key Personalize batch inference expects
    column: str  # column of the output's SELECT
    array: bool = False  # the column is an array of strings (a JSON array), else a string
    number: bool = False  # the column is an integer (a JSON number)


class _JsonlOutput(BaseModel):
    fields: tuple[_JsonField, ...]
    file_name: str


CSV_OUTPUTS: dict[Output, _CsvOutput] = {
    Output.INTERACTIONS: _CsvOutput(dataset_type="Interactions", file_name="interactions.csv"),
    Output.INTERACTIONS_INCREMENTAL: _CsvOutput(dataset_type="Interactions", file_name="interactions_incremental.csv"),
    Output.USERS: _CsvOutput(dataset_type="Users", file_name="users.csv"),
    Output.ITEMS: _CsvOutput(dataset_type="Items", file_name="items.csv"),
}
_USER_ID = _JsonField(key="userId", column="USER_ID")
# Batch input shapes per recipe type (Personalize developer guide, "Preparing input data for batch
# recommendations"): {"userId"} for USER_PERSONALIZATION, {"itemId"} for RELATED_ITEMS and
# {"userId", "itemList": [...]} for PERSONALIZED_RANKING.
JSONL_OUTPUTS: dict[Output, _JsonlOutput] = {
    Output.CHANGED_USERS: _JsonlOutput(fields=(_USER_ID,), file_name="changed_users.jsonl"),
    Output.ALL_USERS: _JsonlOutput(fields=(_USER_ID,), file_name="all_users.jsonl"),
    Output.ITEMS_BATCH: _JsonlOutput(
        fields=(_JsonField(key="itemId", column="ITEM_ID"),), file_name="items_batch.jsonl"
    ),
    Output.RANKING_INPUT: _JsonlOutput(
        fields=(_USER_ID, _JsonField(key="itemList", column="ITEM_LIST", array=True)),
        file_name="ranking_input.jsonl",
    ),
    # Not a batch input: the cold-start fallback per Users segment, published under results/<cc>/<date>/cold_start/.
    Output.COLD_START: _JsonlOutput(
        fields=(
            _JsonField(key="locale", column="LOCALE"),
            _JsonField(key="ageGroup", column="AGE_GROUP"),
            _JsonField(key="gender", column="GENDER"),
            _JsonField(key="source", column="SOURCE"),
            _JsonField(key="itemIds", column="ITEM_IDS", array=True),
            _JsonField(key="coldUsers", column="COLD_USERS", number=True),
        ),
        file_name="cold_start.jsonl",
    ),
}


def lines_table(table: str) -> str:
    return table + LINES_TABLE_SUFFIX


def csv_record_pattern(fields: int) -> str:
    """Regex of one well-formed CSV line with exactly `fields` fields (RFC 4180 quoting, no line break)."""
    field = '("([^"]|"")*"|[^,"]*)'
    return f"^{field}(,{field}){{{fields - 1}}}\\r?$"


def _strict_date(value: Any) -> Any:
    # pydantic's lax date parsing also accepts epoch numbers and datetimes: only YYYY-MM-DD is meant here.
    if isinstance(value, str):
        if not _ISO_DATE.match(value):
            raise ValueError(f"expected an ISO date YYYY-MM-DD, got {value!r}")
        return date.fromisoformat(value)
    if isinstance(value, date) and type(value) is date:
        return value
    if value is None:
        return None
    raise ValueError(f"expected an ISO date YYYY-MM-DD, got {value!r}")


class PrepareParams(BaseModel):
    """Everything a preparation run depends on; validated before any SQL is rendered."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166 alpha-2, upper case (KR, JP, US)")
    run_date: date
    window_days: int = Field(default=DEFAULT_WINDOW_DAYS, ge=1, le=3660)
    previous_run_date: date | None = None
    # Partitions before this date are in Personalize's Interactions dataset: the run date of the last interactions
    # import that ran (FULL or INCREMENTAL; the ledger's high-water mark). A skipped increment (< 1,000 rows)
    # leaves it where it was, so its interactions are carried into the next increment.
    imported_before: date | None = None
    recipes: tuple[str, ...] = DEFAULT_RECIPES
    ranking_candidates: int = Field(
        default=DEFAULT_RANKING_CANDIDATES,
        ge=1,
        le=MAX_RANKING_CANDIDATES,
        description="newest catalogue items each personalized-ranking batch line asks to rank",
    )
    cold_start_min_users: int = Field(
        default=DEFAULT_COLD_START_MIN_USERS,
        ge=1,
        le=1_000_000,
        description="active users a Users segment needs for its own cold-start list (else the country's list)",
    )

    @field_validator("run_date", "previous_run_date", "imported_before", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        return _strict_date(value)

    @field_validator("recipes", mode="before")
    @classmethod
    def _recipes(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        known = [r.value for r in Recipe]
        for recipe in value:
            if not isinstance(recipe, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", recipe):
                raise ValueError(f"recipe names are lower-case words joined by '-', got {recipe!r}")
            if recipe not in known:
                # An unknown name would silently change the outputs (TITLE depends on the recipes).
                raise ValueError(f"unknown recipe {recipe!r} (known: {', '.join(known)})")
        return tuple(value)

    @model_validator(mode="after")
    def _previous_before_run(self) -> PrepareParams:
        if self.previous_run_date is not None and self.previous_run_date >= self.run_date:
            raise ValueError(f"previous_run_date {self.previous_run_date} must be before run_date {self.run_date}")
        if self.imported_before is not None and self.imported_before > self.run_date:
            raise ValueError(f"imported_before {self.imported_before} must not be after run_date {self.run_date}")
        return self

    @property
    def window_start(self) -> date:
        return self.run_date - timedelta(days=self.window_days)

    @property
    def import_since(self) -> date:
        """First partition of the INCREMENTAL interactions import: the first one not imported yet (the previous
        run date when no high-water mark is given), never before the window. Equal to the run date when this
        date was imported already (a rerun): the increment is then empty."""
        since = self.imported_before or self.previous_run_date
        if since is None:
            return self.window_start
        return max(since, self.window_start)

    @property
    def changes_since(self) -> date:
        """First partition whose interactions mark a user as changed (the changed-users batch): since the
        previous successful run, and earlier when interactions since then were not imported (skipped
        increment): those users' lists are renewed once their interactions are in. Never before the window."""
        if self.previous_run_date is None:
            return self.window_start
        return min(max(self.previous_run_date, self.window_start), self.import_since)


def _epoch(day: date) -> int:
    """Epoch seconds of midnight UTC of `day`."""
    return timegm(day.timetuple())


def sql_string_literal(value: str) -> str:
    # Values reaching here are validated (country pattern, ISO dates, fixed constants); doubling quotes is
    # the belt to those braces.
    return "'" + value.replace("'", "''") + "'"


@cache
def _sql_file(name: str) -> str:
    return (SQL_DIR / name).read_text(encoding="utf-8")


def strip_header_comments(sql: str) -> str:
    """Leading `--` comment lines of a fragment document it in the file; they are not part of the SQL."""
    lines = sql.splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines).strip()


# Fragments applied to one column, `{{ name(column) }}` -> sql/_<name>.sql with `{{ value }}` = the column.
_FRAGMENTS = frozenset({"epoch_seconds", "byte_problem"})


def _substitute(sql: str, values: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name, argument = match.group(1), match.group(2)
        if name in _FRAGMENTS:
            if argument is None or not re.fullmatch(r"[a-z_]+", argument):
                raise ValueError(f"{name} needs a column name, got {argument!r}")
            fragment = strip_header_comments(_sql_file(f"_{name}.sql"))
            return "(" + _substitute(fragment, {**values, "value": argument}) + ")"
        if argument is not None or name not in values:
            raise KeyError(f"unknown SQL placeholder {match.group(0)!r}")
        return values[name]

    return _PLACEHOLDER.sub(replace, sql)


class WindowRun(BaseModel):
    """The run attempt whose window (dataprep.columnar.WINDOW_TABLE) the outputs read: the injected partition values
    besides country and run date (the pipeline's execution name and step attempt `a<n>`)."""

    model_config = ConfigDict(frozen=True)

    execution: str = Field(pattern=r"^[A-Za-z0-9_-]{1,80}$")
    attempt: str = Field(pattern=r"^a[0-9]{1,4}$")


# The local runner's window (dataprep.local): one run, one attempt.
LOCAL_RUN = WindowRun(execution="local", attempt="a1")


def _values(params: PrepareParams, run: WindowRun) -> dict[str, str]:
    values = {
        "country": sql_string_literal(params.country),
        "run_date": sql_string_literal(params.run_date.isoformat()),
        "window_start": sql_string_literal(params.window_start.isoformat()),
        "changes_since": sql_string_literal(params.changes_since.isoformat()),
        "import_since": sql_string_literal(params.import_since.isoformat()),
        "unknown": sql_string_literal(UNKNOWN),
        # Integers from validated dates and a bounded int: rendered as bare numeric literals.
        "window_start_epoch": str(_epoch(params.window_start)),
        "run_date_epoch": str(_epoch(params.run_date)),
        "ranking_candidates": str(int(params.ranking_candidates)),
        "cold_start_list_size": str(COLD_START_LIST_SIZE),
        "cold_start_min_users": str(int(params.cold_start_min_users)),
        "last_day": sql_string_literal((params.run_date - timedelta(days=1)).isoformat()),
        "day_before": sql_string_literal((params.run_date - timedelta(days=2)).isoformat()),
        "max_listed_files": str(MAX_LISTED_FILES),
        "control_characters": sql_string_literal(CONTROL_CHARACTERS),
        "execution": sql_string_literal(run.execution),
        "attempt": sql_string_literal(run.attempt),
    }
    for kind in EventKind:
        values[f"{kind.name.lower()}_event"] = sql_string_literal(kind.value)
    for part in Part:
        values[f"part_{part.name.lower()}"] = sql_string_literal(part.value)
    values["upserts"] = _substitute(strip_header_comments(_sql_file("_upserts.sql")), values)
    values["base"] = _substitute(strip_header_comments(_sql_file("_base.sql")), values)
    return values


def _rendered(file_name: str, values: dict[str, str]) -> str:
    sql = _substitute(_sql_file(file_name), values)
    if "{{" in sql or "}}" in sql:
        raise ValueError(f"unresolved placeholder left in {file_name}")
    return sql


def render(output: Output | str, params: PrepareParams, run: WindowRun = LOCAL_RUN) -> str:
    """The output's SELECT (Athena dialect) with every placeholder replaced; it reads `run`'s window."""
    return _rendered(f"{Output(output).value}.sql", _values(params, run))


def render_window(params: PrepareParams) -> str:
    """The run window's SELECT (window.sql): every row classified once, its last column the partition `part`."""
    return _rendered("window.sql", _values(params, LOCAL_RUN))


def _day_list(days: list[date]) -> str:
    if not days:
        raise ValueError("a conversion needs at least one day")
    return ", ".join(sql_string_literal(day.isoformat()) for day in sorted(days))


def render_conversion(table: str, days: list[date]) -> str:
    """The SELECT parsing `table`'s raw days into `<table>_parsed` (convert_*.sql), its last column `dt`."""
    if table not in RAW_TABLES:
        raise ValueError(f"unknown raw table {table!r}")
    values = {"days": _day_list(days), "control_characters": sql_string_literal(CONTROL_CHARACTERS)}
    if table in EVENT_TABLES:
        # The event's value column: the raw view count where the export has one (views), else NULL.
        value = next((f'"{c}"' for c in RAW_TABLES[table] if c == "item_view_count"), "CAST(NULL AS VARCHAR)")
        values |= {"table": table, "value_column": value}
        return _rendered("convert_events.sql", values)
    return _rendered(f"convert_{table}.sql", values)


def render_file_counts(table: str, days: list[date]) -> str:
    """The SELECT counting `table`'s raw records per file into `<table>_files` (convert_files.sql)."""
    if table not in RAW_TABLES:
        raise ValueError(f"unknown raw table {table!r}")
    values = {
        "days": _day_list(days),
        "control_characters": sql_string_literal(CONTROL_CHARACTERS),
        "table": table,
        "lines_table": lines_table(table),
        "record": sql_string_literal(csv_record_pattern(len(RAW_TABLES[table]))),
    }
    return _rendered("convert_files.sql", values)


def _csv_field(field_name: str, avro_type: str | list[str]) -> str:
    column = f't."{field_name}"'
    types = {avro_type} if isinstance(avro_type, str) else set(avro_type)
    if "string" in types:
        # RFC 4180: quote only when needed, doubling embedded quotes; NULL is an empty field.
        text = (
            f"CASE WHEN regexp_like({column}, '[\",\\r\\n]') "
            f"THEN '\"' || replace({column}, '\"', '\"\"') || '\"' ELSE {column} END"
        )
    else:
        text = f"CAST({column} AS VARCHAR)"
    return f"COALESCE({text}, '')"


def _json_string(expression: str) -> str:
    """SQL building the JSON string literal of a text value: backslash escaped first, then the quote."""
    return f"""'"' || replace(replace({expression}, '\\', '\\\\'), '"', '\\"') || '"'"""


def csv_header_line(output: Output | str, recipes: tuple[str, ...] | frozenset[str]) -> str:
    spec = CSV_OUTPUTS[Output(output)]
    return ",".join(csv_header(spec.dataset_type, recipes))


def line_select(output: Output | str, params: PrepareParams, run: WindowRun = LOCAL_RUN) -> str:
    """SELECT returning one `line` column: a CSV record (schema order) or a JSON object per row."""
    output = Output(output)
    inner = render(output, params, run)
    if output in CSV_OUTPUTS:
        fields = dataset_fields(CSV_OUTPUTS[output].dataset_type, params.recipes)
        line = " || ',' || ".join(_csv_field(f.name, f.type) for f in fields)
    elif output in JSONL_OUTPUTS:
        members = []
        for field in JSONL_OUTPUTS[output].fields:
            column = f't."{field.column}"'
            if field.array:
                value = f"'[' || array_join(transform({column}, x -> {_json_string('x')}), ',') || ']'"
            elif field.number:
                value = f"CAST({column} AS VARCHAR)"
            else:
                value = _json_string(column)
            members.append(f"""'"{field.key}":' || {value}""")
        line = "'{' || " + " || ',' || ".join(members) + " || '}'"
    else:
        raise ValueError(f"{output.value} is not a line output")
    return f"SELECT {line} AS line\nFROM (\n{inner}\n) AS t"


class AthenaStatement(BaseModel):
    """One query the prepare step starts in the workgroup (database = RawCatalog.database_name)."""

    model_config = ConfigDict(frozen=True)

    output: Output
    sql: str
    # unload: writes header-less part files under `location` (then dataprep.assemble for CSVs);
    # select: the result (one row) is read with GetQueryResults.
    kind: Literal["unload", "select"]
    location: str | None = None
    header: str | None = None  # CSV header line to put in front of the parts
    file_name: str | None = None  # conventional name of the assembled file


def _validate_prefix(output_prefix: str) -> str:
    if not _S3_PREFIX.match(output_prefix):
        raise ValueError(
            f"output_prefix must look like s3://bucket/some/prefix (letters, digits, !_.*()=- in keys), "
            f"got {output_prefix!r}"
        )
    return output_prefix.rstrip("/")


def athena_statements(params: PrepareParams, output_prefix: str, run: WindowRun) -> dict[Output, AthenaStatement]:
    """The statements of one run, per output; they read `run`'s window (window_statement, run first).

    UNLOAD targets are `<output_prefix>/<output>/`; UNLOAD fails when the target already holds objects, so
    give every attempt its own prefix (e.g. include the execution name) or empty it first.
    """
    prefix = _validate_prefix(output_prefix)
    statements: dict[Output, AthenaStatement] = {}
    for output in Output:
        if output in SELECT_OUTPUTS:
            statements[output] = AthenaStatement(output=output, sql=render(output, params, run), kind="select")
            continue
        location = f"{prefix}/{output.value}/"
        unload = (
            f"UNLOAD (\n{line_select(output, params, run)}\n)\nTO {sql_string_literal(location)}\n"
            "WITH (format = 'TEXTFILE', compression = 'NONE')"
        )
        csv_spec = CSV_OUTPUTS.get(output)
        statements[output] = AthenaStatement(
            output=output,
            sql=unload,
            kind="unload",
            location=location,
            header=csv_header_line(output, params.recipes) if csv_spec else None,
            file_name=csv_spec.file_name if csv_spec else JSONL_OUTPUTS[output].file_name,
        )
    return statements


class ColumnarStatement(BaseModel):
    """One UNLOAD of the columnar layer: a conversion of raw days, or a run's window. Parquet, partitioned by its
    last column (`dt` or `part`), under `location`."""

    model_config = ConfigDict(frozen=True)

    table: str  # the Glue table the UNLOAD's folders belong to (<table>_parsed, <table>_files, run_window)
    sql: str
    location: str
    days: tuple[date, ...] = ()


# Athena's compression page: "Athena supports reading and writing ZSTD compressed ORC, Parquet, and text file data"
# (level 3 by default); Parquet's default for Hive tables is GZIP, slower to read and no smaller for these columns.
_PARQUET = "format = 'PARQUET', compression = 'ZSTD'"


def _parquet_unload(select: str, location: str, partition: str) -> str:
    return (
        f"UNLOAD (\n{select}\n)\nTO {sql_string_literal(location)}\n"
        f"WITH ({_PARQUET}, partitioned_by = ARRAY[{sql_string_literal(partition)}])"
    )


def conversion_statements(table: str, days: list[date], bucket: str, conversion: str) -> list[ColumnarStatement]:
    """The UNLOADs converting `table`'s raw `days`: per chunk of at most 100 days (UNLOAD's partition limit), the
    parsed rows and the per-file record counts, each into its own folder of this conversion."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", bucket):
        raise ValueError(f"not an S3 bucket name: {bucket!r}")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,200}", conversion):
        raise ValueError(f"a conversion id is letters, digits, '_' and '-', got {conversion!r}")
    statements = []
    for index, chunk in enumerate(chunks(sorted(days))):
        suffix = conversion if index == 0 else f"{conversion}-{index}"
        for name, select in (
            (parsed_table(table), render_conversion(table, chunk)),
            (files_table(table), render_file_counts(table, chunk)),
        ):
            location = conversion_folder(bucket, name, suffix)
            statements.append(
                ColumnarStatement(
                    table=name, sql=_parquet_unload(select, location, "dt"), location=location, days=tuple(chunk)
                )
            )
    return statements


def window_statement(params: PrepareParams, output_prefix: str) -> ColumnarStatement:
    """The UNLOAD writing the run window under `<output_prefix>/window/` (folders `part=<part>/`)."""
    location = f"{_validate_prefix(output_prefix)}/{WINDOW_FOLDER}/"
    return ColumnarStatement(
        table=WINDOW_TABLE, sql=_parquet_unload(render_window(params), location, WINDOW_PART), location=location
    )
