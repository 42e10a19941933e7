"""One idea per module: a module of stacks/, lambdas/ or tools/ past MAX_LINES is split by idea, unless it is one
idea and its docstring says so ("One idea: ..." and why it stays whole).

Generated modules (a "DO NOT EDIT" line near the top) are exempt: their size follows their source.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("stacks", "lambdas", "tools")
MAX_LINES = 450
ONE_IDEA = "One idea:"
GENERATED = "DO NOT EDIT"


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def is_generated(path: Path) -> bool:
    head = path.read_text(encoding="utf-8").splitlines()[:5]
    return any(GENERATED in line for line in head)


def says_one_idea(path: Path) -> bool:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return ONE_IDEA in docstring


def oversized(root: Path) -> list[str]:
    """Modules over MAX_LINES whose docstring does not say they are one idea, as `path (lines)`."""
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" in path.parts or is_generated(path):
                continue
            lines = line_count(path)
            if lines > MAX_LINES and not says_one_idea(path):
                found.append(f"{path.relative_to(root).as_posix()} ({lines} lines)")
    return found


def test_every_module_over_the_limit_says_in_its_docstring_that_it_is_one_idea():
    offenders = oversized(ROOT)
    assert not offenders, (
        f"modules over {MAX_LINES} lines: split them by idea, or state in the module docstring "
        f"{ONE_IDEA!r} and why it stays whole: " + ", ".join(offenders)
    )


@pytest.mark.parametrize(
    ("docstring", "lines", "flagged"),
    [
        ("Several things.", MAX_LINES + 1, True),
        ("One idea: the describe-or-create helper.", MAX_LINES + 1, False),
        ("Several things.", MAX_LINES, False),
    ],
)
def test_the_check_flags_only_long_modules_that_do_not_say_they_are_one_idea(tmp_path, docstring, lines, flagged):
    module = tmp_path / "tools" / "big.py"
    module.parent.mkdir()
    body = [f'"""{docstring}"""'] + ["x = 1"] * (lines - 1)
    module.write_text("\n".join(body) + "\n", encoding="utf-8")
    assert bool(oversized(tmp_path)) is flagged
