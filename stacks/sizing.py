"""Memory and /tmp of the pipeline steps that hold data, computed from the bounded input each one reads.

What each step holds (lambdas/pipeline/steps/):
- report: Athena computes the heavy parts (item neighbours, popularity, the evaluated users' lists and truth:
  lambdas/evaluation/sql/); the Lambda reads only those results, whose size is bounded by the number of
  evaluated users (a deterministic sample, `data.report_evaluated_users`), not by the country's data: 14.5 MB
  of results at 1 M interactions and 14.6 MB at 30 M for 20,000 users (bench/bench_report.py), i.e. ~0.75 KB of
  input per evaluated user, held in memory as Python lists (~20x) next to numpy/scipy. The open baseline adds its
  training history (report_history.sql): at most max(BASELINE_TRAINING_PAIRS, shown users x BASELINE_HISTORY_ITEMS)
  (user, item) pairs (evaluation.queries explains both bounds), measured at ~160 B per pair at its peak (the
  parsed JSON rows, the index arrays, the BM25-weighted copies implicit makes while fitting), sized at 200 B.
- prepare: assembles UNLOAD parts with a multipart upload; large parts are copied server side, so it holds at
  most two S3 parts (`dataprep.s3_outputs.MIN_PART`, 5 MiB) at once and writes nothing to /tmp. Its size
  does not depend on the data.
- every other step describes or creates Personalize jobs and holds only the run state.

Lambda's limits: the Lambda quotas page (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)
says "Function memory allocation: 128 MB to 10,240 MB, in 1-MB increments" (and "New AWS accounts have reduced
concurrency and memory quotas"); the EphemeralStorage API reference says /tmp "can be any whole number between
512 and 10,240 MB".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LAMBDA_MAX_MEMORY_MB = 10_240
LAMBDA_MIN_MEMORY_MB = 128
LAMBDA_MAX_EPHEMERAL_MB = 10_240
LAMBDA_MIN_EPHEMERAL_MB = 512

# Measured (see above), rounded up: runtime + numpy/scipy + the page, then per evaluated user (input x ~20 in
# Python objects, plus the baseline's factors).
REPORT_BASE_MEMORY_MB = 768
REPORT_MEMORY_PER_EVALUATED_USER_MB = 0.02
REPORT_DISK_PER_EVALUATED_USER_MB = 0.002  # the downloaded results (~0.75 KB per user) and the page, x2
REPORT_DISK_SLACK_MB = 64
DEFAULT_EVALUATED_USERS = 20_000  # = evaluation.queries.DEFAULT_MAX_EVALUATED_USERS (a test keeps them equal)
# The open baseline's history bounds (= evaluation.queries.DEFAULT_BASELINE_*: tests/evaluation keeps them equal);
# the heavy users shown beside the sample (ReportOptions.top_users' default) have their history read too.
BASELINE_HISTORY_ITEMS = 100
BASELINE_TRAINING_PAIRS = 2_000_000
REPORT_SHOWN_HEAVY_USERS = 10
REPORT_MEMORY_PER_HISTORY_PAIR_MB = 200 / 2**20
# Shown users' titles older than their newest BASELINE_HISTORY_ITEMS, kept out of their open-baseline lists
# (= evaluation.queries.DEFAULT_BASELINE_EXCLUDED_PAIRS): ids only, measured at ~134 B each at their peak (the parsed
# JSON strings, the lists, the per-user sets of indices), sized at 160 B.
BASELINE_EXCLUDED_PAIRS = 1_000_000
REPORT_MEMORY_PER_EXCLUDED_TITLE_MB = 160 / 2**20

# prepare: two 5 MiB parts in flight, a small file (< 5 MiB) assembled in memory, boto3 and the run state.
PREPARE_MEMORY_MB = 512
# Steps that hold no data.
DEFAULT_MEMORY_MB = 512

FARGATE_HINT = "lower data.report_evaluated_users (the report's deterministic user sample)"


class ExceedsLambdaLimit(ValueError):
    """A step would need more than Lambda offers; the message says how much, the limit and what to do."""


@dataclass(frozen=True)
class StepSize:
    memory_mb: int
    ephemeral_storage_mb: int = LAMBDA_MIN_EPHEMERAL_MB


def _round_up(value: float, step: int = 64) -> int:
    # Whole 64 MB steps: a small change of the estimate does not change the template.
    return int(math.ceil(value / step) * step)


def baseline_history_pairs(evaluated_users: int) -> int:
    """The most (user, item) pairs report_history can hold for this sample (its bound, evaluation.queries)."""
    return max(BASELINE_TRAINING_PAIRS, (evaluated_users + REPORT_SHOWN_HEAVY_USERS) * BASELINE_HISTORY_ITEMS)


def report_step(evaluated_users: int = DEFAULT_EVALUATED_USERS) -> StepSize:
    """Memory and /tmp of the report step for a country whose report evaluates `evaluated_users` users."""
    memory = max(
        _round_up(
            REPORT_BASE_MEMORY_MB
            + REPORT_MEMORY_PER_EVALUATED_USER_MB * evaluated_users
            + REPORT_MEMORY_PER_HISTORY_PAIR_MB * baseline_history_pairs(evaluated_users)
            + REPORT_MEMORY_PER_EXCLUDED_TITLE_MB * BASELINE_EXCLUDED_PAIRS
        ),
        LAMBDA_MIN_MEMORY_MB,
    )
    disk = max(
        _round_up(REPORT_DISK_PER_EVALUATED_USER_MB * evaluated_users + REPORT_DISK_SLACK_MB), LAMBDA_MIN_EPHEMERAL_MB
    )
    for what, needed, limit in (
        ("memory", memory, LAMBDA_MAX_MEMORY_MB),
        ("ephemeral storage (/tmp)", disk, LAMBDA_MAX_EPHEMERAL_MB),
    ):
        if needed > limit:
            raise ExceedsLambdaLimit(
                f"{evaluated_users:,} evaluated users need {needed:,} MB of {what} in the report step, above "
                f"Lambda's {limit:,} MB maximum (at most {max_report_evaluated_users():,} fit); {FARGATE_HINT}"
            )
    return StepSize(memory_mb=memory, ephemeral_storage_mb=disk)


def max_report_evaluated_users() -> int:
    """The most evaluated users the report step can hold within Lambda's limits."""
    # Past BASELINE_TRAINING_PAIRS / BASELINE_HISTORY_ITEMS users the shown users' history is the larger bound.
    per_user = REPORT_MEMORY_PER_EVALUATED_USER_MB + REPORT_MEMORY_PER_HISTORY_PAIR_MB * BASELINE_HISTORY_ITEMS
    heavy_users_history = REPORT_MEMORY_PER_HISTORY_PAIR_MB * REPORT_SHOWN_HEAVY_USERS * BASELINE_HISTORY_ITEMS
    fixed = REPORT_BASE_MEMORY_MB + heavy_users_history + REPORT_MEMORY_PER_EXCLUDED_TITLE_MB * BASELINE_EXCLUDED_PAIRS
    by_memory = (LAMBDA_MAX_MEMORY_MB - 64 - fixed) / per_user
    by_disk = (LAMBDA_MAX_EPHEMERAL_MB - 64 - REPORT_DISK_SLACK_MB) / REPORT_DISK_PER_EVALUATED_USER_MB
    return int(min(by_memory, by_disk) // 1000 * 1000)


def prepare_step() -> StepSize:
    return StepSize(memory_mb=PREPARE_MEMORY_MB)
