"""Render the report's SQL (Athena/Trino dialect) for one country and run: the heavy part of the comparison page.

The SQL lives in `sql/*.sql`: `_report_base.sql` (shared CTEs: time split, capped co-occurrence Jaccard top-k,
popularity, curation lists, the evaluated-user sample, heavy users) and one file per output. Placeholders
`{{ name }}` are replaced only by literals built here from validated parameters. Like dataprep.queries, this
module imports nothing beyond pydantic, common and dataprep's pure modules (queries, columnar): it runs in the
report step's Lambda, which has no sqlglot or DuckDB.

Every output is UNLOADed as JSON lines (arrays stay arrays) under `<output_prefix>/<output>/`; the local runner
(evaluation.local_sql) runs the very same SELECT on DuckDB. evaluation.sql_report turns the outputs into the
report, whose size depends on the sample and the catalogue, not on the interactions.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from common.schemas import dataset_fields
from dataprep.columnar import COUNTRY_PARTS, WINDOW_RUN_PARTITIONS, Part
from dataprep.queries import sql_string_literal, strip_header_comments

SQL_DIR = Path(__file__).resolve().parent / "sql"
DAY = 86_400
# Metrics look at the first 25 slots of a list (MRR@25, coverage, freshness: evaluation.metrics.MRR_AT).
METRIC_DEPTH = 25
# Any per-user metric in [0, 1] has a standard deviation <= 0.5, so over 20,000 users its mean's standard error is
# <= 0.0035 (95 % within +-0.7 points); the cap keeps what the report step reads flat whatever the country's size.
DEFAULT_MAX_EVALUATED_USERS = 20_000
# The curation's window, as the current curation does it: a user's list is the merged neighbours of their N most
# recent distinct history items (recency: latest touch, ties by item id), minus every item they ever saw
# (_report_base.sql, `candidates`). The per-country config (data.curation_recent_items) sets N for the deployed
# report, ReportOptions.recent_items for `make report`.
DEFAULT_CURATION_RECENT_ITEMS = 10
# Like recent_items (the items whose neighbours the curation merges): a heavy user adds at most 10 x 9 pairs.
DEFAULT_COOCCURRENCE_ITEMS = 10
PERSONALIZE_RECIPE = "user-personalization"
# Seed of the ranking tie rule's hash (evaluation.ties states the rule; the SQL gets it as {{ tie_seed }}).
TIE_SEED = "tie-rule-1"
# The open baseline's training history (report_history.sql), bounded so the report Lambda can hold and train it
# whatever the country's size: each user's newest distinct history items up to BASELINE_HISTORY_ITEMS (about four
# titles a week over the six-month window; beyond it a heavy user's oldest titles are not trained on, and are kept
# out of their list within BASELINE_EXCLUDED_PAIRS below), every shown user, then further users with
# history (md5 order, the sample's draw) while the running total stays within BASELINE_TRAINING_PAIRS. So the
# output holds at most max(BASELINE_TRAINING_PAIRS, shown users x BASELINE_HISTORY_ITEMS) pairs; stacks/sizing.py
# sizes the Lambda for that. Measured (implicit 0.7.3 item-item BM25, 2 loaded cores): 1.6 M pairs of 100,000 users
# read, trained and listed for 20,000 users in 13 s and ~160 B per pair; 3.3 M pairs of 20,000 users in 32 s.
DEFAULT_BASELINE_HISTORY_ITEMS = 100
DEFAULT_BASELINE_TRAINING_PAIRS = 2_000_000
# Every title a shown user has seen is kept out of their open-baseline list, as out of their curation list: the
# titles older than their newest BASELINE_HISTORY_ITEMS come as report_history's `older_items` (ids only, not
# trained on), for shown users in md5 order while their running total stays within BASELINE_EXCLUDED_PAIRS, so
# the output grows by at most that many ids; a shown user beyond it keeps only the newest titles out of their
# list, and the page says how many users that concerns.
DEFAULT_BASELINE_EXCLUDED_PAIRS = 1_000_000

# Glue tables the report reads (stacks/constructs/report_catalog.py defines them; evaluation.local_sql loads the
# same names into DuckDB). The interactions come from the run attempt's window (dataprep.columnar.WINDOW_TABLE,
# Parquet, defined with the raw catalogue), the country's rows being its COUNTRY_PARTS; the users and items from
# the prepared tables, the prepare step's CSV UNLOAD parts of the same run attempt (small: kept as text).
# Columns in CSV order, from the one schema source (Glue lower-cases column names).
PREPARED_TABLES: dict[str, tuple[str, ...]] = {
    f"prepared_{dataset_type.lower()}": tuple(f.name.lower() for f in dataset_fields(dataset_type))
    for dataset_type in ("Users", "Items")
}
# Which prepare output each table reads (dataprep.queries.Output values = UNLOAD folder names).
PREPARED_OUTPUTS = {"prepared_users": "users", "prepared_items": "items"}
PREPARED_PARTITIONS = WINDOW_RUN_PARTITIONS
BATCH_OUTPUT_TABLE = "batch_output"
BATCH_OUTPUT_PARTITIONS = ("country", "run_date", "recipe")

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_S3_PREFIX = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*()=\-]+)*/?$")


class ReportOutput(StrEnum):
    """The report's query outputs; the value names the SQL file and the UNLOAD folder."""

    USERS = "report_users"
    SUMMARY = "report_summary"
    POPULARITY = "report_popularity"
    ITEMS = "report_items"
    HISTORY = "report_history"


