"""Golden outputs of the preparation: every prepared file's digest and counts.json, for messy raw exports.

Recorded from the CSV-reading preparation (before the columnar days existed) with
`python -m tests.dataprep.golden --write`; test_columnar_equivalence.py prepares the same exports from the
columnar days and compares. Re-record only for an intended change of the outputs, and say so in the commit.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from dataprep.local import prepare_with_quality
from dataprep.sample_data import generate
from tests.dataprep.conftest import write_raw

GOLDEN = Path(__file__).with_name("golden_outputs.json")
END_DATE = "2025-07-01"

# Runs over the same exports: a first run, a daily run with a carried increment, an older date with ranking.
RUNS: dict[str, dict[str, Any]] = {
    "first": {"run_date": "2025-07-01", "window_days": 30},
    "daily": {
        "run_date": "2025-07-01",
        "window_days": 30,
        "previous_run_date": "2025-06-30",
        "imported_before": "2025-06-28",
    },
    "older": {
        "run_date": "2025-06-20",
        "window_days": 12,
        "previous_run_date": "2025-06-18",
        "recipes": ("user-personalization", "similar-items", "personalized-ranking"),
    },
}


def build_raw(root: Path) -> Path:
    """Sample exports plus one row or file for each thing that goes wrong in real exports."""
    generate(root, users=1500, items=300, days=40, seed=5, end_date=END_DATE)
    last, older = "2025-06-30", "2025-06-10"
    # A re-exported old event, a within-day copy in a second file, bad ids, times, countries and bytes.
    write_raw(root, "views", last, [["u0000001", "i000001", "3", "1749513600"]], name="late.csv")
    write_raw(root, "views", older, [["u0000001", "i000001", "3", "1749513600"]], name="copy.csv")
    write_raw(root, "views", older, [["u0000001", "i000001", "3", "1749513600"]], name="copy2.csv")
    write_raw(
        root,
        "purchases",
        last,
        [
            ["", "i000002", "2025-06-30T01:00:00Z"],
            ["u0000002", "i000002", "not-a-time"],
            ["u0000002", "i000002", "2025-06-30T10:00:00+09:00"],
            ["u0000002", "i000002", "1750000000123"],
            ["nobody", "i000002", "2025-06-30"],
            ["u0000003", "i000002", "2025-02-30T00:00:00Z"],
        ],
        name="messy.csv",
    )
    bad = root / "views" / f"dt={last}" / "bytes.csv"
    bad.write_bytes(
        b"user_id,item_id,item_view_count,timestamp\n"
        b"u0000004,i00\xff003,1,1751241600\n"
        b"u0000004,i000003,1\x02,1751241600\n"
        b"u0000004,i000003,1,17512\x0141600\n"
        b'u0000005,"i000,004",2,1751241600\n'
        b'u0000005,"i000004,2,1751241600\n'
        b"u0000005,i000004,x,1751241601\n"
    )
    # Users change country and version within a day; contents gain a version and lose a date.
    moved = [["u0000006", "40", "F", "ja-JP", "gold"], ["u0000007", "", "", "english", ""]]
    write_raw(root, "users", "2025-06-15", moved)
    write_raw(root, "users", "2025-06-15", [["u0000006", "41", "F", "ja-JP", "gold"]], name="again.csv")
    write_raw(root, "contents", "2025-06-15", [["i000005", "New, \"title\"", "Drama|unknown genre", "2025-06-14"]])
    write_raw(root, "contents", "2025-06-16", [["i000006", "No date", "drama", "someday"]])
    return root


def digests(out: Path) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for path in sorted(out.iterdir()):
        if path.name == "counts.json":
            report = json.loads(path.read_text(encoding="utf-8"))
            result["counts.json"] = _relative(report, str(out.parent / "raw"))
        elif path.is_file():
            # Rows in no particular order (the engines write parallel parts): the header, then the sorted lines.
            lines = path.read_bytes().splitlines(keepends=True)
            head = lines[:1] if path.suffix == ".csv" else []
            body = sorted(lines[len(head) :])
            result[path.name] = hashlib.sha256(b"".join(head + body)).hexdigest()
    return result


def _relative(value: Any, root: str) -> Any:
    """File names in the quality report relative to the raw folder (the recording ran elsewhere)."""
    if isinstance(value, dict):
        return {k: _relative(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v, root) for v in value]
    if isinstance(value, str):
        return value.replace(root, "RAW")
    return value


def outputs(work: Path, **prepare_kwargs: Any) -> dict[str, Any]:
    raw = work / "raw"
    if not raw.exists():
        build_raw(raw)
    result = {}
    for name, run in RUNS.items():
        out = work / name
        prepare_with_quality(raw, out, "KR", **run, **prepare_kwargs)
        result[name] = digests(out)
    return result


def main(argv: list[str]) -> int:
    if argv != ["--write"]:
        print("usage: python -m tests.dataprep.golden --write", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        GOLDEN.write_text(json.dumps(outputs(Path(tmp)), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
