"""Inputs of the evaluation: prepared Personalize CSVs, Personalize batch output, and the time split.

The prepared CSVs are what data preparation writes (column order from `common.schemas`):
interactions.csv (USER_ID, ITEM_ID, TIMESTAMP epoch seconds, EVENT_TYPE, EVENT_VALUE),
users.csv (USER_ID, ...), items.csv (ITEM_ID, GENRES '|'-joined, CREATION_TIMESTAMP[, TITLE]).
Ids are indexed in sorted order so every run over the same data gives the same indices (and tie-breaks).
"""

from __future__ import annotations

import csv
import json
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

DAY = 86_400


class InputError(ValueError):
    """Input the evaluation cannot use; the message says which file and what is wrong."""


@dataclass(frozen=True)
class ItemInfo:
    title: str
    genres: tuple[str, ...]
    created: int | None  # epoch seconds; None when unknown


@dataclass
class Dataset:
    """Interactions as index arrays plus the id <-> index maps and item metadata."""

    user_ids: list[str]
    item_ids: list[str]
    users: np.ndarray  # int32 user index per interaction
    items: np.ndarray  # int32 item index per interaction
    timestamps: np.ndarray  # int64 epoch seconds per interaction
    item_info: dict[str, ItemInfo] = field(default_factory=dict)
    user_index: dict[str, int] = field(init=False)
    item_index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.user_index = {u: i for i, u in enumerate(self.user_ids)}
        self.item_index = {it: i for i, it in enumerate(self.item_ids)}

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @classmethod
    def from_records(
        cls,
        records: Iterable[tuple[str, str, int]],
        item_info: dict[str, ItemInfo] | None = None,
        extra_users: Iterable[str] = (),
    ) -> Dataset:
        """Build from (user_id, item_id, timestamp) triples; `extra_users` are users known without history."""
        rows = list(records)
        item_info = dict(item_info or {})
        user_ids = sorted({r[0] for r in rows} | set(extra_users))
        # The catalogue is every item in interactions or items (Personalize's coverage denominator).
        item_ids = sorted({r[1] for r in rows} | set(item_info))
        dataset = cls(
            user_ids, item_ids, np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, np.int64), item_info
        )
        dataset.users = np.fromiter((dataset.user_index[r[0]] for r in rows), dtype=np.int32, count=len(rows))
        dataset.items = np.fromiter((dataset.item_index[r[1]] for r in rows), dtype=np.int32, count=len(rows))
        dataset.timestamps = np.fromiter((int(r[2]) for r in rows), dtype=np.int64, count=len(rows))
        return dataset

    @classmethod
    def from_arrays(
        cls,
        user_names: Sequence[str],
        item_names: Sequence[str],
        users: np.ndarray,
        items: np.ndarray,
        timestamps: np.ndarray,
        item_info: dict[str, ItemInfo] | None = None,
        extra_users: Iterable[str] = (),
    ) -> Dataset:
        """Build from codes into `user_names`/`item_names` (any order); ids are re-indexed in sorted order."""
        item_info = dict(item_info or {})
        user_ids = sorted(set(user_names) | set(extra_users))
        item_ids = sorted(set(item_names) | set(item_info))
        dataset = cls(
            user_ids, item_ids, np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, np.int64), item_info
        )
        user_map = np.array([dataset.user_index[u] for u in user_names], dtype=np.int32)
        item_map = np.array([dataset.item_index[i] for i in item_names], dtype=np.int32)
        dataset.users = user_map[users] if len(users) else np.empty(0, np.int32)
        dataset.items = item_map[items] if len(items) else np.empty(0, np.int32)
        dataset.timestamps = np.asarray(timestamps, dtype=np.int64)
        return dataset

    def info(self, item_id: str) -> ItemInfo:
        return self.item_info.get(item_id, ItemInfo(title=item_id, genres=(), created=None))


def window_end(run_date: date) -> int:
    """Epoch seconds of run_date 00:00 UTC: preparation's window is [run_date - window_days, run_date)."""
    return int(datetime(run_date.year, run_date.month, run_date.day, tzinfo=UTC).timestamp())


def _read_csv(path: Path, required: Sequence[str]) -> Iterable[dict[str, str]]:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)} (header: {reader.fieldnames})")
        yield from reader


