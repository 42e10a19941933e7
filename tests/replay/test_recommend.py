"""`personalize-runs recommend`: one signed GET to the serving API, the list printed with its source.

The API is a local HTTP server in a thread that answers like the serving API and checks what API Gateway's IAM
authorization checks: an `AWS4-HMAC-SHA256` Authorization header whose credential scope is the env's region and
`execute-api`, and whose signature, recomputed from the request as received (method, path, query, signed
headers), matches the caller's secret key. The serving stack's outputs come from the replay tests' botocore-checked
DescribeStacks fake (moto's CloudFormation needs extras this venv lacks).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from serving.read_model import Source
from tests.replay.events_world import FakeCloudFormation
from tests.replay.replay_fakes import Result, invoke
from tools.replay.aws import AwsClients
from tools.replay.recommend import API_URL_OUTPUT, RecommendationsRequest
from tools.replay.render import SHOWN_FIELDS, SHOWN_ITEM_FIELDS

REGION = "ap-northeast-2"  # config/prod.yaml's
SERVING_STACK = "Personalize-prod-Serving"
KEY, SECRET, TOKEN = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-example"
RUN_DATE = "2026-11-15"
LIST = {
    "country": "KR",
    "source": Source.BATCH.value,
    "runDate": RUN_DATE,
    "recommendationId": "api-1f0c2b9e-5c1d-4f7e-9a63-0d2f3b4c5d6e",
    "filterApplied": False,
    "items": [
        {"itemId": "m-2", "title": "The Second Film", "genres": ["Drama", "Comedy"], "created": 1_700_000_000},
        {"itemId": "m-1", "title": "Film One", "genres": [], "created": None},
    ],
}


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    signature_ok: bool
    scope: list[str]


@dataclass
class FakeApi:
    """The serving API as a caller sees it; `reply` is what it answers next (status, body)."""

    url: str
    seen: list[Seen] = field(default_factory=list)
    reply: tuple[int, bytes] = (200, json.dumps(LIST).encode())


def _verify(method: str, host: str, raw_path: str, headers: dict[str, str]) -> tuple[bool, list[str]]:
    """Recompute the SigV4 signature of the request as received with the caller's secret key."""
    authorization = headers.get("authorization", "")
    algorithm, _, fields = authorization.partition(" ")
    parts = dict(part.strip().split("=", 1) for part in fields.split(",") if "=" in part)
    scope = parts.get("Credential", "").split("/")
    if algorithm != "AWS4-HMAC-SHA256" or len(scope) != 5:
        return False, scope
    signed = parts["SignedHeaders"].split(";")
    request = AWSRequest(method=method, url=f"http://{host}{raw_path}", headers={h: headers[h] for h in signed})
    request.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(Credentials(KEY, SECRET, TOKEN), scope[3], scope[2])
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    return expected == parts.get("Signature") and scope[0] == KEY, scope


