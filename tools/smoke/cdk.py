"""The pinned CDK CLI command lines the smoke run deploys and destroys with (as `make deploy` runs it)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CDK = str(ROOT / "node_modules" / ".bin" / "cdk")


def _app(env: str) -> list[str]:
    return ["-c", f"env={env}", "--app", f"{sys.executable} app.py"]


def deploy_command(env: str, outputs_file: Path) -> list[str]:
    """The pinned CLI, as `make deploy` runs it, without prompts."""
    return [CDK, "deploy", "--all", *_app(env), "--require-approval", "never", "--outputs-file", str(outputs_file)]


def destroy_command(env: str, stacks: list[str]) -> list[str]:
    """Only the named stacks. `cdk destroy --exclusively`: "Only destroy requested stacks and don't include
    dependencies" (CDK CLI reference); without it a named stack would bring the stacks that depend on it."""
    if not stacks:
        raise ValueError("no stack to destroy")
    return [CDK, "destroy", *stacks, "--exclusively", *_app(env), "--force"]
