"""Bad arguments and set-up problems: one clear line on stderr, the documented exit code, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from replay_fakes import SUNDAY, invoke

from tools.replay.aws import AwsClients

ROOT = Path(__file__).resolve().parents[2]
ARN = "arn:aws:states:us-east-1:123456789012:execution:personalize-dev-pipeline:KR-2026-11-15-1"


def one_line(result, code: int, message: str) -> None:
    assert result.code == code, (result.code, result.err)
    assert result.out == ""
    assert len(result.err.splitlines()) == 1 and "Traceback" not in result.err, result.err
    assert message in result.err, result.err


class NoClients(AwsClients):
    """The CLI's client factory, failing the test if the command makes any client."""

    def client(self, service: str):
        pytest.fail(f"a command refused for its arguments made a {service} client")


# Refused before any AWS call: no moto needed, no client is made.
@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["list", "--env", "staging"], 2, "unknown env 'staging': no file config/staging.yaml; known envs: dev, prod"),
        (["--env", "Prod!", "list"], 2, "unknown env 'Prod!'"),
        (["list", "--country", "FR"], 2, "unknown country FR for env dev (countries: KR, JP, US)"),
        (["list", "--status", "BROKEN"], 2, "unknown status 'BROKEN' (one of RUNNING, SUCCEEDED, SKIPPED"),
        (["list", "--since", "15-11-2026"], 2, "bad date for --since: '15-11-2026' (expected YYYY-MM-DD"),
        (["list", "--since", SUNDAY, "--until", "2026-11-01"], 2, "--until 2026-11-01 is before --since 2026-11-15"),
        (["list", "--limit", "0"], 2, "argument --limit: expected a positive number, got '0'"),
        (
            ["show", "yesterday"],
            2,
            "RUN must be an execution ARN or CC:YYYY-MM-DD (e.g. KR:2026-11-15), got 'yesterday'",
        ),
        (["show", "KR:2026-13-01"], 2, "bad date for RUN: '2026-13-01'"),
        (["show", "FR:2026-11-15"], 2, "unknown country FR for env dev"),
        (
            ["show", ARN.replace("personalize-dev-pipeline", "other-pipeline")],
            2,
            "is not an execution of personalize-dev-pipeline (env dev); wrong --env?",
        ),
        (["show", ARN.replace("us-east-1", "eu-west-1")], 2, "is in region eu-west-1 but this command uses us-east-1"),
        (["redrive", "KR:2026-02-30", "--yes"], 2, "bad date for RUN: '2026-02-30'"),
        (["rerun", "--country", "FR", "--date", SUNDAY], 2, "unknown country FR for env dev"),
        (["rerun", "--country", "KR", "--date", "2026/11/15"], 2, "bad date for --date: '2026/11/15'"),
        (
            ["rerun", "--country", "KR", "--date", SUNDAY, "--to", "2026-11-10"],
            2,
            "--to 2026-11-10 is before --date 2026-11-15",
        ),
        (
            ["rerun", "--country", "KR", "--date", "2026-01-01", "--to", "2026-03-01"],
            2,
            "60 dates asked; rerun at most 31",
        ),
        (["rerun", "--country", "KR", "--date", "2099-01-01"], 2, "2099-01-01 is in the future for KR"),
        (["rerun", "--date", SUNDAY], 2, "the following arguments are required: --country"),
        ([], 2, "the following arguments are required: COMMAND"),
        (["delete"], 2, "invalid choice: 'delete'"),
        (["list", "--output", "xml"], 2, "argument --output: invalid choice: 'xml'"),
        (["list", "--verbose"], 2, "unrecognized arguments: --verbose"),
    ],
)
def test_bad_arguments(argv, code, message):
    result = invoke([*argv, "--region", "us-east-1"] if "--region" not in argv and argv else argv, clients=NoClients)

    one_line(result, code, message)


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "config").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookup (no network)


def test_missing_credentials(no_credentials):
    one_line(
        invoke(["list", "--region", "us-east-1"]),
        2,
        "no AWS credentials found (profile (default), region us-east-1): pass --profile NAME",
    )


def test_unknown_profile(no_credentials):
    one_line(
        invoke(["list", "--profile", "on-call", "--region", "us-east-1"]),
        2,
        "AWS profile not found: on-call; check --profile",
    )


def test_missing_region(no_credentials):
    one_line(invoke(["list"]), 2, "no AWS region for env dev: pass --region")


def _stubbed(code: str, message: str):
    """A client factory whose DynamoDB answers every Query with `code` (botocore Stubber, no network)."""

    class Stubbed(AwsClients):
        def dynamodb(self):
            client = boto3.client("dynamodb", region_name=self.region)
            stubber = Stubber(client)
            for _ in range(3):
                stubber.add_client_error(
                    "query", service_error_code=code, service_message=message, http_status_code=400
                )
            stubber.activate()
            return client

    return Stubbed


def test_access_denied():
    denied = "User: arn:aws:sts::123456789012:assumed-role/ReadOnly/me is not authorized to perform: dynamodb:Query"
    result = invoke(["list", "--region", "us-east-1"], clients=_stubbed("AccessDeniedException", denied))

    one_line(result, 1, f"access denied: Query was refused by AWS (profile (default), region us-east-1): {denied}")


def test_expired_credentials():
    result = invoke(
        ["list", "--region", "us-east-1"],
        clients=_stubbed("ExpiredTokenException", "The security token included in the request is expired"),
    )

    one_line(result, 2, "AWS credentials expired (profile (default), region us-east-1): log in again")


def test_unknown_runs_and_undeployed_envs_are_not_found(world):
    one_line(
        world.cli("show", f"KR:{SUNDAY}"),
        3,
        f"no run of KR {SUNDAY} in env dev: the ledger (personalize-dev-runs) has no record of it",
    )
    one_line(world.cli("redrive", f"JP:{SUNDAY}", "--yes"), 3, f"no run of JP {SUNDAY} in env dev")
    missing = world.harness.state_machine_arn.replace(":stateMachine:", ":execution:") + ":KR-nope"
    one_line(world.cli("show", missing), 3, f"no execution {missing}")
    one_line(
        world.cli("list", "--region", "eu-west-1"),
        3,
        "run ledger table personalize-dev-runs not found (profile (default), region eu-west-1): is this env deployed",
    )
    world.scheduler.delete_schedule(Name="personalize-dev-kr-daily")
    one_line(
        world.cli("rerun", "--country", "KR", "--date", SUNDAY, "--yes"),
        3,
        "schedule personalize-dev-kr-daily not found",
    )
    assert world.executions() == []


def test_help_and_the_module_entry_point():
    helped = invoke(["--help"])
    assert helped.code == 0 and helped.out.startswith("usage: personalize-runs")
    listed = [line.split()[0] for line in helped.out.splitlines() if line.startswith("    ") and line[4] != " "]
    assert listed == ["list", "show", "redrive", "rerun", "events", "report-inputs", "recommend"]
    assert "--dry-run             print what would be done; change nothing" in invoke(["rerun", "--help"]).out

    run = subprocess.run(
        [sys.executable, "-m", "tools.replay", "list", "--env", "nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip().startswith("personalize-runs: unknown env 'nope'") and len(run.stderr.splitlines()) == 1
