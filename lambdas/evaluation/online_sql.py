"""Render the online outcome SQL (sql/online_outcome.sql, Athena dialect) for one experiment of one country and run.

Like evaluation.queries, imports nothing beyond pydantic, common and dataprep's pure modules: it runs in the report
step's Lambda. The output is UNLOADed as JSON lines under `<output_prefix>/online_outcome/`; evaluation.online
turns its per-user rows into report.json's `online` section.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from common.experiments import Experiment
from dataprep.queries import sql_string_literal, strip_header_comments
from evaluation.queries import _S3_PREFIX, _sql_file, _substitute

OUTPUT = "online_outcome"
# The exposure log's Glue table (one text `line` per logged JSON line, partition `dt`) and the columnar days' event
# tables (dataprep.columnar.parsed_table) the outcome joins.
EVENT_TABLES = ("views_parsed", "purchases_parsed")


class OnlineQueryParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    country: str = Field(pattern=r"^[A-Z]{2}$")
    run_date: date
    experiment: Experiment


def running_experiment(experiments: tuple[Experiment, ...] | list[Experiment], run_date: date) -> Experiment | None:
    """The experiment whose exposures the run reports: the one running on the day before run_date (the newest day
    of data), so the report after the last day still gives the final verdict."""
    day = run_date - timedelta(days=1)
    return next((e for e in experiments if e.running_on(day)), None)


def _ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000


def render(params: OnlineQueryParams) -> str:
    e = params.experiment
    data_end = params.run_date  # the run's data ends at run_date 00:00 UTC
    values = {
        "country": sql_string_literal(params.country),
        "experiment": sql_string_literal(e.name),
        "run_date": sql_string_literal(params.run_date.isoformat()),
        "from_dt": sql_string_literal(e.start.isoformat()),
        # Integers from validated fields, rendered as bare numeric literals.
        "start_ms": str(_ms(e.start)),
        "end_ms": str(_ms(e.end)),
        "start_s": str(_ms(e.start) // 1000),
        "data_end_ms": str(_ms(data_end)),
        "data_end_s": str(_ms(data_end) // 1000),
        "window_ms": str(e.hit_window_hours * 3_600_000),
    }
    sql = _substitute(strip_header_comments(_sql_file(f"{OUTPUT}.sql")), values)
    if "{{" in sql or "}}" in sql:
        raise ValueError(f"unresolved placeholder left in {OUTPUT}.sql")
    return sql


class OnlineStatement(BaseModel):
    model_config = ConfigDict(frozen=True)

    sql: str
    location: str


def athena_statement(params: OnlineQueryParams, output_prefix: str) -> OnlineStatement:
    """The UNLOAD of the outcome rows (JSON lines, uncompressed), as evaluation.queries.athena_statements does."""
    if not _S3_PREFIX.match(output_prefix):
        raise ValueError(f"output_prefix must look like s3://bucket/some/prefix, got {output_prefix!r}")
    location = f"{output_prefix.rstrip('/')}/{OUTPUT}/"
    sql = (
        f"UNLOAD (\n{render(params)}\n)\nTO {sql_string_literal(location)}\n"
        "WITH (format = 'JSON', compression = 'NONE')"
    )
    return OnlineStatement(sql=sql, location=location)