def load_prepared(prepared_dir: Path | str) -> Dataset:
    """Load interactions.csv, users.csv and items.csv from a prepared folder (users/items optional)."""
    folder = Path(prepared_dir)
    item_info: dict[str, ItemInfo] = {}
    items_path = folder / "items.csv"
    if items_path.exists():
        for row in _read_csv(items_path, ("ITEM_ID", "GENRES", "CREATION_TIMESTAMP")):
            created = row.get("CREATION_TIMESTAMP") or ""
            genres = tuple(g for g in (row.get("GENRES") or "").split("|") if g and g != "none")
            item_info[row["ITEM_ID"]] = ItemInfo(
                title=row.get("TITLE") or row["ITEM_ID"],
                genres=genres,
                created=int(float(created)) if created.strip() else None,
            )
    users: list[str] = []
    users_path = folder / "users.csv"
    if users_path.exists():
        users = [row["USER_ID"] for row in _read_csv(users_path, ("USER_ID",))]
    # Streamed into index arrays (no per-row tuples): prepared interactions can be tens of millions of rows.
    path = folder / "interactions.csv"
    user_first: dict[str, int] = {}
    item_first: dict[str, int] = {}
    user_col, item_col, ts_col = array("l"), array("l"), array("q")
    for line, row in enumerate(_read_csv(path, ("USER_ID", "ITEM_ID", "TIMESTAMP")), start=2):
        try:
            ts_col.append(int(float(row["TIMESTAMP"])))
        except (TypeError, ValueError) as error:
            raise InputError(f"{path}:{line}: bad TIMESTAMP {row.get('TIMESTAMP')!r}") from error
        user_col.append(user_first.setdefault(row["USER_ID"], len(user_first)))
        item_col.append(item_first.setdefault(row["ITEM_ID"], len(item_first)))
    return Dataset.from_arrays(
        list(user_first),
        list(item_first),
        np.asarray(user_col),
        np.asarray(item_col),
        np.asarray(ts_col),
        item_info,
        users,
    )


@dataclass(frozen=True)
class BatchOutput:
    """Personalize batch-inference output: one list per user, plus what could not be used."""

    lists: dict[str, list[str]]
    files: int
    lines: int
    error_lines: int  # lines Personalize itself marked with an error
    malformed_lines: int  # lines that are not the documented JSON shape

    @property
    def problems(self) -> list[str]:
        notes = []
        if self.error_lines:
            notes.append(f"{self.error_lines} batch output line(s) carried an error from Personalize")
        if self.malformed_lines:
            notes.append(
                f"{self.malformed_lines} batch output line(s) were not valid JSON lines and were skipped"
            )
        return notes


# Batch-inference output file names: *.out (what Personalize writes) or *.jsonl.
BATCH_OUTPUT_SUFFIXES = (".out", ".jsonl")


def batch_output_files(results_dir: Path | str) -> list[Path]:
    """The batch-inference output files in a folder and its sub-folders (BATCH_OUTPUT_SUFFIXES)."""
    folder = Path(results_dir)
    if not folder.is_dir():
        raise InputError(f"{folder}: results folder not found")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in BATCH_OUTPUT_SUFFIXES)


def read_batch_output(paths: Sequence[Path | str]) -> BatchOutput:
    """Parse JSON lines {"input": {"userId": ...}, "output": {"recommendedItems": [...]}, "error": ...}."""
    lists: dict[str, list[str]] = {}
    lines = errors = malformed = 0
    for path in paths:
        with Path(path).open(encoding="utf-8") as handle:
            for raw in handle:
                if not raw.strip():
                    continue
                lines += 1
                try:
                    record = json.loads(raw)
                    user = str(record["input"]["userId"])
                    if record.get("error"):
                        errors += 1
                        continue
                    recommended = record["output"]["recommendedItems"]
                    if not isinstance(recommended, list):  # as the report SQL: a list or malformed
                        raise TypeError("recommendedItems is not a list")
                    items = [str(i) for i in recommended]
                except (ValueError, KeyError, TypeError):
                    malformed += 1
                    continue
                lists[user] = items
    return BatchOutput(lists, len(paths), lines, errors, malformed)


@dataclass(frozen=True)
class Split:
    """Time split: interactions before `cutoff` are history, those in [cutoff, end) are the truth."""

    start: int
    cutoff: int
    end: int
    train: np.ndarray  # bool mask over the dataset's interactions
    truth: dict[str, set[str]]  # user id -> distinct items interacted with in the truth period


def time_split(dataset: Dataset, end: int, truth_days: int) -> Split:
    if truth_days < 1:
        raise InputError(f"truth_days must be >= 1, got {truth_days}")
    cutoff = end - truth_days * DAY
    ts = dataset.timestamps
    train = ts < cutoff
    test = (ts >= cutoff) & (ts < end)
    truth: dict[str, set[str]] = {}
    for u, i in zip(dataset.users[test].tolist(), dataset.items[test].tolist(), strict=True):
        truth.setdefault(dataset.user_ids[u], set()).add(dataset.item_ids[i])
    start = int(ts.min()) if len(ts) else cutoff
    return Split(start=start, cutoff=cutoff, end=end, train=train, truth=truth)
