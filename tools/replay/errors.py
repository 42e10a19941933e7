"""Every problem the tool reports: one line on stderr and an exit code (AWS CLI habit: non-zero = failed).

0 ok; 1 an operation failed (AWS error, a run that ended unsuccessfully while we waited);
2 bad arguments or set-up (usage, unknown env/country, bad date, missing credentials or region);
3 not found or refused (unknown run, nothing to redrive, declined confirmation).
"""

from __future__ import annotations

OK, FAILED, USAGE, REFUSED = 0, 1, 2, 3


class ReplayError(Exception):
    code = FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(ReplayError):
    code = USAGE


class NotFound(ReplayError):
    code = REFUSED


class Refused(ReplayError):
    code = REFUSED


class OperationFailed(ReplayError):
    code = FAILED
