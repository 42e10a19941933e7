"""personalize-runs: find, inspect, redrive and rerun the daily Personalize pipeline's runs.

    personalize-runs list [--country CC ...] [--status S ...] [--since D] [--until D] [--limit N]
    personalize-runs show RUN                      RUN = execution ARN or CC:YYYY-MM-DD
    personalize-runs redrive RUN [--dry-run] [--yes] [--wait]
    personalize-runs rerun --country CC --date D [--to D2] [--force] [--fresh-attempts] [--dry-run] [--yes] [--wait]
    personalize-runs events replay [--max-descriptors N] [--time-budget S] [--dry-run] [--yes]

Global options (before or after the command): --env (default dev), --profile, --region, --output table|json.
Results go to stdout; progress, prompts and errors to stderr. Exit codes: 0 ok, 1 an operation failed,
2 bad arguments or set-up, 3 not found or refused. See docs/runbook.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from tools.replay import render
from tools.replay.aws import AwsClients, translate
from tools.replay.errors import FAILED, OK, REFUSED, USAGE, Refused, ReplayError, UsageError

PROG = "personalize-runs"


@dataclass
class Runtime:
    """Everything the CLI touches outside itself; tests replace parts of it."""

    clients: Callable[[str | None, str | None], AwsClients] = AwsClients
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = time.sleep
    poll_seconds: float = 15.0
    # The clock `events replay` delivers with (ingest.delivery.Clock); None = the system clock.
    delivery_clock: Any = None


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


# ------------------------------------------------------------------------------------------- session


class Session:
    """One command's env, clients and output."""

    def __init__(self, args: argparse.Namespace, runtime: Runtime) -> None:
        from tools.replay.env import Env  # loads the config model (CDK imports: only for commands that need it)

        self.args = args
        self.runtime = runtime
        self.output = getattr(args, "output", "table")
        self.env = Env.load(getattr(args, "env", "dev"))
        self.clients = runtime.clients(
            getattr(args, "profile", None), getattr(args, "region", None) or self.env.config.region
        )
        if not self.clients.region:
            raise UsageError(
                f"no AWS region for env {self.env.name}: pass --region, or set one in "
                "the env's config or your AWS profile"
            )
        from tools.replay.runs import Runs

        self.runs = Runs(self.env, self.clients, runtime.now)

    def print(self, text: str = "") -> None:
        self.runtime.stdout.write(text + "\n")

    def progress(self, text: str) -> None:
        self.runtime.stderr.write(text + "\n")
        self.runtime.stderr.flush()

    def emit(self, data: Any, text: str) -> None:
        self.print(render.to_json(data) if self.output == "json" else text)

    def confirm(self, question: str) -> None:
        if self.args.yes:
            return
        if not self.runtime.stdin.isatty():
            raise UsageError(
                f"{question.rstrip('?')}: this needs a confirmation, but stdin is not a terminal; "
                "pass --yes to go ahead (or --dry-run to see the plan)"
            )
        self.runtime.stderr.write(f"{question} [y/N] ")
        self.runtime.stderr.flush()
        answer = self.runtime.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            raise Refused("cancelled: nothing was changed")


# ------------------------------------------------------------------------------------------- commands


def cmd_list(session: Session) -> int:
    from tools.replay.runs import STATUSES, parse_date

    args = session.args
    countries = [session.env.country(c) for c in args.country] or session.env.countries
    statuses = set()
    for status in args.status:
        if status.upper() not in STATUSES:
            raise UsageError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
        statuses.add(status.upper())
    since = parse_date(args.since, "--since") if args.since else None
    until = parse_date(args.until, "--until") if args.until else None
    if since and until and until < since:
        raise UsageError(f"--until {until} is before --since {since}")
    rows = session.runs.list(countries, statuses, since, until, args.limit)
    if session.output == "json":
        session.emit(rows, "")
        return OK
    if not rows:
        session.print(f"no runs in env {session.env.name} match")
        return OK
    session.print(
        render.table(
            [
                (
                    r["country"],
                    r["run_date"],
                    r["status"] + (f" (redrive {r['redrive_count']})" if r["redrive_count"] else ""),
                    r["failed_step"],
                    render.short(r["reason"], 70),
                    render.duration(r["seconds"]),
                    r["note"],
                )
                for r in rows
            ],
            ("COUNTRY", "RUN DATE", "STATUS", "FAILED STEP", "REASON", "DURATION", "NOTE"),
        )
    )
    return OK


