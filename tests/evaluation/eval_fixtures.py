"""Helpers for the evaluation tests: small prepared CSVs and a stand-in for Personalize batch output."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

RUN_DATE = date(2026, 11, 1)
COLD_USERS = 12


def write_prepared(dataset, folder: Path) -> Path:
    """The prepared CSV layout (interactions, users, items) as data preparation writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "interactions.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"])
        for u, i, t in zip(
            dataset.users.tolist(), dataset.items.tolist(), dataset.timestamps.tolist(), strict=True
        ):
            out.writerow([dataset.user_ids[u], dataset.item_ids[i], t, "view", 1])
    with (folder / "users.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["USER_ID", "LOCALE", "AGE_GROUP", "GENDER", "MEMBERSHIP"])
        for user in dataset.user_ids:
            out.writerow([user, "fr_FR", "25-34", "none", "basic"])
    with (folder / "items.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["ITEM_ID", "GENRES", "CREATION_TIMESTAMP", "TITLE"])
        for item in dataset.item_ids:
            info = dataset.item_info[item]
            out.writerow([item, "|".join(info.genres), info.created, info.title])
    return folder


def write_batch_output(dataset, folder: Path, users: list[str], bad_lines: bool = True) -> list[Path]:
    """Personalize-shaped JSON lines. Stand-in lists: each user's taste-free 'most recent catalogue' rotation,
    so cold users get different lists (unlike popularity) and the page has a third column to show."""
    folder.mkdir(parents=True, exist_ok=True)
    items = dataset.item_ids
    paths = []
    for part in range(2):
        path = folder / f"users_part{part}.json.out"
        with path.open("w", encoding="utf-8") as handle:
            for n, user in enumerate(users[part::2]):
                start = (n * 7 + part) % len(items)
                recommended = [items[(start + j) % len(items)] for j in range(25)]
                record = {
                    "input": {"userId": user},
                    "output": {
                        "recommendedItems": recommended,
                        "scores": [round(1 / (j + 1), 4) for j in range(25)],
                    },
                    "error": None,
                }
                handle.write(json.dumps(record) + "\n")
            if bad_lines and part == 0:
                handle.write('{"input": {"userId": "x"}, "output": null, "error": "User not found"}\n')
                handle.write("not json\n")
        paths.append(path)
    return paths
