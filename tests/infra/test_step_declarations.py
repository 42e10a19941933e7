"""A step is one declaration (stacks/pipeline_steps.py): the checked-in definition is what the declarations
generate, the stack builds each step's function from its declaration, and state names map back to step keys
through one table (pipeline/step_names.py) that the failure recorder and the replay tool read."""

from __future__ import annotations

import importlib
import json
from dataclasses import replace

import pytest

from pipeline import step_names
from pipeline.runs import failure_from_history
from pipeline.step_names import StepName, step_key, step_of_state
from pipeline.steps import batch, imports, prepare, promotion, report, training
from stacks import state_machine_definition as asl
from stacks.pipeline_stack import PipelineStack
from stacks.pipeline_steps import PIPELINE_STEPS, StepDeclaration

PIPELINE = "Personalize-dev-Pipeline"
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"


@pytest.fixture(scope="module")
def generated() -> dict:
    return asl.definition(PIPELINE_STEPS)


def test_the_checked_in_definition_is_what_the_declarations_generate():
    assert asl.ASL_FILE.read_text() == asl.pipeline_definition_text(), (
        f"{asl.ASL_FILE} differs from the step declarations: run `{asl.REGENERATE}` "
        "(python -m stacks.state_machine_definition --write) and review the diff"
    )


def test_the_stack_refuses_a_stale_checked_in_definition(tmp_path, monkeypatch):
    stale = tmp_path / "pipeline.asl.json"
    stale.write_text(asl.pipeline_definition_text().replace('"WaitForImport"', '"WaitForTheImport"'))
    monkeypatch.setattr("stacks.pipeline_stack.ASL_FILE", stale)
    with pytest.raises(RuntimeError, match="make asl"):
        PipelineStack._checked_in_definition()


def test_every_lambda_task_retries_with_the_one_shared_policy(generated):
    tasks = {name: s for name, s in generated["States"].items() if s.get("Resource") == LAMBDA_INVOKE}
    assert set(tasks) == {d.name.state for d in PIPELINE_STEPS}
    for name, task in tasks.items():
        assert task["Retry"] == asl.LAMBDA_TASK_RETRY, name
        assert task["Parameters"]["FunctionName"] == "${" + asl.function_arn_substitution(name) + "}"


def test_states_follow_the_declared_order_with_polling_loops_and_guards(generated):
    states = generated["States"]
    assert generated["StartAt"] == PIPELINE_STEPS[0].name.state
    after = {"BeginRun": "Admitted?", "Prepare": "EnoughData?", "Finish": "Notifiable?"}
    for index, declaration in enumerate(PIPELINE_STEPS):
        name = declaration.name
        nxt = PIPELINE_STEPS[index + 1].name.state if index + 1 < len(PIPELINE_STEPS) else None
        exit_state = name.choice_state or name.state
        exit_next = states[exit_state]["Default"] if name.polls else states[exit_state]["Next"]
        assert exit_next == after.get(name.state, nxt), name.state
        if name.polls:
            assert states[name.state]["Next"] == name.choice_state
            (loop,) = states[name.choice_state]["Choices"]
            assert loop == {
                "Variable": f"$.steps.{name.key}.status",
                "StringEquals": "RUNNING",
                "Next": name.wait_state,
            }
            assert states[name.wait_state]["SecondsPath"] == f"$.steps.{name.key}.wait_seconds"
            assert states[name.wait_state]["Next"] == name.state
    assert states["Admitted?"]["Choices"][0]["Next"] == "Prepare"
    assert states["EnoughData?"]["Default"] == "Import"
    assert states["EnoughData?"]["Choices"][0]["Next"] == "Finish"


def test_a_new_polling_step_is_one_declaration():
    """The worked example of docs/adding-a-step.md: an Export step between Report and Finish."""
    export = StepDeclaration(
        StepName("export", "Export", "WaitForExport"),
        handler="pipeline.steps.export.handler",
        description="Export the batch output to the data warehouse",
        state_comment="Copy the run's batch output into the warehouse bucket.",
    )
    steps = (*PIPELINE_STEPS[:-1], export, PIPELINE_STEPS[-1])
    states = asl.definition(steps)["States"]
    assert states["ReportFinished?"]["Default"] == "Export"
    assert states["Export"]["Next"] == "ExportFinished?"
    assert states["Export"]["Retry"] == asl.LAMBDA_TASK_RETRY
    assert states["ExportFinished?"]["Default"] == "Finish"
    assert states["ExportFinished?"]["Choices"][0]["Next"] == "WaitForExport"
    assert states["WaitForExport"] == {
        "Type": "Wait",
        "Comment": asl.DEFAULT_WAIT_COMMENT,
        "SecondsPath": "$.steps.export.wait_seconds",
        "Next": "Export",
    }
    # Nothing else moved: the definition without Export is today's, state for state.
    today = asl.definition(PIPELINE_STEPS)["States"]
    for name, state in today.items():
        if name != "ReportFinished?":
            assert states[name] == state, name


