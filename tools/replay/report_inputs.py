"""`personalize-runs report-inputs`: one run's Personalize batch output, downloaded for `make report RESULTS=DIR`.

The deployed comparison page scores the batch job of the country's per-user recipe (user-personalization v1 or
v2, common.recipes.user_list_recipe), written under s3://<results bucket>/<CC>/<run_date>/<recipe>/ (the batch
step's output path). `make report` with RAW holding the same exports and RESULTS=DIR then gives the page its
Personalize column, scored like the deployed one (evaluation.report_local reads `*.out` under DIR recursively).
Every object is written under DIR/<recipe>/ with its name; a file already there is never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from common.recipes import Recipe, user_list_recipe
from stacks.names import bucket_name
from tools.replay.env import Env
from tools.replay.errors import NotFound, UsageError

RESULTS = "results"


@dataclass(frozen=True)
class Download:
    bucket: str
    prefix: str
    recipe: Recipe
    files: list[Path]
    bytes: int

    def summary(self) -> dict[str, Any]:
        return {
            "source": f"s3://{self.bucket}/{self.prefix}",
            "recipe": self.recipe.value,
            "files": [str(f) for f in self.files],
            "bytes": self.bytes,
        }


def results_bucket(env: Env, account: str, region: str) -> str:
    """The env's results bucket as deployed in that account and region."""
    return bucket_name(env.config, RESULTS, account, region)


def batch_prefix(env: Env, country: str, run_date: date) -> tuple[str, Recipe]:
    """The batch output folder the deployed page reads, and its recipe; a country without one is refused."""
    code = env.country(country)
    recipe = user_list_recipe(env.config.country(code).recipes)
    if recipe is None:
        raise UsageError(
            f"country {code} of env {env.name} has no per-user recipe (user-personalization v1 or v2): its page has "
            "no Personalize column to reproduce"
        )
    return f"{code}/{run_date.isoformat()}/{recipe.value}/", recipe


def download(s3: Any, bucket: str, prefix: str, recipe: Recipe, out: Path) -> Download:
    """Every object under `prefix` into out/<recipe>/; refuses before writing anything if one would be replaced."""
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
        if not item["Key"].endswith("/")
    ]
    if not keys:
        raise NotFound(f"no batch output under s3://{bucket}/{prefix}: did the run's batch step run for this date?")
    folder = out / recipe.value
    targets = {key: folder / key[len(prefix) :] for key in keys}
    if clashes := sorted(str(path) for path in targets.values() if path.exists()):
        raise UsageError(f"{clashes[0]} already exists: pass an empty --out folder (nothing was downloaded)")
    size = 0
    for key, path in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        with partial.open("wb") as sink:
            for chunk in s3.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(1 << 20):
                sink.write(chunk)
        partial.rename(path)  # a broken download leaves a .part file, never a truncated *.out
        size += path.stat().st_size
    return Download(bucket=bucket, prefix=prefix, recipe=recipe, files=sorted(targets.values()), bytes=size)
