"""What each command does: read or change runs through `runs` and `actions`, and say the result through `render`
(table) or as data (json). Each returns its exit code; the CLI (tools/replay/cli.py) parses and dispatches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tools.replay import render
from tools.replay.errors import FAILED, OK, REFUSED, ReplayError, UsageError
from tools.replay.session import PROG, Session


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
    session.print(render.runs_table(rows))
    return OK


def cmd_show(session: Session) -> int:
    from tools.replay.runs import parse_run

    run = session.runs.find(parse_run(session.args.run, session.env, session.clients.region))
    details = session.runs.details(run)
    session.emit(details, render.run_details(details))
    return OK


def cmd_redrive(session: Session) -> int:
    from tools.replay.actions import apply_redrive, outcome, plan_redrive, wait
    from tools.replay.runs import parse_run

    args = session.args
    run = session.runs.find(parse_run(args.run, session.env, session.clients.region))
    plan = plan_redrive(session.runs, run)
    summary = plan.summary()
    text = render.redrive_plan(plan)
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
    plan_text = render.rerun_plan(plan)

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
    session.emit(document({"started": sum(1 for i in plan.items if i.execution_arn)}), render.rerun_results(plan))
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
    plan_text = render.replay_table(plan) if plan.items else ""
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
    text = render.replay_table(plan) + "\n" + render.replay_outcome(summary)
    if summary["descriptors_kept"]:
        text += f"\nkept descriptors stay in the queue: run `{PROG} events replay --env {session.env.name}` again"
    session.emit({**summary, "items": [i.summary() for i in plan.items]}, text)
    return FAILED if summary["descriptors_kept"] else OK


def cmd_report_inputs(session: Session) -> int:
    from pathlib import Path

    from tools.replay.report_inputs import batch_prefix, download, results_bucket
    from tools.replay.runs import parse_date

    args = session.args
    run_date = parse_date(args.date, "--date")
    prefix, recipe = batch_prefix(session.env, args.country, run_date)
    # The bucket's name holds the account. GetCallerIdentity API reference: "No permissions are required to
    # perform this operation", so the run-operator policy needs no grant for it.
    account = session.env.config.account or session.clients.client("sts").get_caller_identity()["Account"]
    bucket = results_bucket(session.env, account, session.clients.region)
    out = Path(args.out)
    done = download(session.clients.client("s3"), bucket, prefix, recipe, out)
    country = session.env.country(args.country)
    text = (
        f"downloaded {len(done.files)} file(s), {done.bytes:,} bytes, from s3://{bucket}/{prefix} "
        f"to {out / recipe.value}\n"
        f"make report RAW=<the exports the run read> COUNTRY={country} RUN_DATE={run_date.isoformat()} "
        f"OUT=<a folder> RESULTS={out}"
    )
    session.emit(done.summary(), text)
    return OK


def cmd_recommend(session: Session) -> int:
    from tools.replay.recommend import RecommendationsRequest, api_url, checked_url, signed_get

    args = session.args
    user_id = args.user.strip()
    if not user_id:
        raise UsageError("--user must not be empty")
    request = RecommendationsRequest(
        country=session.env.country(args.country),
        user_id=user_id,
        count=args.count,
        filter=args.filter,
        locale=args.locale,
        age_group=args.age_group,
        gender=args.gender,
    )
    base_url = checked_url(args.url) if args.url else None
    credentials = session.clients.session.get_credentials()
    if credentials is None:
        raise UsageError(
            f"no AWS credentials found ({session.clients.where}): pass --profile NAME, or run `aws configure` / "
            "`aws sso login`"
        )
    if base_url is None:
        base_url = api_url(session.clients.client("cloudformation"), session.env.serving_stack)
    document = signed_get(credentials, session.clients.region, base_url, request)
    session.emit(document, render.recommendations(document, request.user_id))
    return OK


def cmd_events_dispatch(session: Session) -> int:
    return {"replay": cmd_events}[session.args.events_command](session)


COMMANDS: dict[str, Callable[[Session], int]] = {
    "list": cmd_list,
    "show": cmd_show,
    "redrive": cmd_redrive,
    "rerun": cmd_rerun,
    "events": cmd_events_dispatch,
    "report-inputs": cmd_report_inputs,
    "recommend": cmd_recommend,
}
