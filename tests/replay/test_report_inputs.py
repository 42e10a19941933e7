"""`personalize-runs report-inputs`: downloads the batch output a run's page scores, on moto; every call it makes
is allowed by the run-operator policy alone (the synthesised dev env's names, as tests/iam evaluates them); the
download is what `make report RESULTS=DIR` reads."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from tests.iam.calls import Caller, CallMap, CallRecorder, check
from tests.iam.policy import Assembly
from tests.replay.replay_fakes import invoke
from tools.replay.aws import AwsClients

REGION, ACCOUNT = "us-east-1", "123456789012"
RESULTS = f"personalize-dev-results-{ACCOUNT}-{REGION}"
RUN_OPERATOR_POLICY = "personalize-dev-run-operator"
DATE = "2026-11-15"
LINE = {"input": {"userId": "u1"}, "output": {"recommendedItems": ["i1", "i2"], "scores": [0.5, 0.4]}}


def _world() -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=RESULTS)
    s3.put_object(Bucket=RESULTS, Key=f"KR/{DATE}/user-personalization/users.json.out", Body=json.dumps(LINE) + "\n")
    s3.put_object(Bucket=RESULTS, Key=f"KR/{DATE}/user-personalization/_CHECK", Body=b"")
    # other recipes' output and the report itself are not what the page's Personalize column scores
    s3.put_object(Bucket=RESULTS, Key=f"KR/{DATE}/similar-items/items.json.out", Body=b"{}\n")
    s3.put_object(Bucket=RESULTS, Key=f"KR/{DATE}/report.json", Body=b"{}")


def _cli(*args: str):
    return invoke(["report-inputs", "--env", "dev", "--region", REGION, *args], clients=AwsClients)


def test_report_inputs_downloads_the_per_user_recipes_batch_output_of_the_run(tmp_path):
    with mock_aws():
        _world()
        result = _cli("--country", "kr", "--date", DATE, "--out", str(tmp_path / "results"))

    assert result.code == 0, result.err
    got = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert got == ["results/user-personalization/_CHECK", "results/user-personalization/users.json.out"]
    assert json.loads((tmp_path / "results/user-personalization/users.json.out").read_text()) == LINE
    assert f"RUN_DATE={DATE}" in result.out and f"RESULTS={tmp_path / 'results'}" in result.out


def test_report_inputs_refuses_in_one_line_and_loses_nothing(tmp_path):
    out = tmp_path / "results"
    (out / "user-personalization").mkdir(parents=True)
    (out / "user-personalization/users.json.out").write_text("mine\n")
    with mock_aws():
        _world()
        clash = _cli("--country", "KR", "--date", DATE, "--out", str(out))
        missing = _cli("--country", "KR", "--date", "2026-11-16", "--out", str(tmp_path / "other"))
        unknown = _cli("--country", "ZZ", "--date", DATE, "--out", str(tmp_path / "other"))

    assert clash.code == 2 and "already exists" in clash.err and clash.err.count("\n") == 1
    assert (out / "user-personalization/users.json.out").read_text() == "mine\n"
    assert not list(out.rglob("*.part")) and not (out / "user-personalization/_CHECK").exists()
    assert missing.code == 3 and "no batch output under" in missing.err
    assert unknown.code == 2 and "unknown country" in unknown.err
    assert not (tmp_path / "other").exists()


@pytest.fixture(scope="module")
def assembly(dev_app) -> Assembly:
    return Assembly(dev_app.outdir)


def test_every_call_of_report_inputs_is_allowed_by_the_run_operator_policy(assembly, tmp_path):
    recorder = CallRecorder()
    operator = Caller(f"personalize-runs ({RUN_OPERATOR_POLICY})", assembly.managed_policy(RUN_OPERATOR_POLICY))
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        recorder.install(monkeypatch)
        with recorder.suspended():
            _world()
        with recorder.acting_as(operator):
            result = _cli("--country", "KR", "--date", DATE, "--out", str(tmp_path / "results"))
    assert result.code == 0, result.err
    # GetCallerIdentity needs no permission (its API reference), so it is not evaluated.
    calls = [call for call in recorder.calls if call.service != "sts"]
    assert {c.operation for c in calls} == {"ListObjectsV2", "GetObject"}
    refusals, checked = check(assembly, CallMap(assembly), calls)
    assert checked and not refusals, "\n".join(r.line() for r in refusals)
    # and nothing beyond the batch output: the report-reader's objects are not the operator's
    other = [c for c in calls if c.operation == "GetObject" and "/user-personalization/" not in c.params["Key"]]
    assert not other
