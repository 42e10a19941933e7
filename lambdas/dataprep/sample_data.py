"""Synthetic raw exports in the raw layout (docs/data-layout.md), deterministic for a seed.

    python -m dataprep.sample_data --out DIR [--users N] [--items N] [--days N] [--seed N] [--end-date D]

The data has the structure recommenders learn from, so evaluation and curation benchmarks mean something:
items belong to genres and have long-tail popularity inside their genre; every user prefers a few genres
(Dirichlet taste) and draws most events from them; activity is heavy-tailed (a few heavy users, most users
active on a few days, ~12% never active); users sign up and items are released throughout the period,
including the last 30 days. A handful of malformed rows (missing ids, bad timestamps, unknown locales, exact
duplicates, an item without a usable created_at) exercise the preparation's drop counts.

Interactions cover [end_date - days, end_date); with the default activity expect about
users x days x 0.17 event rows. Generation is numpy-vectorised; files are written by DuckDB on one thread
so the bytes are the same for the same arguments.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import duckdb
import numpy as np

from common.event_kinds import EventKind
from dataprep.queries import EVENT_TABLES, GENRE_MAPPING_CSV

DEFAULT_END_DATE = date(2025, 7, 1)
COUNTRIES: tuple[tuple[str, str, float, int], ...] = (
    # country, locale, share of users, UTC offset (hours) used for some ISO timestamps
    ("KR", "ko_KR", 0.40, 9),
    ("JP", "ja_JP", 0.30, 9),
    ("US", "en_US", 0.30, -5),
)
UNKNOWN_LOCALES = ("", "english", "x")
DAY = 86400
# An event's kind as its position here: a small integer column DuckDB filters on when it writes each event table.
_KINDS = tuple(EventKind)

_ADJECTIVES = (
    "Silent",
    "Crimson",
    "Lost",
    "Golden",
    "Midnight",
    "Broken",
    "Hidden",
    "Last",
    "Wild",
    "Frozen",
    "Burning",
    "Quiet",
    "Electric",
    "Distant",
    "Secret",
    "Little",
    "Endless",
    "Paper",
    "Iron",
    "Blue",
)
_NOUNS = (
    "River",
    "Garden",
    "Empire",
    "Letter",
    "Station",
    "Kingdom",
    "Summer",
    "Promise",
    "Detective",
    "Harbor",
    "Signal",
    "Kitchen",
    "Orbit",
    "Village",
    "Mirror",
    "Island",
    "Circus",
    "Engine",
    "Winter",
    "Diary",
)


def _genre_catalogue() -> tuple[list[str], list[list[str]]]:
    """Consolidated genres and their source genres, from the mapping shipped with the package."""
    sources: dict[str, list[str]] = defaultdict(list)
    with GENRE_MAPPING_CSV.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            sources[row["genre"]].append(row["source_genre"])
    names = sorted(sources)
    return names, [sources[name] for name in names]


def _epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _iso_day(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).date().isoformat()


def _write_partitioned(rows: list[tuple[str, list[Any]]], root: Path, header: list[str]) -> None:
    """rows: (dt, values); one file per partition, rows in the given order."""
    by_dt: dict[str, list[list[Any]]] = defaultdict(list)
    for dt, values in rows:
        by_dt[dt].append(values)
    for dt in sorted(by_dt):
        folder = root / f"dt={dt}"
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "part-00000.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(by_dt[dt])


def generate(
    out_dir: str | Path,
    users: int = 2000,
    items: int = 500,
    days: int = 200,
    seed: int = 7,
    end_date: date | str = DEFAULT_END_DATE,
) -> dict[str, int]:
    """Write purchases/, views/, users/, contents/ under out_dir; returns row counts per table."""
    if isinstance(end_date, str):
        end_date = date.fromisoformat(end_date)
    if users < 10 or items < 20 or days < 2:
        raise ValueError("need at least 10 users, 20 items and 2 days")
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    start_date = end_date - timedelta(days=days)
    start_ts, end_ts = _epoch(start_date), _epoch(end_date)
    genre_names, genre_sources = _genre_catalogue()
    n_genres = len(genre_names)

    # ---- items: genre, long-tail popularity inside the genre, release date -------------------------------
    genre_share = rng.dirichlet(np.full(n_genres, 3.0))
    item_genre = rng.choice(n_genres, size=items, p=genre_share)
    item_genre[:n_genres] = np.arange(n_genres)  # every genre has at least one item
    released = rng.random(items)
    item_created = np.where(
        released < 0.80,  # back catalogue: up to three years before the window
        start_ts - rng.integers(1, 3 * 365 * DAY, items),
        np.where(
            released < 0.93,  # released during the window
            start_ts + rng.integers(0, max(1, (days - 30) * DAY), items),
            end_ts - rng.integers(1, 30 * DAY, items),  # released in the last 30 days
        ),
    )
    popularity = rng.zipf(1.6, items).astype(np.float64) * rng.uniform(0.5, 1.5, items)

    # Items grouped by genre; per genre a cumulative distribution in (g, g+1] so one searchsorted call picks
    # an item for millions of (genre, uniform) draws at once.
    order = np.lexsort((-popularity, item_genre))
    sorted_genre = item_genre[order]
    sorted_weight = popularity[order]
    cumulative = np.empty(items)
    for g in range(n_genres):
        members = sorted_genre == g
        weights = np.cumsum(sorted_weight[members])
        cumulative[members] = g + weights / weights[-1]

    # ---- users: country, demographics, taste, activity -------------------------------------------------
    country_idx = rng.choice(len(COUNTRIES), size=users, p=[c[2] for c in COUNTRIES])
    signup_ts = np.where(
        rng.random(users) < 0.65,
        start_ts - rng.integers(1, 2 * 365 * DAY, users),
        start_ts + rng.integers(0, days * DAY, users),
    )
    taste = rng.dirichlet(np.full(n_genres, 0.25), size=users)
    taste_cumulative = np.cumsum(taste, axis=1)
    rate = np.clip(rng.lognormal(np.log(0.04), 1.0, users), 0.0, 0.9)  # sessions per day
    heavy = rng.random(users) < 0.02
    rate[heavy] = rng.uniform(0.5, 0.9, heavy.sum())
    rate[rng.random(users) < 0.12] = 0.0  # registered, never active

    first_day = np.maximum(signup_ts, start_ts) // DAY
    span_days = np.maximum(end_ts // DAY - first_day, 0)
    sessions = rng.poisson(rate * span_days)
    session_user = np.repeat(np.arange(users), sessions)
    session_day = first_day[session_user] + np.floor(
        rng.random(session_user.size) * span_days[session_user]
    ).astype(np.int64)
    session_start = session_day * DAY + rng.integers(0, DAY - 3600, session_user.size)
    events_per_session = rng.geometric(1 / 3, session_user.size)
    event_session = np.repeat(np.arange(session_user.size), events_per_session)
    n_events = event_session.size
    gaps = rng.integers(15, 240, n_events)
    offsets = np.cumsum(gaps)
    session_first = np.concatenate(([0], np.cumsum(events_per_session)[:-1]))
    offsets -= np.repeat(offsets[session_first] - gaps[session_first], events_per_session)
    event_user = session_user[event_session]
    event_ts = np.minimum(session_start[event_session] + offsets, (session_day[event_session] + 1) * DAY - 1)

    # Genre from the user's taste (85%) or anything (15%), then an item of that genre by popularity.
    event_genre = np.empty(n_events, dtype=np.int64)
    draws = rng.random(n_events)
    explore = rng.random(n_events) < 0.15
    random_genre = rng.integers(0, n_genres, n_events)
    for lo in range(0, n_events, 1_000_000):
        hi = min(lo + 1_000_000, n_events)
        chosen = (draws[lo:hi, None] > taste_cumulative[event_user[lo:hi]]).sum(axis=1)
        event_genre[lo:hi] = np.minimum(chosen, n_genres - 1)
    event_genre[explore] = random_genre[explore]
    position = np.searchsorted(cumulative, event_genre + rng.random(n_events), side="right")
    event_item = order[np.minimum(position, items - 1)]

    # Nobody interacts with an item before its release.
    released_ok = item_created[event_item] <= event_ts
    event_user, event_item, event_ts = event_user[released_ok], event_item[released_ok], event_ts[released_ok]
    n_events = event_ts.size
    is_purchase = rng.random(n_events) < 0.10
    event_kind = np.where(is_purchase, _KINDS.index(EventKind.PURCHASE), _KINDS.index(EventKind.VIEW)).astype(np.int8)
    view_count = rng.geometric(0.55, n_events)
    time_format = rng.random(n_events)

    # ---- malformed rows: a few of each kind ------------------------------------------------------------
    n_bad = max(3, n_events // 50_000)
    mangle = np.zeros(n_events, dtype=np.int8)  # 0 ok, 1 no user id, 2 no item id, 3-5 bad timestamps
    bad_rows = rng.choice(n_events, size=min(n_events, 5 * n_bad), replace=False)
    mangle[bad_rows] = np.repeat(np.arange(1, 6), n_bad)[: bad_rows.size]
    duplicates = rng.choice(n_events, size=min(n_events, n_bad), replace=False)
    keep = np.concatenate((np.arange(n_events), duplicates))
    keep = keep[np.argsort(event_ts[keep], kind="stable")]

    events = {
        "u": event_user[keep],
        "i": event_item[keep],
        "ts": event_ts[keep],
        "offset_h": np.array([c[3] for c in COUNTRIES], dtype=np.int64)[country_idx[event_user[keep]]],
        "kind": event_kind[keep],
        "views": view_count[keep],
        "fmt": time_format[keep],
        "mangle": mangle[keep],
    }
    _write_events(out, events)

    # ---- users and contents exports (upserts partitioned by the day they were written) ---------------------
    ages = np.clip(np.round(rng.normal(36, 13, users)), 12, 90).astype(int)
    age_missing = rng.random(users) < 0.08
    genders = rng.choice(["f", "m", "x"], size=users, p=[0.49, 0.48, 0.03])
    gender_missing = rng.random(users) < 0.07
    memberships = rng.choice(["free", "basic", "premium"], size=users, p=[0.6, 0.25, 0.15])
    membership_missing = rng.random(users) < 0.05
    unknown_locale = rng.random(users) < 0.01
    unknown_choice = rng.integers(0, len(UNKNOWN_LOCALES), users)
    upgraded = rng.random(users) < 0.02
    user_rows: list[tuple[str, list[Any]]] = []
    for u in range(users):
        locale = UNKNOWN_LOCALES[unknown_choice[u]] if unknown_locale[u] else COUNTRIES[country_idx[u]][1]
        written = max(int(signup_ts[u]), start_ts)
        row = [
            f"u{u:07d}",
            "" if age_missing[u] else str(ages[u]),
            "" if gender_missing[u] else genders[u],
            locale,
            "" if membership_missing[u] else memberships[u],
        ]
        user_rows.append((_iso_day(written), row))
        if upgraded[u] and written + DAY < end_ts:
            changed = int(rng.integers(written + DAY, end_ts))
            user_rows.append((_iso_day(changed), [*row[:4], "premium"]))
    _write_partitioned(user_rows, out / "users", ["user_id", "age", "gender", "locale", "membership"])

    second_tag = rng.random(items)
    other_genre = rng.integers(0, n_genres, items)
    title_kind = rng.random(items)
    content_rows: list[tuple[str, list[Any]]] = []
    for i in range(items):
        own = genre_sources[item_genre[i]]
        tags = [own[rng.integers(len(own))]]
        if second_tag[i] < 0.4:
            tags.append(own[rng.integers(len(own))])
        elif second_tag[i] < 0.6:
            foreign = genre_sources[other_genre[i]]
            tags.append(foreign[rng.integers(len(foreign))])
        elif second_tag[i] < 0.61:
            tags.append("experimental")  # not in the mapping: counted, not fatal
        title = f"{_ADJECTIVES[i % len(_ADJECTIVES)]} {_NOUNS[(i // len(_ADJECTIVES)) % len(_NOUNS)]} {i}"
        if title_kind[i] < 0.05:
            title += ", Part 2"  # needs CSV quoting
        elif title_kind[i] < 0.07:
            title = f'"{title}"'
        created = datetime.fromtimestamp(int(item_created[i]), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        written = max(int(item_created[i]), start_ts)
        content_rows.append((_iso_day(written), [f"i{i:06d}", title, "|".join(dict.fromkeys(tags)), created]))
    # Malformed contents: no id, and a created_at nobody can parse.
    content_rows.append((start_date.isoformat(), ["", "Orphan", "drama", "2020-01-01"]))
    content_rows.append((start_date.isoformat(), [f"i{items:06d}", "Undated", "drama", "someday"]))
    _write_partitioned(content_rows, out / "contents", ["item_id", "title", "genre", "created_at"])

    return {
        "interactions": int(keep.size),
        **{table: int((events["kind"] == _KINDS.index(kind)).sum()) for table, kind in EVENT_TABLES.items()},
        "users": users,
        "user_rows": len(user_rows),
        "items": items,
        "content_rows": len(content_rows),
        "malformed_interactions": int(5 * n_bad + n_bad),
    }


# The CSV text is formatted inside DuckDB, which writes hive partitions (dt=...) in one pass; one thread
# keeps row order, hence the bytes, identical across runs.
_TS_ISO = "strftime(make_timestamp(ts * 1000000), '%Y-%m-%dT%H:%M:%SZ')"
_TS_LOCAL = (
    "strftime(make_timestamp((ts + offset_h * 3600) * 1000000), '%Y-%m-%dT%H:%M:%S') "
    "|| CASE WHEN offset_h < 0 THEN '-' ELSE '+' END || lpad(CAST(abs(offset_h) AS VARCHAR), 2, '0') || ':00'"
)
_TS_BAD = "CASE mangle WHEN 3 THEN 'not-a-time' WHEN 4 THEN '2025-02-30T25:00:00Z' ELSE '' END"


def _write_events(out: Path, events: dict[str, np.ndarray]) -> None:
    con = duckdb.connect(config={"threads": 1})
    try:
        con.register("events", events)
        common = """
            CASE WHEN mangle = 1 THEN '' ELSE printf('u%07d', u) END AS user_id,
            CASE WHEN mangle = 2 THEN '' ELSE printf('i%06d', i) END AS item_id"""
        dt = "strftime(make_timestamp(ts * 1000000), '%Y-%m-%d') AS dt"
        # Each event table's columns and timestamp forms (docs/data-layout.md); its rows are its kind's events.
        shapes = {
            "purchases": (
                common,
                f"CASE WHEN mangle >= 3 THEN {_TS_BAD} WHEN fmt < 0.7 THEN {_TS_ISO} ELSE {_TS_LOCAL} END",
            ),
            "views": (
                common + ", CAST(views AS VARCHAR) AS item_view_count",
                f"CASE WHEN mangle >= 3 THEN {_TS_BAD} WHEN fmt < 0.9 THEN CAST(ts AS VARCHAR) "
                "ELSE CAST(ts * 1000 + (u % 1000) AS VARCHAR) END",
            ),
        }
        for table, kind in EVENT_TABLES.items():
            columns, ts_expr = shapes[table]
            where = f"kind = {_KINDS.index(kind)}"
            target = out / table
            target.mkdir(parents=True, exist_ok=True)
            con.execute(
                f"""COPY (SELECT {columns}, {ts_expr} AS "timestamp", {dt} FROM events WHERE {where})
                TO '{target.as_posix()}' (FORMAT csv, HEADER true, PARTITION_BY (dt),
                OVERWRITE_OR_IGNORE true,
                FILENAME_PATTERN 'part-{{i}}')"""
            )
    finally:
        con.close()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="dataprep.sample_data", description="synthetic raw exports for local runs")
    parser.add_argument("--out", required=True)
    parser.add_argument("--users", type=_positive, default=2000)
    parser.add_argument("--items", type=_positive, default=500)
    parser.add_argument("--days", type=_positive, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--end-date", type=_iso_date, default=DEFAULT_END_DATE)
    args = parser.parse_args(argv)
    repository = Path(__file__).resolve().parents[2]
    if Path(args.out).resolve().is_relative_to(repository):
        parser.error(f"OUT={args.out} (--out) is inside the repository {repository}; choose a folder outside it")
    try:
        summary = generate(args.out, args.users, args.items, args.days, args.seed, args.end_date)
    except ValueError as error:
        parser.error(str(error))
    print(" ".join(f"{k}={v}" for k, v in summary.items()) + f" -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
