"""Each patch of testkit/moto_patches.py still patches what it was written against, and what it relies on holds.

A moto upgrade that rewrites an internal a patch replaces fails here, naming the internal and the patch, instead
of as a slower run or an execution that differs from moto's own (the comparisons of whole executions are in
test_pipeline_harness.py).
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import re
import threading
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import botocore.parsers
import botocore.utils
import pytest
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core import serialize as moto_serialize
from moto.s3.models import S3Backend
from moto.sns.models import Subscription
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.common.retry.retrier_decl import RetrierDecl
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client, json_path
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.responses import StepFunctionResponse

from testkit import moto_patches

# internal -> (its code, the patch that replaces it or relies on it, the sha256 prefix of the code it was written
# against). Re-read the internal before updating a hash: the patch's docstring says what it relies on.
INTERNALS: dict[str, tuple[Any, str, str]] = {
    "ExecutionWorker.start": (ExecutionWorker.start, "install_speedups (run inline)", "0b502dd3a4e5fd2b"),
    "ExecutionWorker._execution_logic": (ExecutionWorker._execution_logic, "install_speedups", "baa3e2a48fd228d9"),
    "Program.eval": (Program.eval, "InlineThread", "6d701880064a8970"),
    "ExecutionState._evaluate_with_timeout": (
        ExecutionState._evaluate_with_timeout, "InlineThread",
        "c56deda08a42e98d",
    ),
    "AmazonStateLanguageParser.parse": (AmazonStateLanguageParser.parse, "_cached_parse", "a59a7d18760fb22e"),
    "json_path.parse": (json_path.parse, "_parse_json_path", "8e8fc5e91980418d"),
    "result_path.parse": (result_path.parse, "_parse_result_path", "cd433e740d17c7ee"),
    "boto_client.boto_client_for": (boto_client.boto_client_for, "_engine_client_for", "1f44dc2ac8aa2179"),
    "XFormedAttributePicker.get_possible_keys": (
        moto_serialize.XFormedAttributePicker.get_possible_keys,
        "_cached_possible_keys",
        "f0d20f55f37fd8a1",
    ),
    "StepFunctionResponse.get_execution_history": (
        StepFunctionResponse.get_execution_history,
        "history_as_json",
        "3889cc6224ac2f76",
    ),
    "Subscription.private_key": (Subscription.private_key, "_signing_key", "193c7b8df85dc531"),
    "S3Backend._url_module": (S3Backend.__dict__["_url_module"].fget, "install_speedups (S3)", "248ddfae4fb5f33e"),
    "WaitFunction._wait_interval": (WaitFunction._wait_interval, "run_on_clock", "8f954dee80372b4b"),
    "RetrierDecl._eval_body": (RetrierDecl._eval_body, "run_on_clock (retrier_decl.time)", "48463fff19cefa98"),
    "lambda_eval_utils._invoke_lambda_function": (
        moto_patches.MOTO_INVOKE_LAMBDA_FUNCTION,
        "run_lambdas_in_process (invoke_task)",
        "0ebcddb746e422b0",
    ),
    "lambda_eval_utils._from_payload": (lambda_eval_utils._from_payload, "run_lambdas_in_process", "6be60cacf91965c7"),
    "LambdaSimpleBackend.invoke": (LambdaSimpleBackend.invoke, "run_lambdas_in_process", "1b029265c71d5ae0"),
}


def source_hash(code: Any) -> str:
    return hashlib.sha256(inspect.getsource(code).encode()).hexdigest()[:16]


@pytest.mark.parametrize("internal", sorted(INTERNALS))
def test_moto_still_has_the_code_each_patch_replaces(internal):
    code, patch, expected = INTERNALS[internal]
    assert source_hash(code) == expected, (
        f"moto changed {internal}, which moto_patches.{patch} replaces or relies on: check that the patch still "
        f"gives moto's own behaviour, then record the new hash"
    )


def test_a_changed_internal_fails_its_check(monkeypatch):
    """The check above reads the code moto runs, not a copy taken at import."""

    def start(worker):  # what a moto upgrade might make of it
        return worker._execution_logic

    recorded = INTERNALS["ExecutionWorker.start"][2]
    monkeypatch.setitem(INTERNALS, "ExecutionWorker.start", (start, "install_speedups", recorded))
    with pytest.raises(AssertionError, match="moto changed ExecutionWorker.start"):
        test_moto_still_has_the_code_each_patch_replaces("ExecutionWorker.start")


# ------------------------------------------------------------------------------ copies of state data


def _copy_calls(module: ModuleType) -> set[str]:
    return set(re.findall(r"\bcopy\.(\w+)", inspect.getsource(module)))


@pytest.mark.parametrize("module", moto_patches.COPYING_MODULES, ids=lambda module: module.__name__.rsplit(".")[-1])
def test_the_engine_modules_given_a_json_copy_call_only_deepcopy(module):
    """_ENGINE_COPY stands in for the `copy` module and has only deepcopy: a module calling anything else fails."""
    assert module.copy is copy
    assert _copy_calls(module) == {"deepcopy"}


def test_state_data_copies_like_deepcopy_and_anything_not_json_goes_to_deepcopy():
    class Text(str):
        pass

    data = {"b": [1, 2.5, {"c": None, "d": True}], "a": "x", "when": datetime(2026, 11, 15, tzinfo=UTC)}
    data["text"] = Text("y")
    copied = moto_patches.copy_state_data(data)
    assert copied == copy.deepcopy(data) and list(copied) == list(data)
    assert copied["b"] is not data["b"] and copied["b"][2] is not data["b"][2]
    assert type(copied["text"]) is Text  # a str subclass is not JSON: copied as deepcopy would
    plain = {"b": [1, {"c": None}], "a": "x"}
    assert moto_patches.copy_state_data(plain) == plain and moto_patches.copy_state_data(plain) is not plain


# ------------------------------------------------------------------------------ threads


def test_an_inline_thread_runs_its_target_in_start_and_is_done_after():
    """Program.eval and ExecutionState._evaluate_with_timeout make a Thread(target, args, daemon), start it, join
    it with a timeout and ask is_alive() (a timeout if so): inline, the target has run when start returns."""
    ran: list[tuple[Any, str]] = []
    worker = moto_patches.InlineThread(target=lambda env: ran.append((env, threading.current_thread().name)),
                                       args=("env",), daemon=True)  # fmt: skip
    worker.start()
    assert ran == [("env", threading.current_thread().name)]
    worker.join(timeout=1)
    assert worker.is_alive() is False
    worker.start()  # moto never starts one twice; if it did, the target would not run again
    assert len(ran) == 1


# ------------------------------------------------------------------------------ clients, keys, responses


def test_the_engine_client_ignores_the_state_credentials_so_one_per_region_and_service_serves():
    parameters = list(inspect.signature(boto_client.boto_client_for).parameters)
    assert parameters == ["region", "service", "state_credentials"]
    assert moto_patches.engine_modules_calling_boto_client_for(), "no engine module holds boto_client_for"


def test_parsed_timestamps_are_botocores():
    """DEFAULT_TIMESTAMP_PARSER is botocore's parse_timestamp, and the cached one gives equal datetimes."""
    assert botocore.parsers.DEFAULT_TIMESTAMP_PARSER is botocore.utils.parse_timestamp
    for value in ("2026-11-15T03:00:00Z", 1763175600, "1763175600.5"):
        assert moto_patches._parse_timestamp(value) == botocore.utils.parse_timestamp(value)


def test_the_s3_url_module_getter_ignores_its_backend():
    url_module = S3Backend.__dict__["_url_module"]
    assert isinstance(url_module, property)
    assert isinstance(url_module.fget(None), ModuleType)


def test_the_sns_signing_key_is_made_without_a_subscription():
    assert hasattr(moto_patches._new_signing_key(None), "sign")


def test_the_serialiser_still_has_the_default_alias_providers_the_cache_keys_on():
    assert isinstance(moto_serialize.DEFAULT_ALIAS_PROVIDERS, list | tuple)
    assert moto_serialize.XFormedAttributePicker().alias_providers is moto_serialize.DEFAULT_ALIAS_PROVIDERS
