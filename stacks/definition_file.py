"""The checked-in state machine definition, statemachines/pipeline.asl.json: what the step declarations
(stacks/pipeline_steps.py) generate (stacks/state_machine_definition.py), written out for review.

The stack deploys the file and refuses to synthesise when it is stale; `make asl` rewrites it; a test and CI
check it. Usage:

    python -m stacks.definition_file            # print what the declarations generate
    python -m stacks.definition_file --write    # rewrite the file (= make asl)
    python -m stacks.definition_file --check    # exit 1 when the file is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stacks import pipeline_steps
from stacks.state_machine_definition import definition

ASL_FILE = Path(__file__).resolve().parent.parent / "statemachines" / "pipeline.asl.json"
REGENERATE = "make asl"


def render(definition_: Mapping[str, Any]) -> str:
    """The checked-in form: 2-space JSON, keys in the order built, one trailing newline."""
    return json.dumps(definition_, indent=2) + "\n"


def generated_text() -> str:
    """What the file must hold: the declared steps' definition, rendered."""
    return render(definition(pipeline_steps.PIPELINE_STEPS))


def is_current(path: Path | None = None) -> bool:
    path = path or ASL_FILE
    return path.exists() and path.read_text() == generated_text()


def checked_in_definition(path: Path | None = None) -> Path:
    """The file the stack deploys (ASL_FILE); RuntimeError when it is not what the declarations generate."""
    path = path or ASL_FILE
    if not is_current(path):
        raise RuntimeError(
            f"{_shown(path)} is not what stacks/pipeline_steps.py generates: run `{REGENERATE}` and review the diff"
        )
    return path


def write(path: Path | None = None) -> None:
    (path or ASL_FILE).write_text(generated_text())


def _shown(path: Path) -> str:
    """The path relative to the repository when it is inside it (statemachines/pipeline.asl.json)."""
    root = ASL_FILE.parents[1]
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stacks.definition_file",
        description=f"Print (or --write, or --check) {_shown(ASL_FILE)} from the step declarations.",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help=f"write {ASL_FILE.name} in place")
    action.add_argument("--check", action="store_true", help=f"exit 1 if {ASL_FILE.name} is not up to date")
    args = parser.parse_args(argv)
    if args.write:
        write()
    elif args.check:
        if not is_current():
            print(f"{ASL_FILE} is out of date with stacks/pipeline_steps.py: run `{REGENERATE}`", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(generated_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
