"""A step is its name (pipeline/step_names.py), its module (pipeline/steps/<key>.py: logic and `handler`) and its
declaration (stacks/pipeline_steps.py): the Lambda entry points, the checked-in definition and the stack's
functions all derive from those, and state names map back to step keys through the one table that the failure
recorder and the replay tool read."""

from __future__ import annotations

import ast
import importlib
import json
import sys
import types
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline import handlers, step_names
from pipeline.jobs import finish_step, start_step
from pipeline.model import RunState
from pipeline.runs import failure_from_history
from pipeline.step_handler import step_handler
from pipeline.step_names import StepName, step_key, step_of_state
from stacks import definition_file, pipeline_steps
from stacks import state_machine_definition as asl
from stacks.pipeline_steps import PIPELINE_STEPS, StepDeclaration

PIPELINE = "Personalize-dev-Pipeline"
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"


@pytest.fixture(scope="module")
def generated() -> dict:
    return asl.definition(PIPELINE_STEPS)


def test_the_checked_in_definition_is_what_the_declarations_generate():
    assert definition_file.ASL_FILE.read_text() == definition_file.generated_text(), (
        f"{definition_file.ASL_FILE} differs from the step declarations: run `{definition_file.REGENERATE}` "
        "(python -m stacks.definition_file --write) and review the diff"
    )


def test_the_stack_refuses_a_stale_checked_in_definition(tmp_path):
    stale = tmp_path / "pipeline.asl.json"
    stale.write_text(definition_file.generated_text().replace('"WaitForImport"', '"WaitForTheImport"'))
    with pytest.raises(RuntimeError, match="make asl"):
        definition_file.checked_in_definition(stale)
    with pytest.raises(RuntimeError, match="make asl"):
        definition_file.checked_in_definition(tmp_path / "missing.asl.json")