class CurationUsers(StrEnum):
    """Whose curation lists the queries compute (`curated_users` in _report_base.sql)."""

    SHOWN = "shown"  # the report's sample and heavy users, over the history before the truth days
    # The serving read model's (curation_lists.sql), over the whole window: the users the day's batch job scores.
    CHANGED = "changed"  # the users of the window parts new and changed (dataprep/sql/changed_users.sql)
    ALL = "all"  # every user of the country parts (dataprep/sql/all_users.sql): a full-batch day


# The users of each serving choice, by run_window part (the batch inputs' definitions, dataprep/sql).
CURATED_PARTS: dict[CurationUsers, tuple[Part, ...]] = {
    CurationUsers.SHOWN: (),
    CurationUsers.CHANGED: (Part.NEW, Part.CHANGED),
    CurationUsers.ALL: COUNTRY_PARTS,
}
# The serving curation's SQL file (sql/curation_lists.sql): one line {user_id, item_ids} per curated user.
CURATION_LISTS = "curation_lists"
# The results bucket's folder of a run's served curation lists: <country>/<run_date>/curation/, beside the batch output.
CURATION_FOLDER = "curation"


class ReportQueryParams(BaseModel):
    """Everything the report SQL depends on; validated before any SQL is rendered."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    country: str = Field(pattern=r"^[A-Z]{2}$")
    run_date: date
    # The prepare attempt whose outputs are read (its UNLOAD folders: athena/runs/<cc>/<date>/<execution>/<attempt>/).
    execution: str = Field(pattern=r"^[A-Za-z0-9!_.*()=\-]{1,80}$")
    attempt: str = Field(pattern=r"^a[0-9]{1,4}$")
    with_personalize: bool = False
    # The batch output compared as "Personalize" (user-personalization v1 or v2: common.recipes.user_list_recipe).
    personalize_recipe: str = PERSONALIZE_RECIPE
    truth_days: int = Field(7, ge=1, le=90)
    popularity_days: int = Field(7, ge=1, le=90)
    fresh_days: int = Field(30, ge=1, le=365)
    top_users: int = Field(10, ge=1, le=500)
    list_length: int = Field(25, ge=1, le=500)
    neighbours: int = Field(20, ge=1, le=500)
    recent_items: int = Field(DEFAULT_CURATION_RECENT_ITEMS, ge=1, le=500)
    cooccurrence_items: int = Field(DEFAULT_COOCCURRENCE_ITEMS, ge=1, le=1000)
    max_evaluated_users: int = Field(DEFAULT_MAX_EVALUATED_USERS, ge=1, le=1_000_000)
    shown_items: int = Field(10, ge=1, le=100)
    baseline_history_items: int = Field(DEFAULT_BASELINE_HISTORY_ITEMS, ge=1, le=10_000)
    baseline_training_pairs: int = Field(DEFAULT_BASELINE_TRAINING_PAIRS, ge=1, le=50_000_000)
    baseline_excluded_pairs: int = Field(DEFAULT_BASELINE_EXCLUDED_PAIRS, ge=0, le=50_000_000)
    curation_users: CurationUsers = CurationUsers.SHOWN

    @property
    def end_epoch(self) -> int:
        """run_date 00:00 UTC: preparation's window is [run_date - window_days, run_date)."""
        return (self.run_date - date(1970, 1, 1)).days * DAY

    @property
    def cutoff_epoch(self) -> int:
        # The served curation learns from the whole window, as the list a user gets tomorrow should; the report
        # holds the last truth_days out to evaluate against.
        if self.curation_users is not CurationUsers.SHOWN:
            return self.end_epoch
        return self.end_epoch - self.truth_days * DAY


@cache
def _sql_file(name: str) -> str:
    return (SQL_DIR / name).read_text(encoding="utf-8")


