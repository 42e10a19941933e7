"""Memory and /tmp of the pipeline steps that hold data, computed from the size of a country's prepared data.

What each step holds (lambdas/pipeline/steps/):
- report: downloads the run's prepared CSVs (interactions, users, items) and the user-personalization batch
  output to /tmp, then loads both into memory (evaluation.data: index arrays, id maps, sparse matrices, one
  list per user). Both grow with the prepared data.
- prepare: assembles UNLOAD parts with a multipart upload; large parts are copied server side, so it holds at
  most two S3 parts (`dataprep.s3_outputs.MIN_PART`, 5 MiB) at once and writes nothing to /tmp. Its size
  does not depend on the data.
- every other step describes or creates Personalize jobs and holds only the run state.

The report figures were measured with `evaluation.run.report_from_prepared` on `make sample-data` output
(KR, 183 days, 3,000 items; 23 MB and 91 MB of prepared CSVs, each with an all-users batch output of 25
items per user, what the full-training day produces): peak RSS 289 MB and 671 MB, i.e. ~160 MB of runtime
and catalogue plus 5.6 MB per MB of prepared CSV; the batch output was 0.66x the prepared CSVs on disk.

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

# Measured (see above), rounded up.
REPORT_BASE_MEMORY_MB = 192
REPORT_MEMORY_PER_PREPARED_MB = 6.0
REPORT_DISK_PER_PREPARED_MB = 1.7  # the CSVs themselves + the batch output (0.66x) + the page
REPORT_DISK_SLACK_MB = 64

# prepare: two 5 MiB parts in flight, a small file (< 5 MiB) assembled in memory, boto3 and the run state.
PREPARE_MEMORY_MB = 512
# Steps that hold no data.
DEFAULT_MEMORY_MB = 512

FARGATE_HINT = "move the report step to Fargate (README, Known limits) or shorten data.window_days"


class ExceedsLambdaLimit(ValueError):
    """A step would need more than Lambda offers; the message says how much, the limit and what to do."""


@dataclass(frozen=True)
class StepSize:
    memory_mb: int
    ephemeral_storage_mb: int = LAMBDA_MIN_EPHEMERAL_MB


def _round_up(value: float, step: int = 64) -> int:
    # Whole 64 MB steps: a small change of the estimate does not change the template.
    return int(math.ceil(value / step) * step)


def report_step(expected_prepared_gb: float) -> StepSize:
    """Memory and /tmp of the report step for a country whose prepared CSVs total `expected_prepared_gb`."""
    prepared_mb = expected_prepared_gb * 1024
    memory = max(_round_up(REPORT_BASE_MEMORY_MB + REPORT_MEMORY_PER_PREPARED_MB * prepared_mb), LAMBDA_MIN_MEMORY_MB)
    disk = max(_round_up(REPORT_DISK_PER_PREPARED_MB * prepared_mb + REPORT_DISK_SLACK_MB), LAMBDA_MIN_EPHEMERAL_MB)
    for what, needed, limit in (
        ("memory", memory, LAMBDA_MAX_MEMORY_MB),
        ("ephemeral storage (/tmp)", disk, LAMBDA_MAX_EPHEMERAL_MB),
    ):
        if needed > limit:
            raise ExceedsLambdaLimit(
                f"{expected_prepared_gb:g} GB of prepared data needs {needed:,} MB of {what} in the report step, "
                f"above Lambda's {limit:,} MB maximum (at most {max_report_prepared_gb():.2f} GB fits); {FARGATE_HINT}"
            )
    return StepSize(memory_mb=memory, ephemeral_storage_mb=disk)


def max_report_prepared_gb() -> float:
    """The largest prepared data per country the report step can hold within Lambda's limits."""
    by_memory = (LAMBDA_MAX_MEMORY_MB - REPORT_BASE_MEMORY_MB) / REPORT_MEMORY_PER_PREPARED_MB
    by_disk = (LAMBDA_MAX_EPHEMERAL_MB - REPORT_DISK_SLACK_MB) / REPORT_DISK_PER_PREPARED_MB
    # Round down to what _round_up still admits.
    return math.floor(min(by_memory, by_disk) / 1024 * 100) / 100


def prepare_step() -> StepSize:
    return StepSize(memory_mb=PREPARE_MEMORY_MB)