def cmd_show(session: Session) -> int:
    from tools.replay.runs import parse_run

    run = session.runs.find(parse_run(session.args.run, session.env, session.clients.region))
    details = session.runs.details(run)
    session.emit(details, _show_text(details))
    return OK


def _show_text(d: dict[str, Any]) -> str:
    lines = [f"{d['country']} {d['run_date']}  {d['status']}  (env {d['env']}, mode {d['mode'] or '-'})"]
    lines.append(f"execution  {d['execution_arn']}")
    if d["redrive_count"]:
        lines.append(f"redriven   {d['redrive_count']}x, last at {render.timestamp(d['redrive_date'])}")
    lines.append(
        f"started    {render.timestamp(d['started_at'])}   finished {render.timestamp(d['finished_at'])}"
        f"   duration {render.duration(d['seconds'])}"
    )
    failure = d["failure"]
    if failure:
        lines.append(
            f"failed     step {failure.get('step')} (state {failure.get('state')}): {failure.get('error')}: "
            f"{failure.get('reason')}"
        )
    if d["earlier_failure"]:
        e = d["earlier_failure"]
        lines.append(f"earlier    failed at {e.get('step')}: {e.get('error')}: {e.get('reason')} (then redriven)")
    if d["attempt_series"] > 1:
        lines.append(f"attempts   series {d['attempt_series']} (started with --fresh-attempts)")
    if d["reason"]:
        lines.append(f"reason     {d['reason']}")
    for note in d["notes"]:
        lines.append(f"note       {note}")
    lines += [
        "",
        render.table(
            [
                (
                    s["step"],
                    s["status"],
                    render.timestamp(s["started_at"]),
                    render.timestamp(s["finished_at"]),
                    render.duration(s["seconds"]),
                    s["polls"],
                    render.short(s["note"], 50),
                )
                for s in d["steps"]
            ],
            ("STEP", "STATUS", "STARTED", "FINISHED", "DURATION", "POLLS", "NOTE"),
        ),
    ]
    jobs = [(s["step"], j["job"], j["status"], j["arn"] or j["name"]) for s in d["steps"] for j in s["jobs"]]
    if jobs:
        lines += ["", render.table(jobs, ("STEP", "JOB", "STATUS", "ARN"))]
    if d["gate"]:
        rows = []
        for decision in d["gate"]:
            new, old = decision.get("new_metrics") or {}, decision.get("promoted_metrics") or {}
            ndcg = "normalized_discounted_cumulative_gain_at_10"
            rows.append(
                (
                    decision["recipe"],
                    "approved" if decision["approved"] else "REJECTED",
                    _metric(new.get(ndcg)),
                    _metric(old.get(ndcg)),
                    _metric(new.get("coverage")),
                    render.short("; ".join(decision.get("reasons") or []), 80),
                )
            )
        lines += ["", render.table(rows, ("GATE", "DECISION", "NDCG@10", "PROMOTED NDCG@10", "COVERAGE", "REASONS"))]
    if d["promoted"]:
        lines += ["", render.table(sorted(d["promoted"].items()), ("RECIPE", "PROMOTED VERSION"))]
    if d["counts"]:
        lines += ["", "counts     " + ", ".join(f"{k} {v:,}" for k, v in sorted(d["counts"].items()))]
    if d["report_url"]:
        lines.append(f"report     {d['report_url']}")
    return "\n".join(lines)


