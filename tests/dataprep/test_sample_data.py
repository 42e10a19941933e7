"""Synthetic exports: deterministic per seed, in the raw layout, with the structure the benchmarks need."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest

from dataprep.local import prepare
from dataprep.queries import RAW_TABLES
from dataprep.sample_data import generate, main

END = date(2025, 7, 1)


def _digest(root):
    files = sorted(p for p in root.rglob("*.csv"))
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    summary = generate(root, users=600, items=150, days=200, seed=11, end_date=END)
    return root, summary


def test_same_seed_same_bytes_other_seed_other_data(sample, tmp_path):
    root, _ = sample
    generate(tmp_path / "again", users=600, items=150, days=200, seed=11, end_date=END)
    generate(tmp_path / "other", users=600, items=150, days=200, seed=12, end_date=END)
    assert _digest(root) == _digest(tmp_path / "again")
    assert _digest(root) != _digest(tmp_path / "other")


def test_raw_layout_headers_and_date_range(sample):
    root, _ = sample
    for table, columns in RAW_TABLES.items():
        partitions = sorted(p.name for p in (root / table).iterdir())
        assert partitions and all(p.startswith("dt=") for p in partitions)
        for part in (root / table).glob("dt=*/*.csv"):
            with part.open(encoding="utf-8") as f:
                assert next(csv.reader(f)) == list(columns)
    days = sorted(p.name[3:] for p in (root / "views").iterdir())
    assert (
        days[0] == (END - timedelta(days=200)).isoformat()
        and days[-1] == (END - timedelta(days=1)).isoformat()
    )


@pytest.fixture(scope="module")
def prepared(sample, tmp_path_factory):
    """Each dev country prepared from the sample once: (summary, output folder) per country."""
    root, _ = sample
    out = tmp_path_factory.mktemp("prepared")
    return {cc: (prepare(root, out / cc, cc, END.isoformat()), out / cc) for cc in ("KR", "JP", "US")}


def test_countries_new_items_and_malformed_rows_reach_preparation(prepared):
    per_country = {cc: summary for cc, (summary, _) in prepared.items()}
    assert all(c.interactions > 1000 for c in per_country.values())
    kr = per_country["KR"]
    assert (
        kr.dropped_missing_ids > 0 and kr.dropped_unparsable_timestamp > 0 and kr.dropped_unknown_country > 0
    )
    assert kr.items_dropped_unparsable_timestamp == 1
    # Registered users without history exist, and some items were released in the last 30 days.
    assert kr.country_users > kr.users
    with (prepared["KR"][1] / "items.csv").open(encoding="utf-8") as f:
        created = [int(r["CREATION_TIMESTAMP"]) for r in csv.DictReader(f)]
    cutoff = ((END - timedelta(days=30)) - date(1970, 1, 1)).days * 86400
    assert sum(c >= cutoff for c in created) >= 3


def test_taste_structure_users_concentrate_on_few_genres(prepared):
    out = prepared["KR"][1]
    with (out / "items.csv").open(encoding="utf-8") as f:
        genre = {r["ITEM_ID"]: r["GENRES"].split("|")[0] for r in csv.DictReader(f)}
    per_user: dict[str, Counter] = defaultdict(Counter)
    popularity: Counter = Counter()
    with (out / "interactions.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            per_user[r["USER_ID"]][genre.get(r["ITEM_ID"], "?")] += 1
            popularity[r["ITEM_ID"]] += 1
    active = [c for c in per_user.values() if sum(c.values()) >= 20]
    top_share = sum(max(c.values()) / sum(c.values()) for c in active) / len(active)
    overall = Counter()
    for c in per_user.values():
        overall.update(c)
    overall_top = max(overall.values()) / sum(overall.values())
    assert top_share > overall_top + 0.15  # a user's favourite genre dominates far beyond the global mix
    # Long tail: the top 10% of items take a large share of interactions.
    counts = sorted(popularity.values(), reverse=True)
    assert sum(counts[: max(1, len(counts) // 10)]) / sum(counts) > 0.3


def test_cli_bad_arguments_exit_2_with_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--out", "x", "--end-date", "2025-13-01"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--end-date" in err[0]
