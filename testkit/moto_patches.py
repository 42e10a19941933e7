"""What the pipeline harness patches in moto (and in botocore under it) to run an execution fast, and why.

moto's Step Functions engine, run as it comes, spends most of an execution on work that cannot change its result
under the harness: wall-clock sleeps and thread hand-offs, re-parsing the same definition and paths, deep copies
of JSON, a new boto3 client and a new RSA key per call, a serialiser walking botocore shapes member by member.
Each patch below removes one such cost and says why the result is the same; three more route what the engine
does to the harness: Wait states and retry back-off advance a simulated clock, and Lambda tasks call the handler
in-process.

These replace moto internals: moto is pinned exactly (requirements.lock), and tests/testkit/test_moto_patches.py
checks for every patch that the internal it replaces is still the code it was written against, and that the
behaviour it relies on holds, so a moto upgrade that changes one fails there by name, not as a different run.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import marshal
import sys
from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import botocore.parsers
import pytest
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core import serialize as moto_serialize
from moto.s3.models import S3Backend
from moto.sns.models import Subscription
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.common.string import string_expression
from moto.stepfunctions.parser.asl.component.program import program as program_module
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval import states as eval_states
from moto.stepfunctions.parser.asl.eval.event import event_manager
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client as engine_boto_client
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.responses import StepFunctionResponse

# moto's own implementations, kept for the tests that compare each shortcut with what moto itself answers
MOTO_INVOKE_LAMBDA_FUNCTION = lambda_eval_utils._invoke_lambda_function  # the engine's Lambda call, through moto
MOTO_EXECUTION_HISTORY = StepFunctionResponse.get_execution_history

# ------------------------------------------------------------------------------ the definition, parsed once

_PARSE = AmazonStateLanguageParser.parse


@functools.lru_cache(maxsize=32)
def _cached_parse(definition: str):
    """The definition is parsed (antlr) once per test run instead of at every create and execution."""
    return _PARSE(definition)


# moto parses (ply yacc) each InputPath/OutputPath/ResultPath expression at every use; a parsed expression
# holds no state, so each is parsed once.
_parse_json_path = functools.lru_cache(maxsize=None)(json_path.parse)
_parse_result_path = functools.lru_cache(maxsize=None)(result_path.parse)

# ------------------------------------------------------------------------------ copies of state data

_JSON_SCALARS = (str, int, float, bool, type(None))


def copy_json_tree(value: Any) -> Any:
    """copy.deepcopy for the JSON documents Step Functions passes between states, several times faster.

    moto's engine deep-copies a state's whole input several times per state (path evaluation, ResultPath,
    the task frame): ~400 copies of the run state per execution. A state's data is JSON (in AWS it is text
    between states), so dicts, lists and scalars are copied directly; anything else goes to copy.deepcopy.
    """
    kind = type(value)
    if kind is dict:
        return {key: copy_json_tree(item) for key, item in value.items()}
    if kind is list:
        return [copy_json_tree(item) for item in value]
    if kind in _JSON_SCALARS:
        return value
    return copy.deepcopy(value)


def copy_state_data(value: Any) -> Any:
    """copy_json_tree at C speed: marshal round-trips exactly the JSON types (dict key order included) and
    refuses anything else, even a subclass of str or int, which then goes to copy_json_tree."""
    try:
        return marshal.loads(marshal.dumps(value))
    except ValueError:
        return copy_json_tree(value)


# the `copy` module as the engine's modules see it: they call only copy.deepcopy
_ENGINE_COPY = SimpleNamespace(deepcopy=copy_state_data)
# the engine's modules that deep-copy state data
COPYING_MODULES = (eval_states, string_expression, result_path, execute_state, state_task_service, event_manager)

# ------------------------------------------------------------------------------ threads


class InlineThread:
    """A Thread that runs its target inside start(), for moto's engine under the harness.

    moto runs the whole program in one thread (to enforce the definition's TimeoutSeconds) and every Task
    state in another (for the task's TimeoutSeconds), each joined with a wall-clock timeout. Under the
    harness time is the SimClock's, so those wall-clock timeouts can never fire: running the target in the
    caller's thread is the same behaviour without two thread start-ups per state, and lets a profiler see it.
    """

    def __init__(self, target, args=(), kwargs=None, daemon=None) -> None:
        self._run: Callable[[], Any] | None = functools.partial(target, *args, **(kwargs or {}))

    def start(self) -> None:
        run, self._run = self._run, None  # moto keeps every thread it made (TMP_THREADS): drop the frames
        if run is not None:
            run()

    def join(self, timeout: float | None = None) -> None:
        return None

    def is_alive(self) -> bool:
        return False


# ------------------------------------------------------------------------------ clients, keys, modules

_new_engine_client = engine_boto_client.boto_client_for
# (region, service) -> the engine's client, shared by every harness of the test run
_ENGINE_CLIENTS: dict[tuple[str, str], Any] = {}


def _engine_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's engine builds a new boto3 client for every task (~15 ms each); its arguments ignore the state's
    credentials, so one client per (region, service) makes the same calls. A client created under an earlier
    mock_aws still reaches moto: moto's stubber is one of botocore's built-in handlers of every client."""
    if (region, service) not in _ENGINE_CLIENTS:
        _ENGINE_CLIENTS[region, service] = _new_engine_client(region, service, state_credentials)
    return _ENGINE_CLIENTS[region, service]


def engine_modules_calling_boto_client_for() -> list[Any]:
    """The engine's modules that imported boto_client_for by name (each holds its own reference to patch)."""
    return [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("moto.stepfunctions.parser") and hasattr(module, "boto_client_for")
    ]


_new_signing_key = Subscription.private_key


@functools.cache
def _signing_key():
    """The key moto's SNS signs each message delivered to SQS with (it generated a new RSA-2048 key per message)."""
    return _new_signing_key(None)


# ------------------------------------------------------------------------------ responses

_possible_keys = moto_serialize.XFormedAttributePicker.get_possible_keys
_POSSIBLE_KEYS: dict[tuple[Any, ...], tuple[str, ...]] = {}


def _cached_possible_keys(picker, context) -> Any:
    """The attribute names moto's response serialiser tries for a shape member, computed once per member.

    moto recomputes them (six alias providers) for every member of every object it serialises: 50,000 times
    for one execution's history. With the default providers they depend only on the object's class (unless
    it has a Meta class of explicit aliases), the key, the member's shape and its parent shape; botocore's
    shapes are cached per service model, so the same shape objects come back for every response.
    """
    obj, shape = context.obj, context.shape
    if picker.alias_providers is not moto_serialize.DEFAULT_ALIAS_PROVIDERS or hasattr(obj, "Meta"):
        return _possible_keys(picker, context)
    key = (type(obj), context.key, shape, getattr(shape, "parent", None))
    keys = _POSSIBLE_KEYS.get(key)
    if keys is None:
        keys = _POSSIBLE_KEYS[key] = tuple(_possible_keys(picker, context))
    return iter(keys)


# moto's Invoke: a payload above this (sys.getsizeof) becomes a Function.ResponseSizeTooLarge error
_MOTO_RESPONSE_LIMIT = 6_000_000
_parse_timestamp = functools.lru_cache(maxsize=1 << 16)(botocore.parsers.DEFAULT_TIMESTAMP_PARSER)
_epoch_seconds = moto_serialize.TimestampSerializer._timestamp_unixtimestamp


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _epoch_seconds(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def history_as_json(response: StepFunctionResponse) -> str:
    """GetExecutionHistory's body as moto answers it, written with json.dumps instead of moto's serialiser.

    moto's serialiser walks the botocore output shape member by member (~40 ms for one execution's history)
    and the tests read histories ~300 times (the harness, the failure recorder, the redrive fake, the replay
    CLI). The events moto keeps are already in the API's shape, so the same body (timestamps as moto's
    epoch seconds) comes out of json.dumps; tests/testkit/test_pipeline_harness.py compares the two.
    """
    output = response.stepfunction_backend.get_execution_history(response._get_param("executionArn"))
    return json.dumps(output, default=_json_default)


# ------------------------------------------------------------------------------ installing them


def install_speedups(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every patch that only makes moto faster, for as long as `monkeypatch` lasts."""
    patch = monkeypatch.setattr
    # Run each execution to its end inside StartExecution (moto's own SyncExecutionWorker does the same):
    # no worker thread to poll, and the handlers run in the test's thread.
    patch(ExecutionWorker, "start", lambda worker: worker._execution_logic())
    patch(program_module, "threading", SimpleNamespace(Thread=InlineThread))
    patch(execute_state, "Thread", InlineThread)
    patch(AmazonStateLanguageParser, "parse", staticmethod(_cached_parse))
    for engine_module in COPYING_MODULES:
        patch(engine_module, "copy", _ENGINE_COPY)
    patch(json_path, "parse", _parse_json_path)
    patch(result_path, "parse", _parse_result_path)
    for module in engine_modules_calling_boto_client_for():
        patch(module, "boto_client_for", _engine_client_for)
    patch(moto_serialize.XFormedAttributePicker, "get_possible_keys", _cached_possible_keys)
    patch(StepFunctionResponse, "get_execution_history", history_as_json)
    # botocore turns every timestamp of every response into a datetime with a new dateutil tzlocal(); the
    # same timestamps come back many times (a history is read again at each poll), and a datetime is immutable.
    patch(botocore.parsers, "DEFAULT_TIMESTAMP_PARSER", _parse_timestamp)
    patch(Subscription, "private_key", lambda subscription: _signing_key())
    # moto reloads its S3 URL module on every S3 request, in case its settings changed; no test changes
    # them while a harness exists, so the module is loaded once.
    s3_urls = S3Backend.__dict__["_url_module"].fget(None)  # the property object (its getter ignores self)
    patch(S3Backend, "_url_module", property(lambda backend: s3_urls))


def run_on_clock(monkeypatch: pytest.MonkeyPatch, advance: Callable[[float], Any]) -> None:
    """Wait states and retry back-off call `advance(seconds)` (a simulated clock) instead of sleeping."""

    def wait(wait_function, env, wait_seconds):
        advance(wait_seconds)

    monkeypatch.setattr(WaitFunction, "_wait_interval", wait)
    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=advance))


# (function name, request body, response headers to fill) -> the response body
Invoke = Callable[[str, Any, dict], bytes]


def run_lambdas_in_process(monkeypatch: pytest.MonkeyPatch, invoke: Invoke) -> None:
    """Every Lambda invocation (moto's Invoke and the engine's lambda:invoke tasks) calls `invoke` with the
    function's name (the last part of its ARN)."""

    def backend_invoke(backend, function_name, qualifier, body, headers, response_headers):
        return invoke(function_name.rsplit(":", 1)[-1], body, response_headers)

    def invoke_task(parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
        """The engine's lambda:invoke task without the request round trip through boto3 and moto (~4 ms a
        task): the handler's result as moto's Invoke would return it to the engine (status 200, the
        X-Amz-Function-Error header as FunctionError, the payload parsed). tests/testkit/test_pipeline_harness.py
        runs the same executions both ways and compares their histories."""
        headers: dict[str, str] = {}
        body = invoke(parameters["FunctionName"].rsplit(":", 1)[-1], parameters.get("Payload"), headers)
        if sys.getsizeof(body) > _MOTO_RESPONSE_LIMIT:
            headers = {"X-Amz-Function-Error": "Unhandled"}
            body = json.dumps(
                {
                    "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
                    "errorType": "Function.ResponseSizeTooLarge",
                }
            ).encode()
        response: dict[str, Any] = {"StatusCode": 200, "Payload": lambda_eval_utils._from_payload(io.BytesIO(body))}
        if "X-Amz-Function-Error" in headers:
            response["FunctionError"] = headers["X-Amz-Function-Error"]
        return response

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", backend_invoke)
    monkeypatch.setattr(lambda_eval_utils, "_invoke_lambda_function", invoke_task)
