"""Which raw data a local report was built from, so its trend only compares runs of the same data.

A run on RUN_DATE can read the raw files `<table>/dt=D/*.csv` with D before RUN_DATE (dataprep's window and the
latest users and items before the run date). Its `raw_digest` (in report.json) is the SHA-256 over those files'
paths under RAW and the SHA-256 of their bytes. An earlier report is of the SAME DATA as this run when this RAW's
files dated before that report's run date give the digest it recorded: every file it could read is still here,
byte for byte, and none was added among them. Partitions added since (the export growing day by day) leave it
unchanged; another export, or the same folder regenerated or edited, changes it. Where RAW lives does not matter.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import NamedTuple

from dataprep.queries import RAW_TABLES

PARTITION_PREFIX = "dt="


class RawFile(NamedTuple):
    path: str  # under RAW, e.g. "views/dt=2025-06-20/part-0.csv"
    day: str  # the partition's date, e.g. "2025-06-20"
    sha256: str


def raw_files(raw_dir: Path | str) -> list[RawFile]:
    """Every raw file dataprep reads (`<table>/dt=D/*.csv` of each raw table), with its content's SHA-256."""
    root = Path(raw_dir)
    files = []
    for table in RAW_TABLES:
        for path in (root / table).glob(f"{PARTITION_PREFIX}*/*.csv"):
            with path.open("rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
            day = path.parent.name.removeprefix(PARTITION_PREFIX)
            files.append(RawFile(path.relative_to(root).as_posix(), day, digest))
    return sorted(files)


def raw_digest(files: list[RawFile], run_date: date | str) -> str:
    """The digest of the files a run on `run_date` can read (partitions dated before it)."""
    before = str(run_date)
    digest = hashlib.sha256()
    for file in files:
        if file.day < before:
            digest.update(f"{file.path}\0{file.sha256}\n".encode())
    return digest.hexdigest()
