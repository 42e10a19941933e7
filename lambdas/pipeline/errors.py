"""Errors that end a pipeline execution. Step Functions shows the class name as the error and the message
(a JSON document naming the step and Personalize's failureReason) as the cause; the failure recorder
copies both into the ledger and the notification."""

from __future__ import annotations

import json
from typing import Any


class PipelineFailure(Exception):
    def __init__(self, step: str, reason: str, **detail: Any) -> None:
        self.step = step
        self.reason = reason
        self.detail = detail
        super().__init__(json.dumps({"step": step, "failure_reason": reason, **detail}, default=str))


class PersonalizeJobFailed(PipelineFailure):
    """A Personalize job ended CREATE FAILED (or stopped); `failure_reason` is Personalize's own."""


class PreparationFailed(PipelineFailure):
    """An Athena preparation query failed or was cancelled."""


class DataQualityFailed(PreparationFailed):
    """The raw data broke a `data.quality` threshold (a file not fully read, too many rows dropped, a missing
    day); the message names the file, the reason and the count."""


class ReportFailed(PipelineFailure):
    """An Athena query of the report step (evaluation/sql) failed or was cancelled."""


class StepTimedOut(PipelineFailure):
    """A step ran past its configured overall timeout."""


class InvalidRunInput(PipelineFailure):
    """The execution input does not describe a run (bad schedule input or a hand-started execution)."""


class LedgerRecordMalformed(PipelineFailure):
    """The date's run record has fields the code cannot decode; only a run started with force takes it over."""