def test_make_asl_rewrites_a_stale_definition_and_check_then_passes(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "pipeline.asl.json"
    stale.write_text("{}\n")
    monkeypatch.setattr(definition_file, "ASL_FILE", stale)
    assert definition_file.main(["--check"]) == 1
    assert "make asl" in capsys.readouterr().err
    assert definition_file.main(["--write"]) == 0
    assert definition_file.main(["--check"]) == 0
    assert definition_file.checked_in_definition() == stale
    assert stale.read_text() == definition_file.generated_text()


def _imported_modules(module: types.ModuleType) -> set[str]:
    tree = ast.parse(Path(module.__file__ or "").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return names


def test_the_definition_builder_imports_no_declarations_and_no_file():
    """Declarations -> builder, and the file module -> both: no circle between them."""
    assert not {"stacks.pipeline_steps", "stacks.definition_file"} & _imported_modules(asl)
    assert "stacks.definition_file" not in _imported_modules(pipeline_steps)


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
    """The worked example of docs/adding-a-step.md: an Export step between Publish and Finish."""
    export = StepDeclaration(
        StepName("export", "Export", "WaitForExport"),
        description="Export the batch output to the data warehouse",
        state_comment="Copy the run's batch output into the warehouse bucket.",
    )
    steps = (*PIPELINE_STEPS[:-1], export, PIPELINE_STEPS[-1])
    states = asl.definition(steps)["States"]
    assert states["PublishFinished?"]["Default"] == "Export"
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
        if name != "PublishFinished?":
            assert states[name] == state, name


def test_two_steps_cannot_share_a_state_name():
    clash = replace(PIPELINE_STEPS[2], name=StepName("import2", "Import"))
    with pytest.raises(ValueError, match="'Import'"):
        asl.definition((*PIPELINE_STEPS, clash))


def test_declarations_and_the_runtime_name_table_agree():
    assert [d.name for d in PIPELINE_STEPS] == list(step_names.PIPELINE_STEPS)
    assert len(step_names.BY_KEY) == len(step_names.PIPELINE_STEPS)


@pytest.mark.parametrize("name", step_names.PIPELINE_STEPS, ids=lambda n: n.key)
def test_each_step_module_is_named_after_its_key_and_exports_its_entry_point(name):
    module = importlib.import_module(name.module)
    assert module.__name__ == name.module
    assert callable(getattr(module, name.python_name, None)), f"{module.__name__} has no step function"
    # The module writes its run state under its own key, taken from the table.
    assert getattr(module, "STEP", name.key) == name.key
    # The deployed Handler resolves to the module's own `handler`.
    entry_module, function = name.handler.rsplit(".", 1)
    assert getattr(importlib.import_module(entry_module), function) is module.handler


def test_the_entry_points_are_the_declared_steps_and_the_failure_recorder():
    served = {d.handler.rsplit(".", 1)[1] for d in PIPELINE_STEPS if d.handler.startswith("pipeline.handlers.")}
    assert set(handlers.entry_points()) == served | {"record_failure"}
    assert handlers.record_failure is importlib.import_module("pipeline.steps.failure").handler
    with pytest.raises(AttributeError, match="step_names"):
        handlers.no_such_step  # noqa: B018


def test_a_new_batch_style_step_is_its_name_its_module_and_its_declaration(monkeypatch, tmp_path):
    """docs/adding-a-step.md's common case: a job of an existing resource kind after Batch, on an existing input.
    The three edits are made here as the guide says; the entry point, the definition and what the stack builds
    from follow with no other edit."""
    # 1. lambdas/pipeline/step_names.py
    new_titles = StepName("new_titles", "NewTitles", "WaitForNewTitles", first_wait_s=300, max_wait_s=1800)
    names = step_names.PIPELINE_STEPS
    after_batch = [n.key for n in names].index("batch") + 1
    monkeypatch.setattr(step_names, "PIPELINE_STEPS", (*names[:after_batch], new_titles, *names[after_batch:]))

    # 2. lambdas/pipeline/steps/new_titles.py
    def run(state: RunState) -> RunState:
        finish_step(start_step(state, new_titles.key), note="done")
        return state

    module = types.ModuleType(new_titles.module)
    module.new_titles = run  # type: ignore[attr-defined]
    module.handler = step_handler(new_titles, run)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, new_titles.module, module)

    # 3. stacks/pipeline_steps.py (the Batch step's grants stand in for the new job's)
    declaration = StepDeclaration(
        new_titles,
        description="Batch recommendations for new titles",
        state_comment="Batch inference for the titles created since the last run.",
        grants=PIPELINE_STEPS[after_batch - 1].grants,
    )
    steps = (*PIPELINE_STEPS[:after_batch], declaration, *PIPELINE_STEPS[after_batch:])
    monkeypatch.setattr(pipeline_steps, "PIPELINE_STEPS", steps)

    # The function's Handler and its entry point.
    assert declaration.handler == "pipeline.handlers.new_titles"
    assert "new_titles" in handlers.entry_points()
    assert handlers.new_titles is module.handler

    # The definition, and the checked-in file `make asl` rewrites.
    monkeypatch.setattr(definition_file, "ASL_FILE", tmp_path / "pipeline.asl.json")
    assert definition_file.main(["--write"]) == 0
    states = json.loads(definition_file.checked_in_definition().read_text())["States"]
    assert states["BatchFinished?"]["Default"] == "NewTitles"
    assert states["NewTitles"]["Parameters"]["FunctionName"] == "${NewTitlesFunctionArn}"
    assert states["NewTitles"]["Retry"] == asl.LAMBDA_TASK_RETRY
    assert states["NewTitlesFinished?"]["Choices"][0]["Next"] == "WaitForNewTitles"
    assert states["NewTitlesFinished?"]["Default"] == "Report"
    assert states["WaitForNewTitles"]["SecondsPath"] == "$.steps.new_titles.wait_seconds"

    # The stack builds one function, role and grant set per declaration (checked for every declared step by
    # test_the_stack_builds_each_step_from_its_declaration): the new one is among them.
    assert pipeline_steps.PIPELINE_STEPS[after_batch] is declaration


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
