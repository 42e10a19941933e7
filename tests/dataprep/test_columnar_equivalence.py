"""The columnar days change where the preparation reads from, not what it prepares.

golden_outputs.json holds every prepared file's digest and counts.json of three runs over messy exports, recorded
from the preparation that read the raw CSV of the whole window (tests/dataprep/golden.py). The same runs, now
converting each raw day once and reading the run window, must write the same bytes and the same counts and quality.
"""

from __future__ import annotations

import json

import pytest

from tests.dataprep.golden import GOLDEN, RUNS, outputs


@pytest.fixture(scope="module")
def columnar_outputs(tmp_path_factory):
    return outputs(tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize("run", sorted(RUNS))
def test_every_prepared_file_equals_the_csv_preparation(columnar_outputs, run):
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))[run]
    actual = columnar_outputs[run]
    assert sorted(actual) == sorted(expected)
    for name in expected:
        if name != "counts.json":
            assert actual[name] == expected[name], f"{run}: {name} differs from the CSV preparation"


@pytest.mark.parametrize("run", sorted(RUNS))
def test_counts_and_quality_totals_equal_the_csv_preparation(columnar_outputs, run):
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))[run]["counts.json"]
    actual = columnar_outputs[run]["counts.json"]
    assert actual["counts"] == expected["counts"]
    assert actual["data_quality"] == expected["data_quality"]
    assert actual == expected
