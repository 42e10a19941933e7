"""Online experiments: what an experiment is, which arm a user is in, and what one served response logs.

One idea: the experiment contract shared by the config (stacks), the serving API (assignment, exposure log) and the
report (the online outcome). docs/experiments.md explains how to start, read and stop one.

Assignment is a deterministic, salted hash: sha256("<experiment name>:<unit>") read as a number in [0, 1), the unit
being the user id (or the session id of an anonymous visitor). The experiment's name is the salt, so a user's arm
is sticky for the experiment's life, independent across experiments, and reproducible offline from the exposure
log alone. The weights split [0, 1) in the order of `ARM_ORDER`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Arm(StrEnum):
    """What a user of an experiment is served; each arm keeps the serving fallback chain below its first source."""

    PERSONALIZE = "personalize"  # the campaign -> the batch list -> segment -> country (the API's default chain)
    CURATION = "curation"  # the legacy curation's list for the user -> segment -> country
    POPULARITY = "popularity"  # the country's list


ARM_ORDER: tuple[Arm, ...] = (Arm.PERSONALIZE, Arm.CURATION, Arm.POPULARITY)
# The key under which an exposure sits in a log line: the log subscription keeps only lines holding it.
EXPOSURE_KEY = "exposure"
# Where the exposure log lands (stacks/constructs/exposure_log.py): JSON lines `{EXPOSURE_KEY: {...}}` under
# `<EXPOSURES_PREFIX>dt=YYYY-MM-DD/` of the results bucket, read by the Glue table EXPOSURES_TABLE (one text
# column, dataprep.queries.LINE_COLUMN; partition EXPOSURE_DAY). dt is the day Firehose received the line (UTC),
# so an exposure served just before midnight may sit in the next day's dt: read dt D and D+1 and filter on
# served_at. Lines may be empty (a delimiter after a batch): skip those.
EXPOSURES_TABLE = "exposures"
EXPOSURES_PREFIX = "exposures/"
EXPOSURE_DAY = "dt"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_HASH_SPACE = 2**64


class Experiment(BaseModel):
    """One experiment of one country (`countries[].experiments` in config/<env>.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="the salt of the assignment: a new name re-draws every user's arm")
    arms: dict[Arm, Annotated[float, Field(gt=0, le=1)]]
    start: date
    end: date
    # The smallest relative lift of hits per exposed user the experiment must detect, and the error rates the
    # fixed-horizon decision holds (evaluation's online decision computes the users per arm from them).
    minimum_detectable_effect: Annotated[float, Field(gt=0, le=10)] = 0.05
    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.05
    power: Annotated[float, Field(gt=0.5, lt=1)] = 0.8
    # An exposed item the user views or purchases within this many hours after its exposure is a hit (the
    # report's online outcome, evaluation/sql/online_outcome.sql).
    hit_window_hours: Annotated[int, Field(ge=1, le=168)] = 24

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError(
                f"{value!r}: use lower-case letters, digits and '-' (at most 63), starting with a letter or digit"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        if len(self.arms) < 2:
            raise ValueError(f"experiment {self.name}: at least two arms are needed, got {sorted(self.arms)}")
        if abs(sum(self.arms.values()) - 1) > 1e-9:
            raise ValueError(f"experiment {self.name}: arm weights must sum to 1, got {sum(self.arms.values())}")
        if self.end <= self.start:
            raise ValueError(f"experiment {self.name}: end {self.end} must be after start {self.start}")
        return self

    def running_on(self, day: date) -> bool:
        return self.start <= day < self.end

    def fingerprint(self) -> str:
        """What may not change while the experiment runs under this name: its arms, weights and start."""
        arms = ",".join(f"{arm.value}={self.arms[arm]!r}" for arm in ARM_ORDER if arm in self.arms)
        return hashlib.sha256(f"{arms};{self.start.isoformat()}".encode()).hexdigest()


def one_at_a_time(experiments: tuple[Experiment, ...]) -> tuple[Experiment, ...]:
    """A country's experiments, refused when two run on the same day (a user would be in two arms at once)."""
    ordered = sorted(experiments, key=lambda e: e.start)
    for earlier, later in zip(ordered, ordered[1:], strict=False):
        if later.start < earlier.end:
            raise ValueError(
                f"experiments {earlier.name} ({earlier.start} to {earlier.end}) and {later.name} (from "
                f"{later.start}) overlap: at most one experiment runs in a country on any day"
            )
    return experiments


def unique_names(experiments_by_country: Iterable[tuple[str, tuple[Experiment, ...]]]) -> None:
    """Refuse a name used twice in an env: the name is the assignment's salt and the exposure log's key."""
    seen: dict[str, str] = {}
    for code, experiments in experiments_by_country:
        for experiment in experiments:
            if experiment.name in seen:
                where = sorted({seen[experiment.name], code})
                raise ValueError(
                    f"experiment name {experiment.name} is used more than once ({', '.join(where)}): experiment "
                    "names are unique per env"
                )
            seen[experiment.name] = code


def unit_position(experiment: str, unit: str) -> float:
    """The unit's place in [0, 1) for this experiment: the first 8 bytes of sha256("<experiment>:<unit>")."""
    digest = hashlib.sha256(f"{experiment}:{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _HASH_SPACE


def assign(experiment: Experiment, unit: str) -> Arm:
    """The arm of `unit` (user id, or session id of an anonymous visitor): sticky, reproducible offline."""
    position, edge = unit_position(experiment.name, unit), 0.0
    arms = [arm for arm in ARM_ORDER if arm in experiment.arms]
    for arm in arms:
        edge += experiment.arms[arm]
        if position < edge:
            return arm
    return arms[-1]  # the weights' float sum may end a hair below 1


class Exposure(BaseModel):
    """One served response of an experiment, as the API logs it (one JSON object per line in the exposure log)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: str
    experiment: str
    arm: Arm
    user_id: str
    recommendation_id: str
    items: tuple[str, ...]
    source: str  # serving.read_model.Source value of the list served
    served_at: int  # epoch milliseconds

    def line(self) -> dict[str, Any]:
        return {EXPOSURE_KEY: self.model_dump(mode="json")}