def _metric(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def cmd_redrive(session: Session) -> int:
    from tools.replay.actions import apply_redrive, outcome, plan_redrive, wait
    from tools.replay.runs import parse_run

    args = session.args
    run = session.runs.find(parse_run(args.run, session.env, session.clients.region))
    plan = plan_redrive(session.runs, run)
    summary = plan.summary()
    failure = plan.failure or {}
    text = (
        f"redrive {run.label}: execution {run.execution_arn}\n"
        f"  {summary['status']} at step {failure.get('step')} ({failure.get('error')}: {failure.get('reason')})\n"
        f"  resumes at state {plan.resume_state} with the same input; redrive count becomes "
        f"{summary['redrive_count']}"
    )
    if args.dry_run:
        session.emit({**summary, "dry_run": True}, text + "\ndry run: nothing changed")
        return OK
    if session.output != "json":
        session.print(text)
    session.confirm(f"Redrive {run.label} from state {plan.resume_state}?")
    result = apply_redrive(session.runs, plan)
    code = OK
    if args.wait:
        final = wait(
            session.runs,
            plan.execution_arn,
            run.label,
            progress=session.progress,
            poll_seconds=session.runtime.poll_seconds,
            sleep=session.runtime.sleep,
        )
        result["final_status"], result["detail"] = outcome(final)
        code = _code_of(result["final_status"])
    if session.output == "json":
        session.emit(result, "")
    else:
        session.print(f"redriven at {render.timestamp(result['redrive_date'])}: {run.execution_arn}")
        if args.wait:
            session.print(f"{run.label}: {result['final_status']} {result['detail']}".rstrip())
        else:
            session.print(f"follow it: {PROG} show --env {session.env.name} {run.country}:{run.run_date}")
    return code


def _code_of(status: str) -> int:
    if status in ("SUCCEEDED", "SKIPPED", "REJECTED"):
        return OK
    return REFUSED if status == "NOT_ADMITTED" else FAILED


def cmd_rerun(session: Session) -> int:
    from tools.replay.actions import date_range, outcome, plan_rerun, start_rerun, wait
    from tools.replay.runs import parse_date

    args = session.args
    country = session.env.country(args.country)
    first = parse_date(args.date, "--date")
    last = parse_date(args.to, "--to") if args.to else None
    dates = date_range(first, last)
    plan = plan_rerun(
        session.runs, session.clients.scheduler, country, dates, force=args.force, fresh_attempts=args.fresh_attempts
    )
    to_start = plan.to_start
    plan_text = render.table([(str(i.run_date), i.action, i.reason) for i in plan.items], ("RUN DATE", "ACTION", "WHY"))

    def document(extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "country": country,
            "schedule": plan.schedule,
            "force": plan.force,
            "fresh_attempts": plan.fresh_attempts,
            "items": [i.summary() for i in plan.items],
            **extra,
        }

    if not to_start:
        session.emit(document({"started": 0}), plan_text + "\nnothing to start")
        return OK
    if args.dry_run:
        from tools.replay.actions import execution_name_pattern

        session.emit(
            document({"dry_run": True}),
            plan_text
            + "\ndry run: nothing changed (would start "
            + ", ".join(execution_name_pattern(country, i.run_date) for i in to_start)
            + ")",
        )
        return OK
    if session.output != "json":
        session.print(plan_text)
    sequential = len(to_start) > 1
    session.confirm(
        f"Start {len(to_start)} run(s) of {country} ({', '.join(str(i.run_date) for i in to_start)})"
        + (", one after another" if sequential else "")
        + "?"
    )
    if sequential and not args.wait:
        session.progress(
            "several dates: each starts when the previous one has ended (a run's mode and changed "
            "users depend on the previous run), so this waits"
        )
    code = OK
    for index, item in enumerate(to_start):
        execution_arn = start_rerun(session.runs, plan, item)
        session.progress(f"started {item.execution_name}: {execution_arn}")
        if args.wait or sequential:
            final = wait(
                session.runs,
                execution_arn,
                f"{country} {item.run_date}",
                progress=session.progress,
                poll_seconds=session.runtime.poll_seconds,
                sleep=session.runtime.sleep,
            )
            item.status, item.detail = outcome(final)
            code = _code_of(item.status)
            if code != OK:
                for rest in to_start[index + 1 :]:
                    rest.action, rest.reason = "not started", f"stopped after {item.run_date} ended {item.status}"
                break
    rows = [
        (str(i.run_date), i.action, i.execution_name, i.status, render.short(i.detail or i.reason, 70))
        for i in plan.items
    ]
    session.emit(
        document({"started": sum(1 for i in plan.items if i.execution_arn)}),
        render.table(rows, ("RUN DATE", "ACTION", "EXECUTION", "STATUS", "DETAIL")),
    )
    return code


def cmd_events(session: Session) -> int:
    from tools.replay import events

    resources = events.realtime_resources(
        session.clients.client("cloudformation"), session.env.realtime_stack, session.env.country_stacks
    )
    session.progress(f"reading up to {session.args.max_descriptors} descriptors from {resources.failure_queue_url}")
    plan = events.plan_replay(session.clients, resources, session.args.max_descriptors)
    if plan.ignored:
        session.progress(f"{len(plan.ignored)} message(s) in the failure queue are not Kinesis descriptors: left there")
    plan_text = _replay_table(plan) if plan.items else ""
    if not plan.items:
        session.emit({**plan.summary(), "items": []}, f"no descriptors in the failure queue of env {session.env.name}")
        return OK
    if session.args.dry_run:
        session.emit(
            {**plan.summary(), "dry_run": True, "items": [i.summary() for i in plan.items]},
            plan_text + f"\ndry run: nothing changed (would resend {plan.records} records of {len(plan.items)} "
            "descriptor(s))",
        )
        events.release_plan(session.clients, plan)
        return OK
    if session.output != "json":
        session.print(plan_text)
    try:
        session.confirm(
            f"Resend {plan.records} records of {len(plan.items)} descriptor(s) to Personalize (env {session.env.name})?"
        )
    except ReplayError:
        events.release_plan(session.clients, plan)
        raise
    events.replay(
        session.clients,
        plan,
        time_budget_s=session.args.time_budget,
        progress=session.progress,
        clock=session.runtime.delivery_clock,
    )
    summary = plan.summary()
    text = (
        _replay_table(plan)
        + f"\n{summary['records']} records: {summary['delivered']} delivered, {summary['dead_lettered']} "
        f"dead-lettered, {summary['not_delivered']} not delivered; descriptors: {summary['descriptors_deleted']} "
        f"deleted, {summary['descriptors_kept']} kept"
    )
    if summary["descriptors_kept"]:
        text += f"\nkept descriptors stay in the queue: run `{PROG} events replay --env {session.env.name}` again"
    session.emit({**summary, "items": [i.summary() for i in plan.items]}, text)
    return FAILED if summary["descriptors_kept"] else OK


def _replay_table(plan: Any) -> str:
    rows = [
        (
            i.descriptor.shard_id,
            render.short(f"{i.descriptor.start}..{i.descriptor.end}", 40),
            i.descriptor.condition,
            i.records,
            sum(i.parse_failures.values()),
            "yes" if i.fetched.start_missing else "",
            i.delivered if i.action != "planned" else "",
            i.dead_lettered if i.action != "planned" else "",
            i.not_delivered if i.action != "planned" else "",
            i.action,
        )
        for i in plan.items
    ]
    headers = ("SHARD", "SEQUENCE NUMBERS", "CONDITION", "RECORDS", "INVALID", "EXPIRED", "DELIVERED", "DLQ", "LEFT")
    return render.table(rows, (*headers, "DESCRIPTOR"))


def cmd_events_dispatch(session: Session) -> int:
    return {"replay": cmd_events}[session.args.events_command](session)


COMMANDS: dict[str, Callable[[Session], int]] = {
    "list": cmd_list,
    "show": cmd_show,
    "redrive": cmd_redrive,
    "rerun": cmd_rerun,
    "events": cmd_events_dispatch,
}


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
