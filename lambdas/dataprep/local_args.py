"""The argument checks shared by the local tools on a raw export: `make prepare` and `make report`.

Both take RAW, OUT, COUNTRY and RUN_DATE and refuse the same things the same way: one line on stderr naming the
make variable the user typed, exit code 2, and nothing written. The checks that need the data itself (an unknown
country, an empty window) run inside `dataprep.local.prepare_with_quality(require_country_data=True)`, which
raises RawDataError; `refuse_raw_data` words it.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from dataprep.queries import RAW_TABLES, PrepareParams

# The checkout this module lives in (lambdas/dataprep/local_args.py): local runs never write into it.
REPOSITORY = Path(__file__).resolve().parents[2]

# The make variables behind the flags, so an error names what the user typed.
MAKE_VARIABLES = {
    "raw": "RAW",
    "out": "OUT",
    "country": "COUNTRY",
    "run_date": "RUN_DATE",
    "recipes": "RECIPES",
    "results": "RESULTS",
    "top_users": "TOP_USERS",
}
_MESSAGES = {"country": "expected an ISO 3166 alpha-2 code in upper case, e.g. KR"}


class RawDataError(ValueError):
    """Raw data or arguments that cannot give a meaningful run; `variable` names the make variable to fix."""

    def __init__(self, variable: str, message: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {message}")


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One clear line (no usage block) and exit code 2, like any bad-argument error of these tools.
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def one_line(error: ValidationError, args: argparse.Namespace) -> str:
    """A pydantic error on the arguments as one line: `VAR=value (--flag): message` per field."""
    parts = []
    for e in error.errors(include_url=False):
        field = str(e["loc"][0]) if e["loc"] else ""
        flag = "--" + field.replace("_", "-")
        if field in MAKE_VARIABLES:
            value = getattr(args, field, None)
            shown = ",".join(value) if isinstance(value, list) else value
            name = f"{MAKE_VARIABLES[field]}={shown} ({flag})"
        else:
            name = flag if field else "arguments"
        message = _MESSAGES.get(field, e["msg"].removeprefix("Value error, "))
        parts.append(f"{name}: {message}")
    return "; ".join(parts)


def check_out(parser: argparse.ArgumentParser, out: str, variable: str = "OUT", flag: str = "--out") -> None:
    """OUT (or another folder the run writes, e.g. COLUMNAR) is given, outside the repository, and a folder (or
    nothing yet): never a file to overwrite."""
    if not out.strip():
        parser.error(f"{variable} is required ({flag}): a folder outside the repository")
    path = Path(out)
    if path.resolve().is_relative_to(REPOSITORY):
        parser.error(f"{variable}={out} ({flag}) is inside the repository {REPOSITORY}; choose a folder outside it")
    if path.exists() and not path.is_dir():
        parser.error(f"{variable}={out} ({flag}) is a file; choose a folder")


def run_params(parser: argparse.ArgumentParser, args: argparse.Namespace, **fields: Any) -> PrepareParams:
    """The run's PrepareParams from --country, --run-date and `fields`; a bad value or a future date: one line."""
    try:
        params = PrepareParams(country=args.country, run_date=args.run_date, **fields)
    except ValidationError as error:
        parser.error(one_line(error, args))
    today = date.today()
    if params.run_date > today:
        parser.error(f"RUN_DATE={args.run_date} (--run-date) is in the future (today is {today})")
    return params


def check_raw_layout(raw_dir: Path) -> None:
    """RAW must be the export root (`<table>/dt=YYYY-MM-DD/*.csv`), not a table's folder nor its parent."""
    if not raw_dir.is_dir():
        raise RawDataError("RAW", f"{str(raw_dir)!r} is not a folder")
    if any(any((raw_dir / table).glob("dt=*/*.csv")) for table in RAW_TABLES):
        return
    if any(raw_dir.glob("*.csv")) or any(raw_dir.glob("dt=*/*.csv")):
        root = raw_dir.parent.parent if any(raw_dir.glob("*.csv")) else raw_dir.parent
        raise RawDataError(
            "RAW", f"{raw_dir} is inside one table's folder; use the export root RAW={root} ({', '.join(RAW_TABLES)})"
        )
    nested = sorted(
        child
        for child in raw_dir.iterdir()
        if child.is_dir() and any(any((child / table).glob("dt=*/*.csv")) for table in RAW_TABLES)
    )
    if nested:
        raise RawDataError("RAW", f"{raw_dir} holds the exports one level down; use RAW={nested[0]}")
    raise RawDataError(
        "RAW", f"{raw_dir} holds no raw exports (expected <table>/dt=YYYY-MM-DD/*.csv for {', '.join(RAW_TABLES)})"
    )


def refuse_raw_data(parser: argparse.ArgumentParser, error: RawDataError, args: argparse.Namespace) -> NoReturn:
    """RawDataError as one line with the value the user gave, e.g. `COUNTRY=XX: no user in RAW ...`."""
    shown = {"RAW": args.raw, "COUNTRY": args.country, "RUN_DATE": args.run_date}.get(error.variable)
    message = str(error)
    parser.error(message.replace(f"{error.variable}:", f"{error.variable}={shown}:", 1) if shown else message)
