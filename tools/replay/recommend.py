"""`personalize-runs recommend`: one user's recommendations from the env's serving API, fetched as an app does.

The serving API authorizes every route with IAM. API Gateway's guide ("Control access to HTTP APIs with IAM
authorization"): "When IAM authorization is enabled, clients must use Signature Version 4 (SigV4) to sign their
requests with AWS credentials. API Gateway invokes your API route only if the client has execute-api permission
for the route." So the check signs one GET with botocore's SigV4 signer (service `execute-api`, the session's
credentials and region) and sends it with botocore's own HTTP session: no dependency beyond the SDK.

The API's URL is the serving stack's output `API_URL_OUTPUT` (one DescribeStacks call), or `--url`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import HTTPClientError
from botocore.httpsession import URLLib3Session

from tools.replay.aws import stack_outputs
from tools.replay.errors import OperationFailed, UsageError

# The serving stack's CfnOutput holding the HTTP API's URL (stacks/serving_stack.py).
API_URL_OUTPUT = "ApiUrl"
SIGNING_SERVICE = "execute-api"
TIMEOUT_S = 10.0
# What a 403 from API Gateway means for this check: the caller may not invoke the route.
CALLER_POLICY_HINT = (
    "the caller needs execute-api:Invoke on the API's routes: attach the serving stack's caller policy "
    "(output CallerPolicyArn)"
)


@dataclass(frozen=True)
class RecommendationsRequest:
    """The route `GET /v1/countries/{country}/users/{userId}/recommendations` and its query parameters."""

    country: str
    user_id: str
    count: int | None = None
    filter: str | None = None
    locale: str | None = None
    age_group: str | None = None
    gender: str | None = None

    @property
    def path(self) -> str:
        # Each path parameter is one segment: a `/` or space in a user id is percent-encoded, not a new segment.
        return f"/v1/countries/{quote(self.country, safe='')}/users/{quote(self.user_id, safe='')}/recommendations"

    @property
    def query(self) -> dict[str, str]:
        given = {
            "count": None if self.count is None else str(self.count),
            "filter": self.filter,
            "locale": self.locale,
            "ageGroup": self.age_group,
            "gender": self.gender,
        }
        return {name: value for name, value in given.items() if value is not None}


def api_url(cloudformation: Any, stack: str) -> str:
    return stack_outputs(cloudformation, stack, (API_URL_OUTPUT,))[API_URL_OUTPUT]


def checked_url(text: str) -> str:
    """An API base URL given on the command line, or a usage error."""
    split = urlsplit(text.strip())
    if split.scheme not in ("https", "http") or not split.netloc or split.query or split.fragment:
        raise UsageError(f"--url must be the API's base URL, https://HOST[/STAGE], got {text!r}")
    return text.strip()


def signed_get(credentials: Any, region: str, base_url: str, request: RecommendationsRequest) -> dict[str, Any]:
    """GET the route signed with SigV4 for execute-api; the API's JSON document, or the API's message as an error."""
    url = base_url.rstrip("/") + request.path
    if request.query:
        url += "?" + urlencode(request.query, quote_via=quote)
    aws_request = AWSRequest(method="GET", url=url, headers={"Accept": "application/json"})
    SigV4Auth(credentials.get_frozen_credentials(), SIGNING_SERVICE, region).add_auth(aws_request)
    try:
        response = URLLib3Session(timeout=TIMEOUT_S).send(aws_request.prepare())
    except HTTPClientError as error:
        raise OperationFailed(f"cannot reach the serving API at {base_url}: {error}") from None
    document = _json(response.content)
    if response.status_code == 200 and isinstance(document, dict):
        return document
    raise OperationFailed(_error_line(response.status_code, document, base_url))


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


def _error_line(status: int, document: Any, base_url: str) -> str:
    # Both API Gateway's own answers (403 of IAM authorization) and the handler's errors carry `message`.
    message = document.get("message") if isinstance(document, dict) else None
    if status == 200:
        return f"the serving API at {base_url} answered HTTP 200 without a JSON document"
    if status == 403:
        return f"HTTP 403 from the serving API: {message or 'Forbidden'}; {CALLER_POLICY_HINT}"
    if message:
        return f"HTTP {status} from the serving API: {message}"
    return f"HTTP {status} from the serving API at {base_url} (no message: is --url the serving API?)"
