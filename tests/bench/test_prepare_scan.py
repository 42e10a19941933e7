"""The prepare scan model charges what Trino reads: each scan of the window the parts its consumer keeps and the
columns it names, each CTE once per reference (Trino inlines CTEs), nothing for a CTE no path reaches."""

from __future__ import annotations

import pytest

from bench.prepare_scan import GB, statement_gb
from dataprep.columnar import Part, files_table, parsed_table
from dataprep.queries import RAW_TABLES

BASE = """WITH window_rows AS (
    SELECT user_id, item_id, ts, part FROM run_window
    WHERE country = 'KR' AND run_date = '2025-07-01' AND execution = 'x' AND attempt = 'a1'
),
interactions AS (SELECT user_id, item_id, ts FROM window_rows WHERE part IN ('new', 'changed', 'old')),
unused AS (SELECT user_id FROM views_parsed)
"""


class _Measured:
    """One byte per row for every column, 1 GB of rows per part (GB rows at scale 1)."""

    def __init__(self) -> None:
        every = {c: 1.0 for c in ("user_id", "item_id", "ts", "file", "row_count", "drop_reason")}
        self.parts = {part: (int(GB), {c: GB * b for c, b in every.items()}) for part in Part}
        self.tables = {name: (0, {}) for t in RAW_TABLES for name in (parsed_table(t), files_table(t))}

    def bytes_per_row(self, sizes, columns):
        rows, by_column = sizes
        return sum(by_column.get(c, 0.0) for c in columns) / rows if rows else 0.0


def _gb(sql: str) -> float:
    return statement_gb(sql, _Measured(), 1.0, 1.0)  # type: ignore[arg-type]


def test_a_consumer_pays_its_parts_and_the_columns_its_consumers_use():
    # one scan of three parts, one column (user_id): 3 GB; the unreferenced CTE costs nothing
    assert _gb(BASE + "SELECT DISTINCT user_id FROM interactions") == pytest.approx(3.0)
    # two columns of the same scan
    assert _gb(BASE + "SELECT user_id, item_id FROM interactions") == pytest.approx(6.0)


def test_a_cte_read_twice_is_scanned_twice():
    once = _gb(BASE + "SELECT count(*) AS n, count(DISTINCT user_id) AS u FROM interactions")
    twice = _gb(
        BASE
        + "SELECT a.n, b.u FROM (SELECT count(*) AS n FROM interactions) AS a "
        + "CROSS JOIN (SELECT count(DISTINCT user_id) AS u FROM interactions) AS b"
    )
    assert once == pytest.approx(3.0) and twice == pytest.approx(6.0)


def test_a_part_predicate_prunes_to_its_part():
    assert _gb(BASE + "SELECT user_id FROM window_rows WHERE part = 'new'") == pytest.approx(1.0)
    assert _gb(BASE + "SELECT user_id FROM window_rows WHERE part <> 'other'") == pytest.approx(len(Part) - 1)
