"""Classify AWS errors and turn the transient ones into exceptions Step Functions can retry by name.

A Lambda's uncaught exception reaches the state machine as ``Error = <class name>``, so the ASL retries
``PersonalizeThrottled`` with short backoff and ``PersonalizeLimitExceeded`` with long backoff, and lets
everything else fail the step with its message. Keeping the names here (and in ``TRANSIENT_ERROR_NAMES``)
gives the ASL and its tests one place to agree on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError

# Codes AWS services use for request-rate throttling. botocore's standard retry mode knows the same list
# but also counts LimitExceededException, which for Personalize is a quota on running jobs (5 imports per
# region): retrying it within seconds is pointless, so it has its own class below.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "RequestThrottled",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
LIMIT_EXCEEDED_CODES = frozenset({"LimitExceededException"})
NOT_FOUND_CODES = frozenset({"ResourceNotFoundException"})
ALREADY_EXISTS_CODES = frozenset({"ResourceAlreadyExistsException"})
IN_USE_CODES = frozenset({"ResourceInUseException"})


class PersonalizeTransientError(Exception):
    """Base of the conditions that clear by themselves: the state machine retries them, never fails."""


class PersonalizeThrottled(PersonalizeTransientError):
    """The API throttled us (after boto3's own retries): retry in seconds, with backoff and jitter."""


class PersonalizeLimitExceeded(PersonalizeTransientError):
    """A region quota is full (e.g. 5 running import jobs, other countries included): retry in minutes."""


class PersonalizeResourceInUse(PersonalizeTransientError):
    """The resource is busy (e.g. a campaign update already running, a parent not ACTIVE yet): retry later."""


TRANSIENT_ERROR_NAMES = (
    PersonalizeThrottled.__name__,
    PersonalizeLimitExceeded.__name__,
    PersonalizeResourceInUse.__name__,
)


def error_code(error: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError (None for anything else)."""
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code")
    return None


def error_message(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Message") or str(error)
    return str(error)


def is_throttling(error: BaseException) -> bool:
    return isinstance(error, PersonalizeThrottled) or error_code(error) in THROTTLING_CODES


def is_limit_exceeded(error: BaseException) -> bool:
    return isinstance(error, PersonalizeLimitExceeded) or error_code(error) in LIMIT_EXCEEDED_CODES


def is_not_found(error: BaseException) -> bool:
    return error_code(error) in NOT_FOUND_CODES


def is_already_exists(error: BaseException) -> bool:
    return error_code(error) in ALREADY_EXISTS_CODES


def is_in_use(error: BaseException) -> bool:
    return isinstance(error, PersonalizeResourceInUse) or error_code(error) in IN_USE_CODES


def is_transient(error: BaseException) -> bool:
    return is_throttling(error) or is_limit_exceeded(error) or isinstance(error, PersonalizeTransientError)


def as_transient(error: BaseException) -> PersonalizeTransientError | None:
    """The named transient exception for ``error``, or None when it is not transient.

    ResourceInUseException is deliberately not mapped here: on a create it usually means another run got
    there first, which the describe-or-create helper resolves by describing again. Callers that know the
    busy case is transient raise PersonalizeResourceInUse themselves.
    """
    if isinstance(error, PersonalizeTransientError):
        return error
    operation = getattr(error, "operation_name", None) or "AWS call"
    if is_throttling(error):
        return PersonalizeThrottled(f"{operation} throttled ({error_code(error)}): {error_message(error)}")
    if is_limit_exceeded(error):
        return PersonalizeLimitExceeded(f"{operation} hit a quota: {error_message(error)}")
    return None


@contextmanager
def transient_errors_named() -> Iterator[None]:
    """Re-raise throttling and quota ClientErrors as the named exceptions; leave every other error alone."""
    try:
        yield
    except ClientError as error:
        transient = as_transient(error)
        if transient is None:
            raise
        raise transient from error