def _substitute(sql: str, values: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise KeyError(f"unknown SQL placeholder {match.group(0)!r}")
        return values[match.group(1)]

    return _PLACEHOLDER.sub(replace, sql)


def _values(params: ReportQueryParams) -> dict[str, str]:
    p = params
    return {
        "country": sql_string_literal(p.country),
        "run_date": sql_string_literal(p.run_date.isoformat()),
        "execution": sql_string_literal(p.execution),
        "attempt": sql_string_literal(p.attempt),
        "personalize_recipe": sql_string_literal(p.personalize_recipe),
        "with_personalize": "true" if p.with_personalize else "false",
        "country_parts": "(" + ", ".join(sql_string_literal(part) for part in COUNTRY_PARTS) + ")",
        "curate_shown": "true" if p.curation_users is CurationUsers.SHOWN else "false",
        # An empty IN list is not SQL: the shown users' choice names no part.
        "curated_parts": "("
        + ", ".join(sql_string_literal(part) for part in CURATED_PARTS[p.curation_users] or ("",))
        + ")",
        # Integers from validated fields, rendered as bare numeric literals.
        "end_epoch": str(p.end_epoch),
        "cutoff_epoch": str(p.cutoff_epoch),
        "popularity_from_epoch": str(p.cutoff_epoch - p.popularity_days * DAY),
        "fresh_from_epoch": str(p.end_epoch - p.fresh_days * DAY),
        "metric_depth": str(METRIC_DEPTH),
        "tie_seed": sql_string_literal(TIE_SEED),
        **{
            name: str(int(getattr(p, name)))
            for name in (
                "top_users",
                "list_length",
                "neighbours",
                "recent_items",
                "cooccurrence_items",
                "max_evaluated_users",
                "shown_items",
                "baseline_history_items",
                "baseline_training_pairs",
                "baseline_excluded_pairs",
            )
        },
    }


def base_ctes(params: ReportQueryParams) -> str:
    """The shared CTEs (`name AS (...)`, comma separated), rendered: what every output's `WITH` starts with."""
    return _substitute(strip_header_comments(_sql_file("_report_base.sql")), _values(params))


def render(output: ReportOutput | str, params: ReportQueryParams) -> str:
    """The output's SELECT (Athena dialect) with every placeholder replaced."""
    output = ReportOutput(output)
    values = {**_values(params), "base": base_ctes(params)}
    sql = _substitute(_sql_file(f"{output.value}.sql"), values)
    if "{{" in sql or "}}" in sql:
        raise ValueError(f"unresolved placeholder left in {output.value}.sql")
    return sql


class ReportStatement(BaseModel):
    model_config = ConfigDict(frozen=True)

    output: ReportOutput
    sql: str
    location: str


def athena_statements(params: ReportQueryParams, output_prefix: str) -> dict[ReportOutput, ReportStatement]:
    """One UNLOAD (JSON lines, uncompressed) per output, to `<output_prefix>/<output>/`.

    UNLOAD fails when the target already holds objects: give every attempt its own prefix.
    Athena's UNLOAD page: "Supported formats for UNLOAD include Apache Parquet, ORC, Apache Avro, and JSON", and
    except when writing partitions the TO location must hold no data; its Hive compression table (engine
    version 3) lists NONE for the text formats, JSON included (the default would be GZIP).
    """
    if not _S3_PREFIX.match(output_prefix):
        raise ValueError(f"output_prefix must look like s3://bucket/some/prefix, got {output_prefix!r}")
    prefix = output_prefix.rstrip("/")
    statements = {}
    for output in ReportOutput:
        location = f"{prefix}/{output.value}/"
        sql = (
            f"UNLOAD (\n{render(output, params)}\n)\nTO {sql_string_literal(location)}\n"
            "WITH (format = 'JSON', compression = 'NONE')"
        )
        statements[output] = ReportStatement(output=output, sql=sql, location=location)
    return statements


def render_curation(params: ReportQueryParams) -> str:
    """curation_lists.sql's SELECT (Athena dialect) for `params.curation_users` (CHANGED or ALL)."""
    if params.curation_users is CurationUsers.SHOWN:
        raise ValueError("the serving curation lists the changed or all users, not the report's shown users")
    sql = _substitute(_sql_file(f"{CURATION_LISTS}.sql"), {**_values(params), "base": base_ctes(params)})
    if "{{" in sql or "}}" in sql:
        raise ValueError(f"unresolved placeholder left in {CURATION_LISTS}.sql")
    return sql


def curation_statement(params: ReportQueryParams, location: str) -> str:
    """The UNLOAD of the serving curation's lists (JSON lines, uncompressed) to `location`, which must be empty
    (athena_statements quotes Athena's UNLOAD rules). JSON keys are the SELECT's column names, which Athena
    lower-cases: they are snake_case for that reason."""
    if not _S3_PREFIX.match(location):
        raise ValueError(f"location must look like s3://bucket/some/prefix/, got {location!r}")
    return (
        f"UNLOAD (\n{render_curation(params)}\n)\nTO {sql_string_literal(location)}\n"
        "WITH (format = 'JSON', compression = 'NONE')"
    )
