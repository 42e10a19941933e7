"""Physical names come from one module (stacks/names.py) that the stacks and the tools share: the tools load it
without the CDK, and what they look up is what the stacks deploy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stacks.config import load_config
from tools.replay.env import Env

ROOT = Path(__file__).resolve().parents[2]
CDK_PACKAGES = {"aws_cdk", "constructs", "jsii"}


def test_the_names_module_and_the_replay_tool_load_without_the_cdk():
    # In a fresh interpreter: this test session has long loaded the CDK for the synthesised app.
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, stacks.names, tools.replay.env; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(CDK_PACKAGES)!r})))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert loaded.stdout.strip() == "[]", loaded.stdout


def test_the_replay_tool_looks_up_what_the_stacks_deploy(dev_app):
    env = Env(load_config("dev"))
    resources = dev_app.template_json(f"Personalize-{env.name}-Pipeline")["Resources"].values()

    def names(kind: str, field: str) -> set[str]:
        return {r["Properties"][field] for r in resources if r["Type"] == kind}

    assert names("AWS::StepFunctions::StateMachine", "StateMachineName") == {env.state_machine}
    assert names("AWS::DynamoDB::Table", "TableName") == {env.ledger_table}
    assert names("AWS::Scheduler::Schedule", "Name") == {env.schedule(c) for c in env.countries}
    assert set(dev_app.stack_names) >= {env.realtime_stack, *env.country_stacks.values()}
