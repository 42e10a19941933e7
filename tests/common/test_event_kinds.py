"""The event kinds are one vocabulary: the ingest contract, the prepared interactions and the docs say the same."""

from __future__ import annotations

import ast
import base64
import json
import re
from pathlib import Path

import pytest

from common.event_kinds import EventKind
from ingest.events import RecordRejected, RejectReason, parse_record, to_put_event

REPOSITORY = Path(__file__).resolve().parents[2]
EVENT_CONTRACT = REPOSITORY / "docs" / "event-contract.md"
# Code that names event kinds; the enum's own module is the one place their values are spelled.
CODE_ROOTS = ("lambdas", "tools", "testkit", "bench")
ENUM_MODULE = REPOSITORY / "lambdas" / "common" / "event_kinds.py"


def _record(event_type: str) -> str:
    payload = {"event_type": event_type, "country": "KR", "session_id": "s", "item_id": "i", "timestamp": 1.8e9}
    return base64.b64encode(json.dumps(payload).encode()).decode()


def _backticked(cell: str) -> set[str]:
    # Only the cell's own list, not a parenthesised remark after it.
    return set(re.findall(r"`([^`]+)`", cell.split("(", 1)[0]))


def _table_cells(text: str, first_cell: str) -> list[str]:
    row = next(line for line in text.splitlines() if line.strip().startswith(f"| {first_cell} |"))
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def test_the_event_contract_doc_lists_exactly_the_event_kinds():
    text = EVENT_CONTRACT.read_text(encoding="utf-8")
    kinds = {kind.value for kind in EventKind}
    # The record table's rules column, and the dead-letter reason that names what is refused.
    assert _backticked(_table_cells(text, "`event_type`")[-1]) == kinds
    refused = _table_cells(text, f"`{RejectReason.UNKNOWN_EVENT_TYPE.value}`")[-1]
    assert _backticked(refused.split(" is not ", 1)[-1]) == kinds


@pytest.mark.parametrize("kind", list(EventKind))
def test_ingest_accepts_every_event_kind_and_sends_it_as_the_event_type(kind):
    sent = to_put_event(parse_record(_record(kind.value)))
    assert sent["eventType"] == kind.value and type(sent["eventType"]) is str


def test_ingest_refuses_an_event_type_that_is_not_an_event_kind():
    with pytest.raises(RecordRejected) as refused:
        parse_record(_record("click"))
    assert refused.value.reason == RejectReason.UNKNOWN_EVENT_TYPE


def _python_literals(path: Path) -> list[int]:
    kinds = {kind.value for kind in EventKind}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in kinds
    ]


def _sql_literals(path: Path) -> list[int]:
    pattern = re.compile("|".join(f"'{re.escape(kind.value)}'" for kind in EventKind))
    return [n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]


def test_no_code_spells_an_event_kind_outside_the_enum():
    found = []
    for root in CODE_ROOTS:
        for path in sorted((REPOSITORY / root).rglob("*")):
            if path == ENUM_MODULE or "__pycache__" in path.parts:
                continue
            lines = (
                _python_literals(path) if path.suffix == ".py" else _sql_literals(path) if path.suffix == ".sql" else []
            )
            found += [f"{path.relative_to(REPOSITORY)}:{line}" for line in lines]
    assert not found, f"event kinds spelled outside common.event_kinds (use EventKind): {', '.join(found)}"
