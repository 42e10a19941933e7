"""personalize-smoke: deploy an env to a sandbox account, run one country end to end, check it, clean up.

    python -m tools.smoke --env ENV [--country CC] [--keep] [--dry-run] [--timeout-minutes N]
                          [--poll-seconds S] [--profile P] [--region R]

Runs only against an env whose config says `sandbox: true`, with credentials for that config's account (checked
with STS before anything else); docs/smoke.md. Needs Docker (the report step's image) and a bootstrapped account.
Progress goes to stderr, the verification summary to stdout. Exit codes: 0 every check passed, 1 a step or
check failed, 2 bad arguments or refused (nothing was called but STS).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from stacks.config import CONFIG_DIR, ConfigError, EnvironmentConfig, load_config
from tools.smoke.flow import SAMPLE_COUNTRIES, Options, Seams, Smoke, new_workdir, plan
from tools.smoke.guard import Refused, require_sandbox

PROG = "personalize-smoke"


class _ArgumentError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2 (argparse would print the usage block too)
        raise _ArgumentError(message)


def _parse(argv: list[str], config_dir: Path) -> tuple[EnvironmentConfig, Options, argparse.Namespace]:
    parser = _Parser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="environment: config/<env>.yaml")
    parser.add_argument("--country", help="the country to run (default: the env's first sample country)")
    parser.add_argument("--keep", action="store_true", help="leave the deployment, data and queue in place")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and call nothing")
    parser.add_argument("--timeout-minutes", type=int, default=360, help="longest wait for the run (default 360)")
    parser.add_argument("--poll-seconds", type=float, default=60.0, help="progress interval (default 60)")
    parser.add_argument("--profile", help="AWS profile (default: AWS_PROFILE / default)")
    parser.add_argument("--region", help="AWS region (default: the env's, then the profile's)")
    args = parser.parse_args(argv)
    if args.timeout_minutes < 1:
        raise _ArgumentError(f"--timeout-minutes must be >= 1, got {args.timeout_minutes}")
    if args.poll_seconds <= 0:
        raise _ArgumentError(f"--poll-seconds must be > 0, got {args.poll_seconds:g}")
    try:
        config = load_config(args.env, config_dir)
    except ConfigError as error:
        raise _ArgumentError(str(error)) from None
    require_sandbox(config)  # before anything else about the run, --dry-run included
    codes = [c.code for c in config.countries]
    if args.country:
        code = args.country.strip().upper()
        if code not in codes:
            raise _ArgumentError(
                f"unknown country {args.country!r} for env {config.env} (countries: {', '.join(codes)})"
            )
        if code not in SAMPLE_COUNTRIES:
            raise _ArgumentError(f"the sample data has no users in {code}; pick one of {', '.join(SAMPLE_COUNTRIES)}")
    else:
        candidates = [c for c in codes if c in SAMPLE_COUNTRIES]
        if not candidates:
            raise _ArgumentError(f"env {config.env} has none of the sample's countries ({', '.join(SAMPLE_COUNTRIES)})")
        code = candidates[0]
    options = Options(
        country=config.country(code),
        keep=args.keep,
        timeout=timedelta(minutes=args.timeout_minutes),
        poll_seconds=args.poll_seconds,
    )
    return config, options, args


def boto3_clients(profile: str | None, region: str | None) -> Callable[[str], Any]:
    """The real client factory: one boto3 session, clients created on first use."""
    import boto3

    session = boto3.Session(profile_name=profile, region_name=region)
    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in made:
            made[service] = session.client(service)
        return made[service]

    return client


def main(
    argv: list[str] | None = None,
    *,
    config_dir: Path = CONFIG_DIR,
    seams: Callable[[Callable[[str], Any] | None], Seams] | None = None,
    clients: Callable[[str | None, str | None], Callable[[str], Any]] = boto3_clients,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """`seams(clients)` builds the Seams (tests pass one with a fake runner); `clients(profile, region)`
    builds the client factory; `config_dir` holds the env files (tests: a temporary sandbox)."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    try:
        config, options, args = _parse(sys.argv[1:] if argv is None else argv, config_dir)
    except _ArgumentError as error:
        print(f"{PROG}: error: {error}", file=stderr)
        return 2
    except Refused as error:
        print(f"{PROG}: refused: {error}", file=stderr)
        return 2
    if args.dry_run:
        for line in plan(config, options, Path("<temporary folder>/outputs.json")):
            print(line, file=stdout)
        return 0
    workdir = new_workdir()
    factory = clients(args.profile, args.region or config.region)
    built = seams(factory) if seams else Seams(clients=factory, say=lambda line: print(line, file=stderr, flush=True))
    smoke = Smoke(config, options, built, workdir)
    try:
        passed = smoke.execute()
    except Refused as error:
        print(f"{PROG}: refused: {error}", file=stderr)
        return 2
    for what, ok, detail in smoke.verified:
        print(f"{'ok  ' if ok else 'FAIL'} {what}: {detail}", file=stdout)
    print(
        "smoke test passed" if passed else "smoke test FAILED",
        f"(env {config.env}, country {options.country.code}, run date {smoke.run_date})",
        file=stdout,
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