def test_two_steps_cannot_share_a_state_name():
    clash = replace(PIPELINE_STEPS[2], name=StepName("import2", "Import"))
    with pytest.raises(ValueError, match="'Import'"):
        asl.definition((*PIPELINE_STEPS, clash))


def test_declarations_and_the_runtime_name_table_agree():
    assert [d.name for d in PIPELINE_STEPS] == list(step_names.PIPELINE_STEPS)
    assert len(step_names.BY_KEY) == len(step_names.PIPELINE_STEPS)
    # The step modules write their run state under these keys.
    for module in (prepare, imports, training, promotion, batch, report):
        assert module.STEP in step_names.BY_KEY, module.__name__


@pytest.mark.parametrize("declaration", PIPELINE_STEPS, ids=lambda d: d.key)
def test_every_declared_handler_exists(declaration):
    module, function = declaration.handler.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), function))


def test_every_state_of_a_step_maps_back_to_its_key(generated):
    for name in step_names.PIPELINE_STEPS:
        for state in name.states:
            assert state in generated["States"], state
            assert step_key(state) == name.key
    assert step_key("BeginRun") == "begin" and step_key("WaitForTraining") == "train"
    # States that are no step's keep their own name.
    assert step_of_state("Notify") is None and step_key("Notify") == "Notify"


def _history(*events: dict) -> list[dict]:
    """Events oldest first -> newest first with ids, as GetExecutionHistory(reverseOrder=True) returns them."""
    return [{"id": i + 1, **event} for i, event in enumerate(events)][::-1]


def test_the_failure_recorder_names_a_crashed_state_by_its_step_key():
    crashed = _history(
        {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "Promote"}},
        {
            "type": "LambdaFunctionFailed",
            "lambdaFunctionFailedEventDetails": {"error": "Runtime.ExitError", "cause": "exited with code 1"},
        },
    )
    failure = failure_from_history(crashed, "FAILED")
    assert (failure["state"], failure["step"], failure["error"]) == ("Promote", "promote", "Runtime.ExitError")

    aborted_while_waiting = _history(
        {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "Train"}},
        {"type": "WaitStateEntered", "stateEnteredEventDetails": {"name": "WaitForTraining"}},
        {"type": "ExecutionAborted", "executionAbortedEventDetails": {}},
    )
    failure = failure_from_history(aborted_while_waiting, "ABORTED")
    assert (failure["state"], failure["step"]) == ("WaitForTraining", "train")


def test_the_stack_builds_each_step_from_its_declaration(dev_app):
    template = dev_app.template_json(PIPELINE)
    resources = template["Resources"]
    (machine,) = (r for r in resources.values() if r["Type"] == "AWS::StepFunctions::StateMachine")
    substitutions = machine["Properties"]["DefinitionSubstitutions"]
    functions = {k: r["Properties"] for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    for declaration in PIPELINE_STEPS:
        (logical_id,) = [k for k in functions if k.startswith(f"{declaration.name.state}LambdaFunction")]
        function = functions[logical_id]
        handler = function.get("Handler") or function["ImageConfig"]["Command"][0]
        assert handler == declaration.handler
        assert function["Description"] == declaration.description
        assert function["Timeout"] == declaration.timeout.to_seconds()
        assert function["Environment"]["Variables"]["ENV_NAME"] == "dev"
        arn = substitutions[asl.function_arn_substitution(declaration.name.state)]
        assert arn == {"Fn::GetAtt": [logical_id, "Arn"]}
    deployed = json.loads(
        (dev_app.outdir / f"asset.{machine['Properties']['DefinitionS3Location']['Key']}").read_text()
    )
    assert deployed == asl.definition(PIPELINE_STEPS)
