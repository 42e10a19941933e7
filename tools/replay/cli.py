"""personalize-runs: find, inspect, redrive and rerun the daily Personalize pipeline's runs.

    personalize-runs list [--country CC ...] [--status S ...] [--since D] [--until D] [--limit N]
    personalize-runs show RUN                      RUN = execution ARN or CC:YYYY-MM-DD
    personalize-runs redrive RUN [--dry-run] [--yes] [--wait]
    personalize-runs rerun --country CC --date D [--to D2] [--force] [--fresh-attempts] [--dry-run] [--yes] [--wait]
    personalize-runs events replay [--max-descriptors N] [--time-budget S] [--dry-run] [--yes]
    personalize-runs report-inputs --country CC --date D --out DIR
    personalize-runs recommend --country CC --user U [--count N] [--filter NAME] [--locale L] [--age-group A]
                               [--gender G] [--url URL]

Global options (before or after the command): --env (default dev), --profile, --region, --output table|json.
Results go to stdout; progress, prompts and errors to stderr. Exit codes: 0 ok, 1 an operation failed,
2 bad arguments or set-up, 3 not found or refused. See docs/runbook.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tools.replay.aws import translate
from tools.replay.commands import COMMANDS
from tools.replay.errors import FAILED, OK, USAGE, ReplayError
from tools.replay.session import PROG, Runtime, Session


class _ArgumentError(Exception):
    pass


# ------------------------------------------------------------------------------------------- parser


def build_parser(runtime: Runtime) -> argparse.ArgumentParser:
    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> Any:  # one line, exit 2 (argparse would print usage too)
            raise _ArgumentError(f"{self.prog}: {message} (see {PROG} --help)")

        def _print_message(self, message: str, file: Any = None) -> None:
            if message:
                runtime.stdout.write(message)

    # Global options are accepted before and after the command (AWS CLI habit); SUPPRESS keeps a value
    # given before the command from being reset by the subcommand's default.
    common = Parser(add_help=False)
    common.add_argument("--env", default=argparse.SUPPRESS, help="environment: config/<env>.yaml (default dev)")
    common.add_argument("--profile", default=argparse.SUPPRESS, help="AWS profile (default: AWS_PROFILE / default)")
    common.add_argument(
        "--region", default=argparse.SUPPRESS, help="AWS region (default: the env's, then the profile's)"
    )
    common.add_argument(
        "--output", choices=("table", "json"), default=argparse.SUPPRESS, help="table (default) or json"
    )

    parser = Parser(
        prog=PROG,
        parents=[common],
        description="Find, inspect, redrive and rerun the daily Personalize pipeline's runs.",
        epilog="Exit codes: 0 ok, 1 operation failed, 2 bad "
        "arguments or set-up, 3 not found or refused. Runbook: docs/runbook.md",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True

    listing = commands.add_parser(
        "list", parents=[common], help="runs, newest first", description="Runs of the env, newest run date first."
    )
    listing.add_argument("--country", action="extend", nargs="+", default=[], metavar="CC")
    listing.add_argument(
        "--status",
        action="extend",
        nargs="+",
        default=[],
        metavar="S",
        help="RUNNING SUCCEEDED SKIPPED REJECTED FAILED TIMED_OUT ABORTED",
    )
    listing.add_argument("--since", metavar="YYYY-MM-DD", help="first run date (inclusive)")
    listing.add_argument("--until", metavar="YYYY-MM-DD", help="last run date (inclusive)")
    listing.add_argument("--limit", type=_positive, default=20, metavar="N", help="at most N runs (default 20)")

    show = commands.add_parser(
        "show",
        parents=[common],
        help="one run in detail",
        description="Steps, Personalize jobs, metrics and gate decisions of one run.",
    )
    show.add_argument("run", metavar="RUN", help="execution ARN, or CC:YYYY-MM-DD")

    redrive = commands.add_parser(
        "redrive",
        parents=[common],
        help="resume a failed execution at its failed step",
        description="Step Functions redrive of a FAILED, TIMED_OUT or ABORTED execution "
        "(stopped in the last 14 days): it resumes at the failed state with the same "
        "input and execution ARN.",
    )
    redrive.add_argument("run", metavar="RUN", help="execution ARN, or CC:YYYY-MM-DD (the date's execution)")
    _change_options(redrive)

    rerun = commands.add_parser(
        "rerun",
        parents=[common],
        help="start new runs for a date or a range",
        description="Start a new execution per date with the schedule's deployed input. "
        "Dates that already succeeded are skipped unless --force. Several dates run one "
        "after another, oldest first.",
    )
    rerun.add_argument("--country", required=True, metavar="CC")
    rerun.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="run date (first of the range)")
    rerun.add_argument("--to", metavar="YYYY-MM-DD", help="last run date of a range (inclusive)")
    rerun.add_argument(
        "--force",
        action="store_true",
        help="also rerun dates that already succeeded, and take over dates whose ledger record is malformed",
    )
    rerun.add_argument(
        "--fresh-attempts",
        action="store_true",
        help="grant the dates' Personalize jobs a fresh series of attempts (new job names); for a date whose job "
        "failed on every attempt, once the cause is fixed",
    )
    _change_options(rerun)

    events = commands.add_parser(
        "events",
        parents=[common],
        help="real-time events: replay what Lambda gave up on",
        description="Real-time events (Kinesis -> ingest Lambda -> Personalize PutEvents).",
    )
    events_commands = events.add_subparsers(dest="events_command", metavar="EVENTS_COMMAND", parser_class=Parser)
    events_commands.required = True
    replay = events_commands.add_parser(
        "replay",
        parents=[common],
        help="resend the batches in the ingest failure queue from the stream",
        description="Read the ingest failure queue's descriptors (shard and sequence-number ranges Lambda gave "
        "up on), fetch those records from the stream, resend them through the ingest's delivery (same event "
        "ids: idempotent) and delete each descriptor whose records were all delivered or dead-lettered.",
    )
    replay.add_argument(
        "--max-descriptors",
        type=_positive,
        default=100,
        metavar="N",
        help="at most N descriptors in one go (default 100)",
    )
    replay.add_argument(
        "--time-budget",
        type=_positive,
        default=120,
        metavar="SECONDS",
        help="per descriptor: how long to keep trying a throttled or unavailable tracker (default 120)",
    )
    replay.add_argument("--dry-run", action="store_true", help="read and print the plan; change nothing")
    replay.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    inputs = commands.add_parser(
        "report-inputs",
        parents=[common],
        help="download a run's Personalize batch output for `make report RESULTS=DIR`",
        description="Download the batch output the run's comparison page scores (the country's per-user recipe, "
        "results/<CC>/<date>/<recipe>/) into DIR/<recipe>/, so `make report ... RESULTS=DIR` has the deployed "
        "page's Personalize column. Never overwrites a file.",
    )
    inputs.add_argument("--country", required=True, metavar="CC")
    inputs.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="the run date")
    inputs.add_argument("--out", required=True, metavar="DIR", help="where to write (outside the repository)")

    recommend = commands.add_parser(
        "recommend",
        parents=[common],
        help="one user's recommendations from the serving API, with their source",
        description="Call the env's serving API as an app does (GET .../users/USER/recommendations, signed with "
        "SigV4 for execute-api with your credentials) and print the list with its source, run date and "
        "recommendationId. The API's URL is the serving stack's output, or --url. See docs/serving.md.",
    )
    recommend.add_argument("--country", required=True, metavar="CC")
    recommend.add_argument("--user", required=True, metavar="USER_ID")
    recommend.add_argument("--count", type=_positive, metavar="N", help="how many items (default: the API's)")
    recommend.add_argument("--filter", metavar="NAME", help="a filter the country publishes (e.g. unwatched)")
    recommend.add_argument("--locale", metavar="LOCALE", help="profile hint for a user the API does not know")
    recommend.add_argument("--age-group", metavar="GROUP", help="profile hint for a user the API does not know")
    recommend.add_argument("--gender", metavar="G", help="profile hint for a user the API does not know")
    recommend.add_argument("--url", metavar="URL", help="the API's base URL instead of the serving stack's output")
    return parser


def _change_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="print what would be done; change nothing")
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--wait", action="store_true", help="show progress until the execution ends")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


# ------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None, *, runtime: Runtime | None = None) -> int:
    runtime = runtime or Runtime()
    parser = build_parser(runtime)
    where = ""
    try:
        args = parser.parse_args(argv)
        session = Session(args, runtime)
        where = session.clients.where
        return COMMANDS[args.command](session)
    except _ArgumentError as error:
        return _fail(runtime, str(error), USAGE)
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else OK
    except ReplayError as error:
        return _fail(runtime, f"{PROG}: {error.message}", error.code)
    except (ClientError, BotoCoreError) as error:
        translated = translate(error, where)
        return _fail(runtime, f"{PROG}: {translated.message}", translated.code)
    except KeyboardInterrupt:
        return _fail(runtime, f"{PROG}: interrupted; anything already started keeps running (see `{PROG} list`)", 130)
    except Exception as error:  # a bug of ours: still one line, the traceback on request
        if os.environ.get("PERSONALIZE_RUNS_DEBUG"):
            raise
        return _fail(
            runtime,
            f"{PROG}: internal error: {type(error).__name__}: {error} (PERSONALIZE_RUNS_DEBUG=1 shows the traceback)",
            FAILED,
        )


def _fail(runtime: Runtime, message: str, code: int) -> int:
    runtime.stderr.write(" ".join(message.split()) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
