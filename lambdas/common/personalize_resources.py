"""One describe-or-create helper for every Personalize resource the pipeline makes.

Every step is safe to repeat because (1) names are deterministic per (env, country, run date, step),
(2) ``ensure`` describes before it creates, and (3) a create that loses a race with another run describes
again instead of failing. The per-kind differences (operation names, parameter and response keys) live in
the ``KINDS`` table, not in copies of this logic.

Statuses are reduced to four phases so the state machine's Choice states never match Personalize strings.

The client is any boto3-style Personalize client passed in: nothing here talks to AWS at import time.

One idea: describe-or-create a Personalize resource so that a repeated step never creates it twice. Each part
serves that guarantee: the deterministic names it describes and creates under (the steps take their resource names
from here too), the kinds table that says which operations and keys to use, the phases the poll steps read, and
the campaign case (create, or update to a version at most once).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from common.aws_errors import (
    PersonalizeResourceInUse,
    as_transient,
    error_message,
    is_already_exists,
    is_in_use,
    is_not_found,
    transient_errors_named,
)

# ---------------------------------------------------------------------------------------------- names

# The botocore model's Name shape (all Personalize resource names): min 1, max 63, this pattern.
NAME_MAX_LENGTH = 63
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*$")
_NOT_NAME_CHARS = re.compile(r"[^a-z0-9]+")
_HASH_LENGTH = 8


def _slug(part: object) -> str:
    slug = _NOT_NAME_CHARS.sub("-", str(part).strip().lower()).strip("-")
    if not slug:
        raise ValueError(f"name part {part!r} has no letters or digits")
    return slug


def validate_name(name: str) -> str:
    """Return ``name`` if Personalize accepts it, else raise ValueError saying why."""
    if not 1 <= len(name) <= NAME_MAX_LENGTH:
        raise ValueError(f"Personalize name {name!r} is {len(name)} characters; allowed 1-{NAME_MAX_LENGTH}")
    if not NAME_PATTERN.match(name):
        raise ValueError(f"Personalize name {name!r} must match {NAME_PATTERN.pattern}")
    return name


def fit_name(name: str) -> str:
    """Shorten an over-long name deterministically: keep a prefix, append a hash of the whole name.

    Plain truncation could make two long names collide (same prefix, different tail); the hash keeps
    them apart and the prefix keeps them readable in the console.
    """
    if len(name) <= NAME_MAX_LENGTH:
        return validate_name(name)
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH_LENGTH]
    prefix = name[: NAME_MAX_LENGTH - _HASH_LENGTH - 1].rstrip("-_")
    return validate_name(f"{prefix}-{digest}")


def build_name(*parts: object) -> str:
    return fit_name("-".join(_slug(part) for part in parts))


def _run_date_part(run_date: date | str) -> str:
    if isinstance(run_date, datetime):
        raise ValueError("run_date must be a date, not a datetime (the pipeline runs once per day)")
    if isinstance(run_date, str):
        try:
            run_date = date.fromisoformat(run_date)
        except ValueError as error:
            raise ValueError(f"run_date {run_date!r} is not an ISO date (YYYY-MM-DD)") from error
    return run_date.strftime("%Y%m%d")


def resource_name(env: str, country: str, run_date: date | str, step: str) -> str:
    """Name of a per-run resource (import job, solution version, batch job): ``dev-de-20261115-upv2``."""
    return build_name(env, country, _run_date_part(run_date), step)


def stable_name(env: str, country: str, purpose: str) -> str:
    """Name of a long-lived resource reused every run (solution, campaign, filter): ``dev-de-upv2``."""
    return build_name(env, country, purpose)


def attempt_name(name: str, attempt: int) -> str:
    """Name of the n-th attempt at a run's resource. Attempt 1 is the plain name.

    A failed job's name cannot be reused (import and batch jobs cannot be deleted), so a replay that must redo
    a failed step ensures the next attempt's name (``pipeline.jobs.ensure_job`` walks them).
    """
    if attempt < 1:
        raise ValueError("attempts count from 1")
    return name if attempt == 1 else fit_name(f"{name}-r{attempt}")


# ----------------------------------------------------------------------------------------------- kinds


@dataclass(frozen=True)
class ResourceKind:
    kind: str
    name_param: str  # create parameter carrying the name
    parent_param: str  # create parameter whose ARN carries partition/region/account
    describe_op: str
    arn_param: str  # describe parameter == create response key for every Personalize kind
    describe_key: str  # response key holding the description
    create_op: str
    # None when the ARN is not derivable from the name (solution versions): those are found by listing.
    arn_resource_type: str | None

    @property
    def deterministic_arn(self) -> bool:
        return self.arn_resource_type is not None


KINDS: dict[str, ResourceKind] = {
    spec.kind: spec
    for spec in (
        ResourceKind(
            "dataset-import-job", "jobName", "datasetArn", "describe_dataset_import_job",
            "datasetImportJobArn", "datasetImportJob", "create_dataset_import_job", "dataset-import-job",
        ),
        ResourceKind(
            "solution", "name", "datasetGroupArn", "describe_solution",
            "solutionArn", "solution", "create_solution", "solution",
        ),
        ResourceKind(
            "solution-version", "name", "solutionArn", "describe_solution_version",
            "solutionVersionArn", "solutionVersion", "create_solution_version", None,
        ),
        ResourceKind(
            "campaign", "name", "solutionVersionArn", "describe_campaign",
            "campaignArn", "campaign", "create_campaign", "campaign",
        ),
        ResourceKind(
            "batch-inference-job", "jobName", "solutionVersionArn", "describe_batch_inference_job",
            "batchInferenceJobArn", "batchInferenceJob", "create_batch_inference_job", "batch-inference-job",
        ),
        ResourceKind(
            "filter", "name", "datasetGroupArn", "describe_filter",
            "filterArn", "filter", "create_filter", "filter",
        ),
    )
}  # fmt: skip

_ARN = re.compile(r"^arn:(?P<partition>[a-z\d-]+):personalize:(?P<region>[^:]*):(?P<account>[^:]*):.+$")


def kind_spec(kind: str | ResourceKind) -> ResourceKind:
    if isinstance(kind, ResourceKind):
        return kind
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown Personalize resource kind {kind!r}; known: {sorted(KINDS)}") from None


def arn_for(kind: str | ResourceKind, name: str, *, like: str) -> str:
    """The ARN Personalize gives resource ``name`` of ``kind``, in the partition/region/account of ``like``.

    ``like`` is any Personalize ARN from the same account and region, normally the create call's parent
    (dataset, dataset group, solution version), so no account id has to be configured anywhere.
    """
    spec = kind_spec(kind)
    if not spec.deterministic_arn:
        raise ValueError(f"{spec.kind} ARNs are not derived from names; use find_solution_version")
    match = _ARN.match(like)
    if not match:
        raise ValueError(f"{like!r} is not a Personalize ARN")
    return (
        f"arn:{match['partition']}:personalize:{match['region']}:{match['account']}:"
        f"{spec.arn_resource_type}/{validate_name(name)}"
    )


# --------------------------------------------------------------------------------------------- status


class Phase(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @property
    def done(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED)


# Batch inference jobs are documented with PENDING / IN PROGRESS, the other kinds with CREATE PENDING /
# CREATE IN_PROGRESS: accept both spellings. STOPPING/STOPPED and DELETE* never become ACTIVE, so waiting
# on them only burns the step's timeout: they count as failed at once.
_PHASES: dict[str, Phase] = {
    "CREATE PENDING": Phase.PENDING,
    "PENDING": Phase.PENDING,
    "UPDATE PENDING": Phase.PENDING,
    "CREATE IN_PROGRESS": Phase.RUNNING,
    "CREATE IN PROGRESS": Phase.RUNNING,
    "IN PROGRESS": Phase.RUNNING,
    "IN_PROGRESS": Phase.RUNNING,
    "UPDATE IN_PROGRESS": Phase.RUNNING,
    "ACTIVE": Phase.SUCCEEDED,
    "CREATE FAILED": Phase.FAILED,
    "UPDATE FAILED": Phase.FAILED,
    "CREATE STOPPING": Phase.FAILED,
    "CREATE STOPPED": Phase.FAILED,
    "DELETE PENDING": Phase.FAILED,
    "DELETE IN_PROGRESS": Phase.FAILED,
}


class UnknownStatus(ValueError):
    """Personalize reported a status this module does not know: fail loudly rather than poll until timeout."""


@dataclass(frozen=True)
class Status:
    phase: Phase
    raw: str
    failure_reason: str | None = None


def normalise_status(raw: str | None, failure_reason: str | None = None) -> Status:
    key = " ".join((raw or "").upper().split())
    try:
        phase = _PHASES[key]
    except KeyError:
        raise UnknownStatus(f"unknown Personalize status {raw!r}") from None
    if phase is Phase.FAILED and not failure_reason:
        # A stop or delete carries no failureReason; the run record must still say why it failed.
        failure_reason = f"resource is {key}" if key != "CREATE FAILED" else "CREATE FAILED without a reason"
    return Status(phase, key, failure_reason if phase is Phase.FAILED else None)


def status_of(kind: str | ResourceKind, description: dict[str, Any], target: str | None = None) -> Status:
    """Status of a described resource; campaigns follow their latest update (see ``campaign_status``)."""
    if kind_spec(kind).kind == "campaign":
        return campaign_status(description, target)
    return normalise_status(description.get("status"), description.get("failureReason"))


def campaign_status(description: dict[str, Any], target_solution_version_arn: str | None = None) -> Status:
    """Status of a campaign, following its latest update.

    ``update_campaign`` leaves ``status`` ACTIVE (the old version keeps serving) and reports progress in
    ``latestCampaignUpdate``. With a target, SUCCEEDED means "serving the target"; a campaign serving
    something else with no update to the target under way is FAILED, because waiting would never help.
    """
    update = description.get("latestCampaignUpdate")
    if update and target_solution_version_arn in (None, update.get("solutionVersionArn")):
        return normalise_status(update.get("status"), update.get("failureReason"))
    own = normalise_status(description.get("status"), description.get("failureReason"))
    serving = description.get("solutionVersionArn")
    target = target_solution_version_arn
    if target and serving != target and own.phase is not Phase.FAILED:
        return Status(
            Phase.FAILED,
            "NOT_DEPLOYED",
            f"campaign serves {serving}, not {target}, and no update to it is running",
        )
    return own


# ------------------------------------------------------------------------------------------------ ensure


@dataclass(frozen=True)
class EnsureResult:
    kind: str
    name: str
    arn: str
    status: Status
    created: bool
    description: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def phase(self) -> Phase:
        return self.status.phase

    @property
    def failure_reason(self) -> str | None:
        return self.status.failure_reason


_CREATED = Status(Phase.PENDING, "CREATE PENDING")


def describe(client: Any, kind: str | ResourceKind, arn: str) -> dict[str, Any] | None:
    """The resource's description, or None if it does not exist. Throttling surfaces as the named error."""
    spec = kind_spec(kind)
    with transient_errors_named():
        try:
            response = getattr(client, spec.describe_op)(**{spec.arn_param: arn})
        except ClientError as error:
            if is_not_found(error):
                return None
            raise
    return response[spec.describe_key]


