"""The report reads the run attempt's window (run_window, Parquet, one folder per part), not the prepared CSV.

The local preparation writes `<prepared>/window/part=<part>/*.parquet` beside the CSVs; the report's statements
read the country's parts only (new, changed, old), so the other countries' rows and the per-file counts the window
also holds change nothing: the outputs equal those of the same interactions read from interactions.csv.
"""

from __future__ import annotations

import json
import shutil

import duckdb
from eval_fixtures import RUN_DATE

from dataprep.columnar import WINDOW_COLUMNS, WINDOW_FOLDER, WINDOW_PART, Part
from evaluation.local_sql import INTERACTIONS_FILE, report_outputs
from evaluation.queries import ReportOutput
from evaluation.report_model import ReportOptions
from evaluation.run import sql_params


def _write_window(prepared_dir, folder) -> int:
    """The prepared interactions as a run window: spread over the country's parts, plus rows of another country
    and per-file counts that the report must not read. Returns the country's rows."""
    for name in ("users.csv", "items.csv"):
        shutil.copy(prepared_dir / name, folder / name)
    columns = ", ".join(f'CAST(NULL AS {"BIGINT" if t == "bigint" else "VARCHAR"}) AS "{c}"' for c, t in WINDOW_COLUMNS)
    con = duckdb.connect()
    con.execute(
        f"""CREATE TABLE csv AS SELECT USER_ID AS user_id, ITEM_ID AS item_id, CAST("TIMESTAMP" AS BIGINT) AS ts
        FROM read_csv('{prepared_dir / "interactions.csv"}', header = true, all_varchar = true)"""
    )
    con.execute(f"CREATE TABLE w AS SELECT {columns}, CAST(NULL AS VARCHAR) AS {WINDOW_PART} WHERE false")
    names = ", ".join(f'"{c}"' for c, _ in WINDOW_COLUMNS)
    parts = [Part.NEW, Part.CHANGED, Part.OLD]
    con.execute(
        f"""INSERT INTO w ({names}, {WINDOW_PART})
        SELECT user_id, item_id, ts, 'view', 1, NULL, 1, 'f.csv', 'views', NULL, NULL, NULL,
            ['{parts[0]}', '{parts[1]}', '{parts[2]}'][CAST(1 + hash(user_id || item_id || ts) % 3 AS BIGINT)]
        FROM csv"""
    )
    # Another country's interactions with the same ids, newer than the country's (they would change every list),
    # and a per-file count row.
    con.execute(
        f"""INSERT INTO w ({names}, {WINDOW_PART})
        SELECT user_id, item_id, ts + 60, 'view', 1, NULL, 1, 'f.csv', 'views', NULL, NULL, NULL, '{Part.OTHER}'
        FROM csv WHERE hash(user_id) % 2 = 0"""
    )
    con.execute(
        f"""INSERT INTO w ({names}, {WINDOW_PART})
        SELECT 'u-files', 'i-files', 0, NULL, NULL, NULL, NULL, 'f.csv', 'views', NULL, NULL, 99, '{Part.FILES}'"""
    )
    target = folder / WINDOW_FOLDER
    con.execute(f"COPY w TO '{target}' (FORMAT parquet, PARTITION_BY ({WINDOW_PART}))")
    rows = con.execute("SELECT count(*) FROM csv").fetchone()
    con.close()
    return int(rows[0]) if rows else 0


def _outputs(folder) -> dict[str, list[str]]:
    return {
        output.value: sorted(
            json.dumps(json.loads(line), sort_keys=True)
            for part in sorted((folder / output.value).glob("*.json"))
            for line in part.read_text(encoding="utf-8").splitlines()
        )
        for output in ReportOutput
    }


def test_the_report_reads_the_country_parts_of_the_run_window_written_beside_the_prepared_csvs(
    prepared_dir, batch_files, tmp_path
):
    columnar = tmp_path / "columnar"
    columnar.mkdir()
    assert _write_window(prepared_dir, columnar) > 1000
    assert not (columnar / INTERACTIONS_FILE).exists()
    assert {p.name for p in (columnar / WINDOW_FOLDER).iterdir()} == {
        f"{WINDOW_PART}={p}" for p in Part if p != Part.DAYS
    }
    params = sql_params("FR", RUN_DATE, True, ReportOptions())
    report_outputs(prepared_dir, params, tmp_path / "from-csv", batch_files)
    report_outputs(columnar, params, tmp_path / "from-window", batch_files)
    from_csv, from_window = _outputs(tmp_path / "from-csv"), _outputs(tmp_path / "from-window")
    assert all(from_csv[o.value] for o in ReportOutput)
    for output in ReportOutput:
        assert from_window[output.value] == from_csv[output.value], output