@pytest.fixture
def api() -> Iterator[FakeApi]:
    state: dict[str, FakeApi] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            ok, scope = _verify("GET", headers["host"], self.path, headers)
            split = urlsplit(self.path)
            fake = state["api"]
            fake.seen.append(Seen("GET", split.path, parse_qs(split.query), headers, ok, scope))
            status, body = fake.reply if ok else (403, b'{"message":"Forbidden"}')
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["api"] = FakeApi(f"http://127.0.0.1:{server.server_port}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield state["api"]
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(autouse=True)
def credentials(monkeypatch, tmp_path):
    """The operator's credentials, and nothing from the machine's AWS config."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)


def _cli(*args: str, stacks: dict[str, dict[str, str]] | None = None) -> Result:
    """The CLI in-process; CloudFormation answers from `stacks` (name -> outputs), every other client is real."""
    cloudformation = FakeCloudFormation(stacks or {})

    class Clients(AwsClients):
        def client(self, service: str) -> Any:
            return cloudformation if service == "cloudformation" else super().client(service)

    return invoke(["recommend", "--env", "prod", *args], clients=Clients)


def _one_line(result: Result) -> str:
    assert result.err.endswith("\n") and result.err.count("\n") == 1, result.err
    return result.err


def test_recommend_signs_a_get_for_execute_api_and_prints_the_list_with_its_source(api):
    result = _cli(
        "--country", "kr", "--user", "u-1", "--count", "5", "--filter", "unwatched", "--locale", "ko_KR",
        "--url", api.url,
    )  # fmt: skip

    assert result.code == 0, result.err
    [seen] = api.seen
    assert seen.signature_ok, seen.headers.get("authorization")
    assert seen.scope[2:] == [REGION, "execute-api", "aws4_request"]
    assert seen.headers["x-amz-security-token"] == TOKEN
    assert seen.path == "/v1/countries/KR/users/u-1/recommendations"
    assert seen.query == {"count": ["5"], "filter": ["unwatched"], "locale": ["ko_KR"]}
    assert f"source {Source.BATCH.value}" in result.out
    assert f"run date {RUN_DATE}" in result.out
    assert LIST["recommendationId"] in result.out
    lines = result.out.splitlines()
    first = next(i for i, line in enumerate(lines) if "m-2" in line)
    assert "The Second Film" in lines[first] and "Drama, Comedy" in lines[first] and "2023-11-14" in lines[first]
    assert "m-1" in lines[first + 1] and "Film One" in lines[first + 1]


def test_recommend_signs_user_ids_that_need_encoding_as_api_gateway_receives_them(api):
    result = _cli("--country", "KR", "--user", "kim/min+ä", "--age-group", "25-34", "--gender", "F", "--url", api.url)

    assert result.code == 0, result.err
    [seen] = api.seen
    assert seen.signature_ok
    assert seen.path == "/v1/countries/KR/users/kim%2Fmin%2B%C3%A4/recommendations"
    assert seen.query == {"ageGroup": ["25-34"], "gender": ["F"]}


def test_recommend_finds_the_api_url_in_the_serving_stacks_outputs(api):
    # an HTTP API's default stage URL ends with a slash
    result = _cli("--country", "KR", "--user", "u-1", stacks={SERVING_STACK: {API_URL_OUTPUT: api.url + "/"}})

    assert result.code == 0, result.err
    [seen] = api.seen
    assert seen.path == "/v1/countries/KR/users/u-1/recommendations" and seen.query == {}
    assert f"source {Source.BATCH.value}" in result.out


def test_recommend_without_a_deployed_serving_stack_says_so_in_one_line(api):
    result = _cli("--country", "KR", "--user", "u-1", stacks={"Personalize-prod-Realtime": {}})

    assert result.code == 3
    assert SERVING_STACK in _one_line(result)
    assert api.seen == []


def test_recommend_prints_the_apis_document_as_json(api):
    result = _cli("--country", "KR", "--user", "u-1", "--url", api.url, "--output", "json")

    assert result.code == 0, result.err
    assert result.json() == LIST


@pytest.mark.parametrize(
    "args, says",
    [
        (["--country", "KR"], "--user"),
        (["--country", "KR", "--user", "u-1", "--count", "0"], "--count"),
        (["--country", "ZZ", "--user", "u-1"], "unknown country ZZ"),
        (["--country", "KR", "--user", " "], "--user"),
        (["--country", "KR", "--user", "u-1", "--url", "ftp://example.com"], "--url"),
    ],
)
def test_recommend_refuses_bad_arguments_in_one_line_with_exit_2(api, args, says):
    result = _cli(*args, *([] if "--url" in args else ["--url", api.url]))

    assert result.code == 2
    assert says in _one_line(result)
    assert api.seen == []


@pytest.mark.parametrize(
    "status, body, says",
    [
        (404, {"message": "unknown country KR: no run has been published"}, "unknown country KR"),
        (400, {"message": "count must be between 1 and 100"}, "count must be between 1 and 100"),
        (503, {"message": "no source answered: campaign timed out; no lists"}, "no source answered"),
    ],
)
def test_recommend_reports_the_apis_error_in_one_line_with_exit_1(api, status, body, says):
    api.reply = (status, json.dumps(body).encode())

    result = _cli("--country", "KR", "--user", "u-1", "--url", api.url)

    assert result.code == 1
    line = _one_line(result)
    assert says in line and f"HTTP {status}" in line
    assert result.out == ""


def test_recommend_reports_a_response_that_is_not_the_apis_in_one_line(api):
    api.reply = (502, b"<html>Bad Gateway</html>")

    result = _cli("--country", "KR", "--user", "u-1", "--url", api.url)

    assert result.code == 1
    assert "HTTP 502" in _one_line(result)


def test_recommend_refused_by_iam_names_the_caller_policy(api, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-key")

    result = _cli("--country", "KR", "--user", "u-1", "--url", api.url)

    assert result.code == 1
    line = _one_line(result)
    assert "HTTP 403" in line and "Forbidden" in line and "execute-api:Invoke" in line


def test_recommend_without_credentials_says_how_to_get_them(api, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)

    result = _cli("--country", "KR", "--user", "u-1", "--url", api.url)

    assert result.code == 2
    assert "no AWS credentials" in _one_line(result)
    assert api.seen == []


def test_recommend_reports_an_unreachable_api_in_one_line(api):
    result = _cli("--country", "KR", "--user", "u-1", "--url", "http://127.0.0.1:9")

    assert result.code == 1
    assert "cannot reach" in _one_line(result)


def test_the_request_and_the_fields_shown_are_the_apis_as_its_openapi_document_describes():
    """The route, query names and response fields the tool uses, against the API's checked-in OpenAPI document."""
    document = json.loads((Path(__file__).parents[2] / "docs/serving-openapi.json").read_text())
    request = RecommendationsRequest("KR", "u-1", count=3, filter="f", locale="l", age_group="a", gender="g")
    [(template, route)] = [
        (path, operations["get"])
        for path, operations in document["paths"].items()
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", path), request.path)
    ]
    assert template.endswith("/recommendations")
    assert set(request.query) == {p["name"] for p in route["parameters"] if p["in"] == "query"}
    schemas = document["components"]["schemas"]
    assert set(schemas["ItemList"]["properties"]) >= set(SHOWN_FIELDS)
    assert set(schemas["Item"]["properties"]) >= set(SHOWN_ITEM_FIELDS)