def current(
    client: Any, kind: str | ResourceKind, arn: str, *, target_solution_version_arn: str | None = None
) -> EnsureResult:
    """Describe a resource the run already created (the poll step). A missing resource is an error here."""
    spec = kind_spec(kind)
    description = describe(client, spec, arn)
    if description is None:
        raise LookupError(f"{spec.kind} {arn} does not exist")
    return _result(spec, description, arn, created=False, target=target_solution_version_arn)


def _result(
    spec: ResourceKind, description: dict[str, Any], arn: str, *, created: bool, target: str | None = None
) -> EnsureResult:
    status = status_of(spec, description, target)
    name = description.get(spec.name_param) or description.get("name") or ""
    return EnsureResult(spec.kind, name, arn, status, created, description)


def list_all(client: Any, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every summary a Personalize List* operation returns (`key` of each page), all pages of 100."""
    method = getattr(client, operation)
    summaries: list[dict[str, Any]] = []
    params = {"maxResults": 100, **params}
    with transient_errors_named():
        while True:
            page = method(**params)
            summaries.extend(page.get(key, []))
            if not page.get("nextToken"):
                return summaries
            params["nextToken"] = page["nextToken"]


def find_solution_version(
    client: Any,
    solution_arn: str,
    name: str,
    *,
    not_before: datetime | None = None,
    max_describes: int = 25,
) -> dict[str, Any] | None:
    """Find a solution version by name: list the solution's versions, describe candidates newest first.

    Version ARNs end in a random id and list summaries carry no name, so a name lookup costs one
    describe per candidate. Candidates are bounded three ways: versions trained automatically
    (trainingType AUTOMATIC) are skipped since the pipeline never names them; versions created before
    ``not_before`` are skipped (pass the run date's start minus a day: a version named for that run cannot
    be older); and at most ``max_describes`` are described. All list pages are read because the API does
    not document an order (pages are cheap: 100 summaries each).
    """
    try:
        summaries = list_all(client, "list_solution_versions", "solutionVersions", solutionArn=solution_arn)
    except ClientError as error:
        if is_not_found(error):
            return None
        raise
    candidates = [
        summary
        for summary in summaries
        if summary.get("trainingType") != "AUTOMATIC"
        and (not_before is None or summary.get("creationDateTime", not_before) >= not_before)
    ]
    candidates.sort(key=lambda summary: summary.get("creationDateTime") or datetime.min, reverse=True)
    for summary in candidates[:max_describes]:
        description = describe(client, "solution-version", summary["solutionVersionArn"])
        if description is not None and description.get("name") == name:
            return description
    return None


def ensure(
    client: Any,
    kind: str | ResourceKind,
    *,
    name: str,
    create_args: dict[str, Any],
    not_before: datetime | None = None,
) -> EnsureResult:
    """Describe the resource called ``name``; create it with ``create_args`` only if it does not exist.

    - ``create_args`` are the create call's keyword arguments; the name parameter is filled in from ``name``.
    - ``arn`` overrides the derived ARN (only meaningful without ``replace_failed``).
    - A create that races with another run (ResourceAlreadyExists/ResourceInUse) describes again and returns
      what the other run made; ResourceInUse with nothing to describe (e.g. the parent is not ACTIVE yet)
      raises PersonalizeResourceInUse. Throttling and quotas raise PersonalizeThrottled /
      PersonalizeLimitExceeded for the state machine to retry.
    - A failed resource is returned as it is (phase FAILED); to redo it, ensure the next ``attempt_name``.
    - ``not_before`` bounds the solution-version lookup (see ``find_solution_version``).
    """
    spec = kind_spec(kind)
    validate_name(name)
    given = create_args.get(spec.name_param)
    if given is not None and given != name:
        raise ValueError(f"create_args[{spec.name_param!r}]={given!r} contradicts name={name!r}")
    if spec.parent_param not in create_args:
        raise ValueError(f"create_args for {spec.kind} need {spec.parent_param!r}")
    args = {**create_args, spec.name_param: name}
    if spec.deterministic_arn:
        return _ensure_named(client, spec, name, args, arn_for(spec, name, like=args[spec.parent_param]))
    return _ensure_solution_version(client, spec, name, args, not_before)


def _create(client: Any, spec: ResourceKind, args: dict[str, Any]) -> tuple[str | None, ClientError | None]:
    """Call create; return (arn, None), or (None, error) when another run raced us. Other errors raise."""
    try:
        response = getattr(client, spec.create_op)(**args)
    except ClientError as error:
        if is_already_exists(error) or is_in_use(error):
            return None, error
        transient = as_transient(error)
        if transient is not None:
            raise transient from error
        raise
    return response[spec.arn_param], None


def _raced_but_missing(spec: ResourceKind, name: str, error: ClientError) -> Exception:
    if is_in_use(error):
        return PersonalizeResourceInUse(f"{spec.create_op} {name}: {error_message(error)}")
    # Exists but cannot be described yet: eventual consistency right after another run's create.
    return PersonalizeResourceInUse(f"{spec.kind} {name} exists but is not visible: {error_message(error)}")


def _ensure_named(client: Any, spec: ResourceKind, name: str, args: dict[str, Any], arn: str) -> EnsureResult:
    description = describe(client, spec, arn)
    if description is not None:
        return _result(spec, description, arn, created=False)
    created_arn, race = _create(client, spec, args)
    if created_arn is not None:
        return EnsureResult(spec.kind, name, created_arn, _CREATED, created=True)
    description = describe(client, spec, arn)
    if description is None:
        raise _raced_but_missing(spec, name, race) from race
    return _result(spec, description, arn, created=False)


def _ensure_solution_version(
    client: Any, spec: ResourceKind, name: str, args: dict[str, Any], not_before: datetime | None
) -> EnsureResult:
    solution_arn = args[spec.parent_param]
    description = find_solution_version(client, solution_arn, name, not_before=not_before)
    if description is not None:
        return _result(spec, description, description["solutionVersionArn"], created=False)
    created_arn, race = _create(client, spec, args)
    if created_arn is not None:
        return EnsureResult(spec.kind, name, created_arn, _CREATED, created=True)
    description = find_solution_version(client, solution_arn, name, not_before=not_before)
    if description is None:
        raise _raced_but_missing(spec, name, race) from race
    return _result(spec, description, description["solutionVersionArn"], created=False)


# ------------------------------------------------------------------------------------------ campaigns


def ensure_campaign_serves(
    client: Any, *, name: str, solution_version_arn: str, create_args: dict[str, Any] | None = None
) -> EnsureResult:
    """Create the campaign on ``solution_version_arn``, or update it to that version, at most once per need.

    Describes first: a campaign already serving the version, or already updating to it, is returned as
    is, so a replayed promote step never issues a second update. An update is issued only when the
    campaign serves another version, its update to this version failed, or its creation failed (a replay
    redoing the step). The result's status follows the update, so the poll step waits for SUCCEEDED.
    """
    args = {**(create_args or {}), "solutionVersionArn": solution_version_arn}
    result = ensure(client, "campaign", name=name, create_args=args)
    if result.created:
        return result
    status = campaign_status(result.description, solution_version_arn)
    if status.phase is not Phase.FAILED:
        return EnsureResult(result.kind, result.name, result.arn, status, False, result.description)
    if result.description.get("status") not in ("ACTIVE", "CREATE FAILED"):
        # Personalize updates only ACTIVE or CREATE FAILED campaigns; anything else is still settling.
        state = result.description.get("status")
        raise PersonalizeResourceInUse(f"campaign {name} is {state}; cannot update it yet")
    update = {key: value for key, value in args.items() if key in ("minProvisionedTPS", "campaignConfig")}
    with transient_errors_named():
        try:
            client.update_campaign(campaignArn=result.arn, solutionVersionArn=solution_version_arn, **update)
        except ClientError as error:
            if is_in_use(error):
                # Typically another update is still running; it settles by itself.
                raise PersonalizeResourceInUse(f"update_campaign {name}: {error_message(error)}") from error
            raise
    return EnsureResult("campaign", result.name, result.arn, _CREATED, True, result.description)
