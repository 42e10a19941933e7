"""FakePersonalize: an in-memory Amazon Personalize that behaves like boto3's client, on a simulated clock.

moto has no Personalize jobs, and a botocore Stubber only replays what a test scripts, so it cannot show
that a replay reuses a running job. This fake keeps state instead:

- every call is validated against the real botocore service model (wrong names/shapes raise
  ParamValidationError as boto3 would; out-of-range values raise InvalidInputException as the service
  would) and every response is checked against the model's output shape;
- errors are real ``ClientError`` subclasses (``client.exceptions.ResourceNotFoundException`` ...) with
  the operation name, so code catching either style works;
- jobs move CREATE PENDING -> CREATE IN_PROGRESS -> ACTIVE (or CREATE FAILED) as the SimClock advances;
  states are computed from the clock on every read, so nothing needs a tick;
- region quotas (5 running imports, 5 batch jobs, 20 trainings) and per-kind name uniqueness hold;
- scripting hooks (``fail_job``, ``throttle``, ``limit_exceeded``, ``inject_error``, ``before_call``,
  ``set_metrics``, ``set_duration``, ``occupy_import_slots``) and a call log (``calls``, ``count``,
  ``create_calls``, ``duplicate_create_attempts``) let tests script trouble and assert on what was called.

Scripted throttling raises at once, i.e. as if boto3's own retries were already used up.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, NamedTuple

import botocore.session
from botocore import xform_name
from botocore.errorfactory import ClientExceptionsFactory
from botocore.exceptions import ClientError, ParamValidationError
from botocore.paginate import Paginator
from botocore.validate import validate_parameters

from testkit.fakes.clock import SimClock

MINUTE = 60.0
HOUR = 3600.0

# Seconds in CREATE IN_PROGRESS per kind (after ``pending_seconds`` in CREATE PENDING).
DEFAULT_DURATIONS: dict[str, float] = {
    "dataset-import-job": 20 * MINUTE,
    "solution": 1 * MINUTE,
    "solution-update": 1 * MINUTE,
    "solution-version": 2 * HOUR,
    "campaign": 10 * MINUTE,
    "campaign-update": 10 * MINUTE,
    "batch-inference-job": 1 * HOUR,
    "filter": 1 * MINUTE,
}

DEFAULT_METRICS: dict[str, float] = {
    "coverage": 0.30,
    "mean_reciprocal_rank_at_25": 0.12,
    "normalized_discounted_cumulative_gain_at_5": 0.10,
    "normalized_discounted_cumulative_gain_at_10": 0.13,
    "normalized_discounted_cumulative_gain_at_25": 0.18,
    "precision_at_5": 0.05,
    "precision_at_10": 0.04,
    "precision_at_25": 0.03,
}

# A training stopped while CREATE IN_PROGRESS stays CREATE STOPPING this long (the API reference gives no
# duration); one stopped while CREATE PENDING goes to CREATE STOPPED at once, as documented.
STOP_SECONDS = 5 * MINUTE

IMPORT_JOB_QUOTA = 5  # pending or running per region; not adjustable
BATCH_JOB_QUOTA = 5
TRAINING_QUOTA = 20
SOLUTIONS_PER_DATASET_GROUP = 10
CAMPAIGNS_PER_DATASET_GROUP = 5
FILTERS_PER_DATASET_GROUP = 30

# trainingMode UPDATE works only for these recipes.
UPDATE_RECIPES = frozenset({"aws-user-personalization", "aws-hrnn-coldstart"})
NO_BATCH_RECIPES = frozenset({"aws-trending-now"})
# The recipes the developer guide lists (their ARNs are arn:aws:personalize:::recipe/<name>): an unknown
# recipeArn is refused as the service does. Kept apart from common.recipes so the fake checks the table.
KNOWN_RECIPES = frozenset(
    {
        "aws-user-personalization-v2", "aws-user-personalization", "aws-trending-now", "aws-popularity-count",
        "aws-personalized-ranking-v2", "aws-personalized-ranking", "aws-semantic-similarity", "aws-similar-items",
        "aws-sims", "aws-next-best-action", "aws-item-affinity", "aws-item-attribute-affinity", "aws-hrnn-coldstart",
    }
)  # fmt: skip
# CampaignConfig/BatchInferenceJobConfig.itemExplorationConfig: "Provide itemExplorationConfig data only if your
# solution uses the User-Personalization recipe" (API reference).
EXPLORATION_RECIPES = frozenset({"aws-user-personalization"})
EXPLORATION_KEYS = frozenset({"explorationWeight", "explorationItemAgeCutOff"})
# Filter expressions (developer guide, "Filter expressions"): each chained part is
# INCLUDE|EXCLUDE ItemID|UserID WHERE <Dataset>.<FIELD> <op> ...; parts are joined with " | ".
_FILTER_PART = re.compile(
    r"^(INCLUDE|EXCLUDE) (ItemID|UserID) WHERE (Interactions|Items|Users)\.[A-Z_][A-Z0-9_]* "
    r"(IN|NOT IN|<|<=|>|>=|=) .+$"
)

# Which call creates each kind (the updates count as "creates" of their own kind for the call log).
CREATE_OPERATIONS: dict[str, str] = {
    "dataset-import-job": "create_dataset_import_job",
    "solution": "create_solution",
    "solution-update": "update_solution",
    "solution-version": "create_solution_version",
    "campaign": "create_campaign",
    "campaign-update": "update_campaign",
    "batch-inference-job": "create_batch_inference_job",
    "filter": "create_filter",
}

_SERVICE_MODEL = botocore.session.get_session().get_service_model("personalize")
_PAGINATORS = botocore.session.get_session().get_paginator_model("personalize")
_EXCEPTIONS = ClientExceptionsFactory().create_client_exceptions(_SERVICE_MODEL)
_SNAKE_TO_API = {xform_name(name): name for name in _SERVICE_MODEL.operation_names}


class Call(NamedTuple):
    operation: str  # boto3 method name, e.g. "create_solution"
    kwargs: dict[str, Any]
    outcome: str  # "ok", an error code, or "ParamValidationError"


def api_name(operation: str) -> str:
    """'create_solution' or 'CreateSolution' -> 'CreateSolution' (unknown names fail loudly)."""
    if operation in _SERVICE_MODEL.operation_names:
        return operation
    try:
        return _SNAKE_TO_API[operation]
    except KeyError:
        raise ValueError(f"{operation!r} is not a Personalize operation") from None


def _short_hex(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:8]


def _recipe_name(recipe_arn: str | None) -> str:
    return (recipe_arn or "").rsplit("/", 1)[-1]


@dataclass
class _Job:
    """Anything with a CREATE PENDING -> IN_PROGRESS -> ACTIVE|CREATE FAILED life (incl. updates)."""

    kind: str
    name: str
    arn: str
    created: datetime
    pending: float
    duration: float
    seq: int
    data: dict[str, Any] = field(default_factory=dict)
    failure_reason: str | None = None
    stop_requested: datetime | None = None  # StopSolutionVersionCreation
    stop_seconds: float = 0.0  # in CREATE STOPPING after the stop request

    @property
    def started(self) -> datetime:
        return self.created + timedelta(seconds=self.pending)

    @property
    def finished(self) -> datetime:
        return self.started + timedelta(seconds=self.duration)

    def phase(self, now: datetime) -> str:
        if self.stop_requested is not None and now >= self.stop_requested:
            return "stopping" if now < self.stop_requested + timedelta(seconds=self.stop_seconds) else "stopped"
        if now < self.started:
            return "pending"
        if now < self.finished:
            return "running"
        return "failed" if self.failure_reason else "active"

    def running(self, now: datetime) -> bool:
        return self.phase(now) in ("pending", "running", "stopping")

    def status(self, now: datetime) -> str:
        pending, running = (
            ("PENDING", "IN PROGRESS")  # as documented for batch inference jobs
            if self.kind == "batch-inference-job"
            else ("CREATE PENDING", "CREATE IN_PROGRESS")
        )
        return {
            "pending": pending,
            "running": running,
            "active": "ACTIVE",
            "failed": "CREATE FAILED",
            "stopping": "CREATE STOPPING",
            "stopped": "CREATE STOPPED",
        }[self.phase(now)]

    def last_updated(self, now: datetime) -> datetime:
        phase = self.phase(now)
        if phase in ("stopping", "stopped"):
            # A job is stopping or stopped only once a stop was requested (phase() reads stop_requested).
            assert self.stop_requested is not None
            if phase == "stopping":
                return self.stop_requested
            return self.stop_requested + timedelta(seconds=self.stop_seconds)
        return {"pending": self.created, "running": self.started}.get(phase, self.finished)

    def stamp(self, now: datetime) -> dict[str, Any]:
        """status, timestamps and failureReason as the service reports them at ``now``."""
        stamp: dict[str, Any] = {
            "status": self.status(now),
            "creationDateTime": self.created,
            "lastUpdatedDateTime": self.last_updated(now),
        }
        if self.phase(now) == "failed":
            stamp["failureReason"] = self.failure_reason
        return stamp


@dataclass
class _Rule:
    matcher: Callable[[str], bool]
    value: Any
    times: int | None  # None = unlimited


@dataclass
class _FailureRule:
    """fail_job's rule: the next `times` matching jobs fail with `reason`."""

    matcher: Callable[[str], bool]
    reason: str
    times: int


@dataclass
class SeededDatasetGroup:
    name: str
    dataset_group_arn: str
    dataset_arns: dict[str, str]
    event_tracker_arn: str | None
    tracking_id: str | None


class FakePersonalize:
    """Use as ``client = FakePersonalize(clock)`` wherever a boto3 Personalize client is expected."""

    def __init__(
        self,
        clock: SimClock,
        *,
        region: str = "eu-west-1",
        account: str = "123456789012",
        durations: dict[str, float] | None = None,
        pending_seconds: float = 1 * MINUTE,
        default_metrics: dict[str, float] | None = None,
    ) -> None:
        unknown = set(durations or {}) - set(DEFAULT_DURATIONS)
        if unknown:
            raise ValueError(f"unknown kinds in durations: {sorted(unknown)}")
        self.clock = clock
        self.region = region
        self.account = account
        self.durations = {**DEFAULT_DURATIONS, **(durations or {})}
        self.pending_seconds = pending_seconds
        self.default_metrics = dict(default_metrics or DEFAULT_METRICS)
        self.calls: list[Call] = []
        self.exceptions = _EXCEPTIONS
        self.meta = SimpleNamespace(region_name=region, service_model=_SERVICE_MODEL, partition="aws")

        self._seq = 0
        self._jobs: dict[str, dict[str, _Job]] = {
            kind: {} for kind in DEFAULT_DURATIONS
        }  # kind -> arn -> job
        self._dataset_groups: dict[str, dict[str, Any]] = {}
        self._datasets: dict[str, dict[str, Any]] = {}
        self._event_trackers: dict[str, dict[str, Any]] = {}
        self._campaign_updates: dict[str, list[_Job]] = {}  # campaign arn -> updates, oldest first
        self._solution_updates: dict[str, list[_Job]] = {}
        self._scripted_errors: dict[str, list[list[Any]]] = {}  # api name -> [[code, message, times]]
        self._before: dict[str, list[_Rule]] = {}
        self._failures: list[tuple[str, _FailureRule]] = []
        self._duration_rules: list[tuple[str, _Rule]] = []
        self._metrics_rules: list[_Rule] = []
        self._occupied: dict[str, list[tuple[int, datetime | None]]] = {"import": []}

    # ------------------------------------------------------------------------------------ plumbing

    def _arn(self, resource: str) -> str:
        return f"arn:aws:personalize:{self.region}:{self.account}:{resource}"

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _error(self, operation: str, code: str, message: str) -> ClientError:
        response = {
            "Error": {"Code": code, "Message": message},
            "message": message,
            "ResponseMetadata": {
                "HTTPStatusCode": 400,
                "RequestId": f"fake-{self._seq:08d}",
                "RetryAttempts": 0,
            },
        }
        cls = getattr(_EXCEPTIONS, code, ClientError)
        return cls(response, operation)

    def _invoke(
        self, operation: str, impl: Callable[[dict[str, Any]], dict[str, Any]], kwargs: dict[str, Any]
    ):
        api = api_name(operation)
        model = _SERVICE_MODEL.operation_model(api)
        logged = copy.deepcopy(kwargs)
        try:
            validate_parameters(kwargs, model.input_shape)
        except ParamValidationError:
            self.calls.append(Call(operation, logged, "ParamValidationError"))
            raise
        try:
            self._raise_scripted(api)
            for rule in self._take(self._before.get(api, []), api):
                rule.value(self)
            _server_side_checks(kwargs, model.input_shape, api, self._error)
            response = impl(copy.deepcopy(kwargs))
        except ClientError as error:
            self.calls.append(Call(operation, logged, error.response["Error"]["Code"]))
            raise
        # A fake that answers in a shape boto3 never would hides bugs; check against the real model.
        if model.output_shape is not None:  # StopSolutionVersionCreation returns nothing
            validate_parameters(response, model.output_shape)
        self.calls.append(Call(operation, logged, "ok"))
        response = copy.deepcopy(response)
        response["ResponseMetadata"] = {
            "RequestId": f"fake-{len(self.calls):08d}",
            "HTTPStatusCode": 200,
            "HTTPHeaders": {},
            "RetryAttempts": 0,
        }
        return response

    def _raise_scripted(self, api: str) -> None:
        queue = self._scripted_errors.get(api, [])
        if queue:
            code, message, _ = entry = queue[0]
            entry[2] -= 1
            if entry[2] <= 0:
                queue.pop(0)
            raise self._error(api, code, message)

    @staticmethod
    def _take(rules: list[_Rule], subject: str) -> list[_Rule]:
        """Rules matching ``subject``, each consumed once (rules with times=None never run out)."""
        taken = []
        for rule in list(rules):
            if rule.matcher(subject):
                taken.append(rule)
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        rules.remove(rule)
        return taken

    def _not_found(self, api: str, what: str, arn: str) -> ClientError:
        return self._error(api, "ResourceNotFoundException", f"Resource Arn {arn} does not exist. ({what})")

    def _get(self, api: str, kind: str, arn: str) -> _Job:
        job = self._jobs[kind].get(arn)
        if job is None:
            raise self._not_found(api, kind, arn)
        return job

    def _by_name(self, kind: str, name: str) -> _Job | None:
        return next((job for job in self._jobs[kind].values() if job.name == name), None)

    def _new_job(
        self, kind: str, name: str, arn: str, data: dict[str, Any], *, subject: str | None = None
    ) -> _Job:
        """A job created now; duration and scripted failure come from the rules matching its name."""
        subject = subject or name
        duration = self.durations[kind]
        for rule_kind, rule in reversed(self._duration_rules):
            if rule_kind == kind and rule.matcher(subject):
                duration = rule.value
                break
        job = _Job(kind, name, arn, self.clock.now(), self.pending_seconds, duration, self._next_seq(), data)
        for failure_kind, failure in self._failures:
            if failure_kind == kind and failure.matcher(subject):
                job.failure_reason = failure.reason
                failure.times -= 1
                break
        self._failures = [(k, r) for k, r in self._failures if r.times > 0]
        return job

    def _running(self, kind: str) -> int:
        now = self.clock.now()
        return sum(job.running(now) for job in self._jobs[kind].values())

    def _occupied_slots(self, pool: str) -> int:
        now = self.clock.now()
        return sum(n for n, until in self._occupied[pool] if until is None or now < until)

    def _page(
        self, api: str, params: dict[str, Any], items: list[dict[str, Any]], key: str
    ) -> dict[str, Any]:
        """One page of ``items`` (already newest first) with an opaque nextToken, like the service."""
        start = 0
        token = params.get("nextToken")
        if token:
            try:
                op, offset = base64.b64decode(token.encode()).decode().split(":")
                start = int(offset)
                if op != api:
                    raise ValueError(op)
            except ValueError:
                raise self._error(api, "InvalidNextTokenException", "Invalid next token.") from None
        size = params.get("maxResults", 100)
        response: dict[str, Any] = {key: items[start : start + size]}
        if start + size < len(items):
            response["nextToken"] = base64.b64encode(f"{api}:{start + size}".encode()).decode()
        return response

    @staticmethod
    def _newest_first(jobs: list[_Job]) -> list[_Job]:
        return sorted(jobs, key=lambda job: (job.created, job.seq), reverse=True)

    # ------------------------------------------------------------------------------- boto3 surface

    def can_paginate(self, operation_name: str) -> bool:
        return api_name(operation_name) in _PAGINATORS._paginator_config

    def get_paginator(self, operation_name: str) -> Paginator:
        api = api_name(operation_name)
        return Paginator(
            getattr(self, xform_name(api)),
            _PAGINATORS.get_paginator(api),
            _SERVICE_MODEL.operation_model(api),
        )

    # --------------------------------------------------------------------------------- scripting

    def seed_dataset_group(
        self,
        name: str,
        *,
        datasets: tuple[str, ...] = ("INTERACTIONS", "ITEMS", "USERS"),
        with_data: bool = False,
        event_tracker: bool = True,
    ) -> SeededDatasetGroup:
        """An ACTIVE dataset group with datasets (and an event tracker), as the CDK stack would have made.

        ``with_data`` marks the datasets as already imported, so INCREMENTAL imports are accepted.
        """
        now = self.clock.now()
        group_arn = self._arn(f"dataset-group/{name}")
        stamp = {"status": "ACTIVE", "creationDateTime": now, "lastUpdatedDateTime": now}
        self._dataset_groups[group_arn] = {"name": name, "datasetGroupArn": group_arn, **stamp}
        dataset_arns = {}
        for dataset_type in datasets:
            arn = self._arn(f"dataset/{name}/{dataset_type}")
            dataset_arns[dataset_type] = arn
            self._datasets[arn] = {
                "name": f"{name}-{dataset_type.lower()}",
                "datasetArn": arn,
                "datasetGroupArn": group_arn,
                "datasetType": dataset_type.capitalize(),
                "schemaArn": self._arn(f"schema/{name}-{dataset_type.lower()}"),
                **stamp,
                "_has_data": with_data,
            }
        tracker_arn = tracking_id = None
        if event_tracker:
            tracking_id = f"{_short_hex(group_arn)}-0000-4000-8000-{_short_hex(name)}0000"
            tracker_arn = self._arn(f"event-tracker/{_short_hex(tracking_id)}")
            self._event_trackers[tracker_arn] = {
                "name": f"{name}-tracker",
                "eventTrackerArn": tracker_arn,
                "accountId": self.account,
                "trackingId": tracking_id,
                "datasetGroupArn": group_arn,
                **stamp,
            }
            if "INTERACTIONS" in dataset_arns:
                self._datasets[dataset_arns["INTERACTIONS"]]["trackingId"] = tracking_id
        return SeededDatasetGroup(name, group_arn, dataset_arns, tracker_arn, tracking_id)

    @staticmethod
    def _matcher(match: str | Callable[[str], bool] | None) -> Callable[[str], bool]:
        if match is None:
            return lambda _subject: True
        if callable(match):
            return match
        return lambda subject: match in subject

    def fail_job(self, kind: str, name_contains: str, reason: str, *, times: int = 1) -> None:
        """The next ``times`` jobs of ``kind`` whose name contains ``name_contains`` end CREATE FAILED.

        Applies to matching jobs still running now, then to jobs created later. For ``campaign-update``
        the campaign's name is matched. Consumed by use, so a replay's new attempt can succeed.
        """
        if kind not in DEFAULT_DURATIONS:
            raise ValueError(f"unknown kind {kind!r}")
        rule = _FailureRule(self._matcher(name_contains), reason, times)
        now = self.clock.now()
        running = [job for job in self._all_jobs(kind) if job.running(now) and rule.matcher(job.name)]
        for job in self._newest_first(running)[: rule.times]:
            job.failure_reason = reason
            rule.times -= 1
        if rule.times > 0:
            self._failures.append((kind, rule))

    def _all_jobs(self, kind: str) -> list[_Job]:
        if kind == "campaign-update":
            return [update for updates in self._campaign_updates.values() for update in updates]
        if kind == "solution-update":
            return [update for updates in self._solution_updates.values() for update in updates]
        return list(self._jobs[kind].values())

    def set_duration(self, kind: str, seconds: float, *, name_contains: str | None = None) -> None:
        """Jobs of ``kind`` created from now on (matching names only, if given) run ``seconds``."""
        if kind not in DEFAULT_DURATIONS:
            raise ValueError(f"unknown kind {kind!r}")
        self._duration_rules.append((kind, _Rule(self._matcher(name_contains), float(seconds), None)))

    def inject_error(self, operation: str, code: str, *, times: int = 1, message: str | None = None) -> None:
        """The next ``times`` calls to ``operation`` raise ClientError ``code`` (before doing anything)."""
        api = api_name(operation)
        self._scripted_errors.setdefault(api, []).append([code, message or f"Scripted {code}", times])

    def throttle(self, operation: str, times: int = 1) -> None:
        self.inject_error(operation, "ThrottlingException", times=times, message="Rate exceeded")

    def limit_exceeded(self, operation: str, times: int = 1) -> None:
        self.inject_error(operation, "LimitExceededException", times=times, message="Scripted quota reached")

    def before_call(
        self, operation: str, callback: Callable[[FakePersonalize], Any], *, times: int = 1
    ) -> None:
        """Run ``callback(fake)`` before the next ``times`` calls to ``operation`` (e.g. a racing run)."""
        api = api_name(operation)
        self._before.setdefault(api, []).append(_Rule(lambda subject: subject == api, callback, times))

    def set_metrics(self, match: str | Callable[[str], bool], metrics: dict[str, float]) -> None:
        """Metrics for solution versions whose name or ARN contains ``match`` (latest rule wins)."""
        matcher = self._matcher(match)
        self._metrics_rules.append(_Rule(matcher, dict(metrics), None))

    def occupy_import_slots(self, n: int, until: datetime | float | None = None) -> None:
        """Other countries' import jobs hold ``n`` of the region's 5 slots until ``until`` (datetime or
        seconds from now; None = for good)."""
        self._occupied["import"].append((n, self._until(until)))

    def _until(self, until: datetime | float | None) -> datetime | None:
        if until is None or isinstance(until, datetime):
            return until
        return self.clock.now() + timedelta(seconds=until)

    def auto_train(self, solution_arn: str) -> str:
        """A version Personalize trained on its own (performAutoTraining): no name, trainingType AUTOMATIC."""
        solution = self._get("CreateSolutionVersion", "solution", solution_arn)
        return self._add_version(solution, None, "AUTOTRAIN", "AUTOMATIC")

    # ------------------------------------------------------------------------------- call log

    def count(self, operation: str, outcome: str | None = None) -> int:
        snake = xform_name(api_name(operation))
        return sum(1 for call in self.calls if call.operation == snake and outcome in (None, call.outcome))

    def create_calls(self, kind: str, outcome: str | None = None) -> list[Call]:
        """Calls of ``kind``'s create operation (any outcome unless one is given)."""
        operation = CREATE_OPERATIONS[kind]
        return [
            call for call in self.calls if call.operation == operation and outcome in (None, call.outcome)
        ]

    def created_names(self, kind: str) -> list[str]:
        """Names of ``kind`` resources successfully created, in order (campaign updates: campaign ARNs)."""
        key = {"campaign-update": "campaignArn", "solution-update": "solutionArn"}.get(kind)
        names: list[str] = []
        for call in self.create_calls(kind, "ok"):
            names.append(str(call.kwargs[key] if key else call.kwargs.get("jobName", call.kwargs.get("name"))))
        return names

    def duplicate_create_attempts(self) -> list[Call]:
        """Create calls that found the name already taken: a step that forgot to describe first."""
        creates = set(CREATE_OPERATIONS.values())
        return [
            c for c in self.calls if c.operation in creates and c.outcome == "ResourceAlreadyExistsException"
        ]

    # ----------------------------------------------------------------------- read-only resources

    def _describe_dataset_group(self, p: dict[str, Any]) -> dict[str, Any]:
        group = self._dataset_groups.get(p["datasetGroupArn"])
        if group is None:
            raise self._not_found("DescribeDatasetGroup", "dataset group", p["datasetGroupArn"])
        return {"datasetGroup": dict(group)}

    def _public(self, dataset: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in dataset.items() if not key.startswith("_")}

    def _describe_dataset(self, p: dict[str, Any]) -> dict[str, Any]:
        dataset = self._datasets.get(p["datasetArn"])
        if dataset is None:
            raise self._not_found("DescribeDataset", "dataset", p["datasetArn"])
        return {"dataset": self._public(dataset)}

    def _list_datasets(self, p: dict[str, Any]) -> dict[str, Any]:
        keys = ("name", "datasetArn", "datasetType", "status", "creationDateTime", "lastUpdatedDateTime")
        items = [
            {key: dataset[key] for key in keys}
            for dataset in self._datasets.values()
            if p.get("datasetGroupArn") in (None, dataset["datasetGroupArn"])
        ]
        return self._page("ListDatasets", p, items, "datasets")

    def _describe_event_tracker(self, p: dict[str, Any]) -> dict[str, Any]:
        tracker = self._event_trackers.get(p["eventTrackerArn"])
        if tracker is None:
            raise self._not_found("DescribeEventTracker", "event tracker", p["eventTrackerArn"])
        return {"eventTracker": dict(tracker)}

    # ---------------------------------------------------------------------- dataset import jobs

    def _dataset_has_data(self, dataset_arn: str) -> bool:
        now = self.clock.now()
        return self._datasets[dataset_arn]["_has_data"] or any(
            job.data["datasetArn"] == dataset_arn and job.phase(now) == "active"
            for job in self._jobs["dataset-import-job"].values()
        )

    def _create_dataset_import_job(self, p: dict[str, Any]) -> dict[str, Any]:
        api = "CreateDatasetImportJob"
        if p["datasetArn"] not in self._datasets:
            raise self._not_found(api, "dataset", p["datasetArn"])
        if self._by_name("dataset-import-job", p["jobName"]):
            raise self._error(
                api, "ResourceAlreadyExistsException", f"Import job {p['jobName']} already exists."
            )
        if self._running("dataset-import-job") + self._occupied_slots("import") >= IMPORT_JOB_QUOTA:
            raise self._error(
                api,
                "LimitExceededException",
                f"You have reached the limit of {IMPORT_JOB_QUOTA} dataset import jobs in progress.",
            )
        mode = p.get("importMode", "FULL")
        if mode == "INCREMENTAL" and not self._dataset_has_data(p["datasetArn"]):
            raise self._error(api, "InvalidInputException", "The first import into a dataset must be FULL.")
        arn = self._arn(f"dataset-import-job/{p['jobName']}")
        data = {
            "jobName": p["jobName"],
            "datasetImportJobArn": arn,
            "datasetArn": p["datasetArn"],
            "dataSource": p["dataSource"],
            "importMode": mode,
            "publishAttributionMetricsToS3": p.get("publishAttributionMetricsToS3", False),
        }
        if "roleArn" in p:
            data["roleArn"] = p["roleArn"]
        self._jobs["dataset-import-job"][arn] = self._new_job("dataset-import-job", p["jobName"], arn, data)
        return {"datasetImportJobArn": arn}

    def _describe_dataset_import_job(self, p: dict[str, Any]) -> dict[str, Any]:
        job = self._get("DescribeDatasetImportJob", "dataset-import-job", p["datasetImportJobArn"])
        return {"datasetImportJob": {**job.data, **job.stamp(self.clock.now())}}

    def _list_dataset_import_jobs(self, p: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.now()
        jobs = [
            job
            for job in self._jobs["dataset-import-job"].values()
            if p.get("datasetArn") in (None, job.data["datasetArn"])
        ]
        items = [
            {
                "datasetImportJobArn": job.arn,
                "jobName": job.name,
                "importMode": job.data["importMode"],
                **job.stamp(now),
            }
            for job in self._newest_first(jobs)
        ]
        return self._page("ListDatasetImportJobs", p, items, "datasetImportJobs")

    # -------------------------------------------------------------------------------- solutions

    def _create_solution(self, p: dict[str, Any]) -> dict[str, Any]:
        api = "CreateSolution"
        group_arn = p["datasetGroupArn"]
        if group_arn not in self._dataset_groups:
            raise self._not_found(api, "dataset group", group_arn)
        if self._by_name("solution", p["name"]):
            raise self._error(api, "ResourceAlreadyExistsException", f"Solution {p['name']} already exists.")
        in_group = [s for s in self._jobs["solution"].values() if s.data["datasetGroupArn"] == group_arn]
        if len(in_group) >= SOLUTIONS_PER_DATASET_GROUP:
            raise self._error(api, "LimitExceededException", "Too many solutions in this dataset group.")
        if "recipeArn" in p and _recipe_name(p["recipeArn"]) not in KNOWN_RECIPES:
            raise self._error(api, "InvalidInputException", f"Recipe {p['recipeArn']} does not exist.")
        arn = self._arn(f"solution/{p['name']}")
        data = {
            "name": p["name"],
            "solutionArn": arn,
            "performHPO": p.get("performHPO", False),
            "performAutoML": p.get("performAutoML", False),
            # The API defaults performAutoTraining to true: a pipeline that also trains pays twice.
            "performAutoTraining": p.get("performAutoTraining", True),
            "performIncrementalUpdate": p.get("performIncrementalUpdate", False),
            "recipeArn": p.get("recipeArn", "arn:aws:personalize:::recipe/aws-user-personalization-v2"),
            "datasetGroupArn": group_arn,
        }
        for key in ("eventType", "solutionConfig"):
            if key in p:
                data[key] = p[key]
        self._jobs["solution"][arn] = self._new_job("solution", p["name"], arn, data)
        return {"solutionArn": arn}

    def _solution_view(self, solution: _Job) -> dict[str, Any]:
        now = self.clock.now()
        view = {**solution.data, **solution.stamp(now)}
        updates = self._solution_updates.get(solution.arn, [])
        for update in updates:
            if update.phase(now) == "active":
                view["performAutoTraining"] = update.data["performAutoTraining"]
                if "solutionUpdateConfig" in update.data:
                    view.setdefault("solutionConfig", {}).update(update.data["solutionUpdateConfig"])
        if updates:
            latest = updates[-1]
            view["latestSolutionUpdate"] = {
                key: latest.data[key]
                for key in ("solutionUpdateConfig", "performAutoTraining")
                if key in latest.data
            } | latest.stamp(now)
        versions = [
            v for v in self._jobs["solution-version"].values() if v.data["solutionArn"] == solution.arn
        ]
        if versions:
            newest = self._newest_first(versions)[0]
            view["latestSolutionVersion"] = {
                "solutionVersionArn": newest.arn,
                "trainingMode": newest.data["trainingMode"],
                "trainingType": newest.data["trainingType"],
                **newest.stamp(now),
            }
        return view

    def _describe_solution(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"solution": self._solution_view(self._get("DescribeSolution", "solution", p["solutionArn"]))}

    def _update_solution(self, p: dict[str, Any]) -> dict[str, Any]:
        api = "UpdateSolution"
        solution = self._get(api, "solution", p["solutionArn"])
        now = self.clock.now()
        updates = self._solution_updates.setdefault(solution.arn, [])
        if solution.phase(now) != "active" or (updates and updates[-1].running(now)):
            raise self._error(
                api, "ResourceInUseException", f"Solution {solution.name} is not ready for updates."
            )
        current = self._solution_view(solution)
        data = {"performAutoTraining": p.get("performAutoTraining", current["performAutoTraining"])}
        if "solutionUpdateConfig" in p:
            data["solutionUpdateConfig"] = p["solutionUpdateConfig"]
        updates.append(self._new_job("solution-update", solution.name, solution.arn, data))
        return {"solutionArn": solution.arn}

    def _list_solutions(self, p: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.now()
        solutions = [
            s
            for s in self._jobs["solution"].values()
            if p.get("datasetGroupArn") in (None, s.data["datasetGroupArn"])
        ]
        items = [
            {"name": s.name, "solutionArn": s.arn, "recipeArn": s.data["recipeArn"], **s.stamp(now)}
            for s in self._newest_first(solutions)
        ]
        for item in items:
            item.pop("failureReason", None)  # not in the SolutionSummary shape
        return self._page("ListSolutions", p, items, "solutions")

    # ------------------------------------------------------------------------ solution versions

    def _add_version(self, solution: _Job, name: str | None, mode: str, training_type: str) -> str:
        seq = self._next_seq()
        arn = f"{solution.arn}/{_short_hex(f'solution-version-{seq}')}"
        data = {
            "solutionVersionArn": arn,
            "solutionArn": solution.arn,
            "performHPO": solution.data["performHPO"],
            "performAutoML": solution.data["performAutoML"],
            "performIncrementalUpdate": solution.data["performIncrementalUpdate"],
            "recipeArn": solution.data["recipeArn"],
            "datasetGroupArn": solution.data["datasetGroupArn"],
            "trainingMode": mode,
            "trainingType": training_type,
        }
        if name is not None:
            data["name"] = name
        job = self._new_job("solution-version", name or "", arn, data, subject=name or arn)
        self._jobs["solution-version"][arn] = job
        return arn

    def _create_solution_version(self, p: dict[str, Any]) -> dict[str, Any]:
        api = "CreateSolutionVersion"
        solution = self._get(api, "solution", p["solutionArn"])
        now = self.clock.now()
        if solution.phase(now) != "active":
            raise self._error(
                api, "ResourceInUseException", f"Solution {solution.name} is {solution.status(now)}."
            )
        versions = [
            v for v in self._jobs["solution-version"].values() if v.data["solutionArn"] == solution.arn
        ]
        name = p.get("name")
        if name is not None and any(v.name == name for v in versions):
            raise self._error(
                api, "ResourceAlreadyExistsException", f"Solution version {name} already exists."
            )
        mode = p.get("trainingMode", "FULL")
        if mode == "UPDATE":
            recipe = _recipe_name(solution.data["recipeArn"])
            if recipe not in UPDATE_RECIPES:
                raise self._error(
                    api, "InvalidInputException", f"trainingMode UPDATE is not supported for {recipe}."
                )
            if not any(v.phase(now) == "active" for v in versions):
                raise self._error(
                    api, "InvalidInputException", "UPDATE needs an ACTIVE solution version to update."
                )
        if self._running("solution-version") >= TRAINING_QUOTA:
            raise self._error(
                api, "LimitExceededException", f"Limit of {TRAINING_QUOTA} trainings in progress."
            )
        return {"solutionVersionArn": self._add_version(solution, name, mode, "MANUAL")}

    def _version_view(self, version: _Job) -> dict[str, Any]:
        now = self.clock.now()
        view = {**version.data, **version.stamp(now)}
        if version.phase(now) == "active":
            view["trainingHours"] = round(version.duration / HOUR, 3)
        return view

    def _describe_solution_version(self, p: dict[str, Any]) -> dict[str, Any]:
        version = self._get("DescribeSolutionVersion", "solution-version", p["solutionVersionArn"])
        return {"solutionVersion": self._version_view(version)}

    def _stop_solution_version_creation(self, p: dict[str, Any]) -> dict[str, Any]:
        """As the API reference says: CREATE_PENDING > CREATE_STOPPED, or CREATE_IN_PROGRESS > CREATE_STOPPING >
        CREATE_STOPPED; any other status cannot be stopped."""
        api = "StopSolutionVersionCreation"
        version = self._get(api, "solution-version", p["solutionVersionArn"])
        now = self.clock.now()
        phase = version.phase(now)
        if phase not in ("pending", "running"):
            raise self._error(
                api, "ResourceInUseException", f"Solution version {version.arn} is {version.status(now)}."
            )
        version.stop_requested = now
        version.stop_seconds = STOP_SECONDS if phase == "running" else 0.0
        return {}

    def _list_solution_versions(self, p: dict[str, Any]) -> dict[str, Any]:
        api = "ListSolutionVersions"
        if "solutionArn" in p:
            self._get(api, "solution", p["solutionArn"])
        now = self.clock.now()
        versions = [
            v
            for v in self._jobs["solution-version"].values()
            if p.get("solutionArn") in (None, v.data["solutionArn"])
        ]
        items = [
            {
                "solutionVersionArn": v.arn,
                "trainingMode": v.data["trainingMode"],
                "trainingType": v.data["trainingType"],
                **v.stamp(now),
            }
            for v in self._newest_first(versions)
        ]
        return self._page(api, p, items, "solutionVersions")

    def _get_solution_metrics(self, p: dict[str, Any]) -> dict[str, Any]:
        api = "GetSolutionMetrics"
        version = self._get(api, "solution-version", p["solutionVersionArn"])
        if version.phase(self.clock.now()) != "active":
            raise self._error(api, "ResourceInUseException", f"Solution version {version.arn} is not ACTIVE.")
        metrics = self.default_metrics
        for rule in reversed(self._metrics_rules):
            if rule.matcher(version.name) or rule.matcher(version.arn):
                metrics = rule.value
                break
        return {"solutionVersionArn": version.arn, "metrics": dict(metrics)}

    # -------------------------------------------------------------------------------- campaigns

    def _active_version(self, api: str, arn: str) -> _Job:
        version = self._get(api, "solution-version", arn)
        if version.phase(self.clock.now()) != "active":
            raise self._error(api, "ResourceInUseException", f"Solution version {arn} is not ACTIVE.")
        return version

    def _check_exploration(self, api: str, version: _Job, config: dict[str, Any] | None) -> None:
        exploration = (config or {}).get("itemExplorationConfig")
        if not exploration:
            return
        recipe = _recipe_name(version.data["recipeArn"])
        if recipe not in EXPLORATION_RECIPES:
            raise self._error(api, "InvalidInputException", f"itemExplorationConfig is not supported for {recipe}.")
        unknown = set(exploration) - EXPLORATION_KEYS
        if unknown:
            raise self._error(api, "InvalidInputException", f"Unknown exploration parameter(s) {sorted(unknown)}.")
        for key, value in exploration.items():
            try:
                number = float(value)
            except ValueError:
                raise self._error(api, "InvalidInputException", f"{key} {value!r} is not a number.") from None
            if key == "explorationWeight" and not 0 <= number <= 1:
                raise self._error(api, "InvalidInputException", f"explorationWeight {value} is not in [0, 1].")
            if key == "explorationItemAgeCutOff" and number <= 0:
                raise self._error(api, "InvalidInputException", f"explorationItemAgeCutOff {value} must be > 0.")

    def _create_campaign(self, p: dict[str, Any]) -> dict[str, Any]:
        api = "CreateCampaign"
        version = self._active_version(api, p["solutionVersionArn"])
        self._check_exploration(api, version, p.get("campaignConfig"))
        if self._by_name("campaign", p["name"]):
            raise self._error(api, "ResourceAlreadyExistsException", f"Campaign {p['name']} already exists.")
        group_arn = version.data["datasetGroupArn"]
        in_group = [c for c in self._jobs["campaign"].values() if c.data["_datasetGroupArn"] == group_arn]
        if len(in_group) >= CAMPAIGNS_PER_DATASET_GROUP:
            raise self._error(api, "LimitExceededException", "Too many campaigns in this dataset group.")
        arn = self._arn(f"campaign/{p['name']}")
        data = {
            "name": p["name"],
            "campaignArn": arn,
            "solutionVersionArn": version.arn,
            "minProvisionedTPS": p.get("minProvisionedTPS", 1),
            "campaignConfig": p.get("campaignConfig", {}),
            "_datasetGroupArn": group_arn,
        }
        self._jobs["campaign"][arn] = self._new_job("campaign", p["name"], arn, data)
        self._campaign_updates[arn] = []
        return {"campaignArn": arn}

    def _campaign_view(self, campaign: _Job) -> dict[str, Any]:
        now = self.clock.now()
        view = {key: value for key, value in campaign.data.items() if not key.startswith("_")}
        view.update(campaign.stamp(now))
        updates = self._campaign_updates[campaign.arn]
        # The old version keeps serving until an update is ACTIVE; then the campaign takes its settings.
        for update in updates:
            if update.phase(now) == "active":
                view.update(
                    {
                        key: update.data[key]
                        for key in ("solutionVersionArn", "minProvisionedTPS", "campaignConfig")
                    }
                )
                view["lastUpdatedDateTime"] = max(view["lastUpdatedDateTime"], update.finished)
        if updates:
            latest = updates[-1]
            view["latestCampaignUpdate"] = {**latest.data, **latest.stamp(now)}
        return view

    def _describe_campaign(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"campaign": self._campaign_view(self._get("DescribeCampaign", "campaign", p["campaignArn"]))}

    def _update_campaign(self, p: dict[str, Any]) -> dict[str, Any]:
        api = "UpdateCampaign"
        campaign = self._get(api, "campaign", p["campaignArn"])
        now = self.clock.now()
        updates = self._campaign_updates[campaign.arn]
        if campaign.phase(now) not in ("active", "failed") or (updates and updates[-1].running(now)):
            raise self._error(
                api, "ResourceInUseException", f"Campaign {campaign.name} has an update in progress."
            )
        current = self._campaign_view(campaign)
        version_arn = p.get("solutionVersionArn", current["solutionVersionArn"])
        version = self._active_version(api, version_arn)
        self._check_exploration(api, version, p.get("campaignConfig"))
        data = {
            "solutionVersionArn": version_arn,
            "minProvisionedTPS": p.get("minProvisionedTPS", current["minProvisionedTPS"]),
            "campaignConfig": p.get("campaignConfig", current["campaignConfig"]),
        }
        updates.append(self._new_job("campaign-update", campaign.name, campaign.arn, data))
        return {"campaignArn": campaign.arn}

    def serving(self, campaign_name: str) -> str | None:
        """Test helper: the solution version the campaign serves now (None if no such campaign)."""
        campaign = self._by_name("campaign", campaign_name)
        return self._campaign_view(campaign)["solutionVersionArn"] if campaign else None

    # ---------------------------------------------------------------------- batch inference jobs

    def _create_batch_inference_job(self, p: dict[str, Any]) -> dict[str, Any]:
        api = "CreateBatchInferenceJob"
        version = self._active_version(api, p["solutionVersionArn"])
        if self._by_name("batch-inference-job", p["jobName"]):
            raise self._error(
                api, "ResourceAlreadyExistsException", f"Batch job {p['jobName']} already exists."
            )
        recipe = _recipe_name(version.data["recipeArn"])
        if recipe in NO_BATCH_RECIPES:
            raise self._error(api, "InvalidInputException", f"Batch inference is not supported for {recipe}.")
        self._check_exploration(api, version, p.get("batchInferenceJobConfig"))
        if "filterArn" in p:
            group_arn = version.data["datasetGroupArn"]
            filter_job = self._get(api, "filter", p["filterArn"])
            if filter_job.phase(self.clock.now()) != "active":
                raise self._error(api, "ResourceInUseException", f"Filter {p['filterArn']} is not ACTIVE.")
            if filter_job.data["datasetGroupArn"] != group_arn:
                raise self._error(api, "InvalidInputException", "Filter belongs to another dataset group.")
            if "$" in filter_job.data["filterExpression"]:
                # A placeholder needs filterValues on every input line ("Providing filter values in your input
                # JSON"); the pipeline's batch inputs carry none.
                raise self._error(api, "InvalidInputException", "Filter has placeholders but input has no values.")
        if self._running("batch-inference-job") >= BATCH_JOB_QUOTA:
            raise self._error(
                api, "LimitExceededException", f"Limit of {BATCH_JOB_QUOTA} batch jobs in progress."
            )
        arn = self._arn(f"batch-inference-job/{p['jobName']}")
        data = {
            "jobName": p["jobName"],
            "batchInferenceJobArn": arn,
            "solutionVersionArn": version.arn,
            "numResults": p.get("numResults", 25),
            "jobInput": p["jobInput"],
            "jobOutput": p["jobOutput"],
            "roleArn": p["roleArn"],
            "batchInferenceJobMode": p.get("batchInferenceJobMode", "BATCH_INFERENCE"),
        }
        for key in ("filterArn", "batchInferenceJobConfig"):
            if key in p:
                data[key] = p[key]
        self._jobs["batch-inference-job"][arn] = self._new_job("batch-inference-job", p["jobName"], arn, data)
        return {"batchInferenceJobArn": arn}

    def _describe_batch_inference_job(self, p: dict[str, Any]) -> dict[str, Any]:
        job = self._get("DescribeBatchInferenceJob", "batch-inference-job", p["batchInferenceJobArn"])
        return {"batchInferenceJob": {**job.data, **job.stamp(self.clock.now())}}

    # ---------------------------------------------------------------------------------- filters

    def _create_filter(self, p: dict[str, Any]) -> dict[str, Any]:
        api = "CreateFilter"
        if p["datasetGroupArn"] not in self._dataset_groups:
            raise self._not_found(api, "dataset group", p["datasetGroupArn"])
        if self._by_name("filter", p["name"]):
            raise self._error(api, "ResourceAlreadyExistsException", f"Filter {p['name']} already exists.")
        for part in p["filterExpression"].split(" | "):
            if not _FILTER_PART.fullmatch(part.strip()):
                raise self._error(api, "InvalidInputException", f"Invalid filter expression part {part!r}.")
            if "Interactions." in part and "Interactions.EVENT_TYPE" not in part:
                # "you can filter only based on event type"
                raise self._error(api, "InvalidInputException", "Interactions filters may use only EVENT_TYPE.")
        in_group = [f for f in self._jobs["filter"].values() if f.data["datasetGroupArn"] == p["datasetGroupArn"]]
        if len(in_group) >= FILTERS_PER_DATASET_GROUP:
            raise self._error(api, "LimitExceededException", "Too many filters in this dataset group.")
        arn = self._arn(f"filter/{p['name']}")
        data = {
            "name": p["name"],
            "filterArn": arn,
            "datasetGroupArn": p["datasetGroupArn"],
            "filterExpression": p["filterExpression"],
        }
        self._jobs["filter"][arn] = self._new_job("filter", p["name"], arn, data)
        return {"filterArn": arn}

    def _describe_filter(self, p: dict[str, Any]) -> dict[str, Any]:
        job = self._get("DescribeFilter", "filter", p["filterArn"])
        return {"filter": {**job.data, **job.stamp(self.clock.now())}}

    def _list_filters(self, p: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.now()
        found = [
            f for f in self._jobs["filter"].values() if p.get("datasetGroupArn") in (None, f.data["datasetGroupArn"])
        ]
        items = [
            {"name": f.name, "filterArn": f.arn, "datasetGroupArn": f.data["datasetGroupArn"], **f.stamp(now)}
            for f in self._newest_first(found)
        ]
        return self._page("ListFilters", p, items, "Filters")

    def _delete_filter(self, p: dict[str, Any]) -> dict[str, Any]:
        api = "DeleteFilter"
        job = self._get(api, "filter", p["filterArn"])
        now = self.clock.now()
        batch_jobs = self._jobs["batch-inference-job"].values()
        if any(b.data.get("filterArn") == job.arn and b.running(now) for b in batch_jobs):
            raise self._error(api, "ResourceInUseException", f"Filter {job.name} is used by a running batch job.")
        del self._jobs["filter"][job.arn]
        return {}


def _public_method(api: str) -> Callable[..., dict[str, Any]]:
    snake = xform_name(api)
    impl = getattr(FakePersonalize, f"_{snake}")

    def method(self: FakePersonalize, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if args:
            raise TypeError(f"{snake}() only accepts keyword arguments.")  # as boto3 says
        return self._invoke(snake, lambda params: impl(self, params), kwargs)

    method.__name__ = snake
    method.__doc__ = f"boto3-compatible {snake}; see the Personalize {api} API."
    return method


SUPPORTED_OPERATIONS = (
    "CreateDatasetImportJob", "DescribeDatasetImportJob", "ListDatasetImportJobs",
    "CreateSolution", "DescribeSolution", "UpdateSolution", "ListSolutions",
    "CreateSolutionVersion", "DescribeSolutionVersion", "ListSolutionVersions", "GetSolutionMetrics",
    "StopSolutionVersionCreation",
    "CreateCampaign", "DescribeCampaign", "UpdateCampaign",
    "CreateBatchInferenceJob", "DescribeBatchInferenceJob",
    "CreateFilter", "DescribeFilter", "ListFilters", "DeleteFilter",
    "DescribeDatasetGroup", "DescribeDataset", "ListDatasets", "DescribeEventTracker",
)  # fmt: skip

for _api in SUPPORTED_OPERATIONS:
    setattr(FakePersonalize, xform_name(_api), _public_method(_api))


def _server_side_checks(
    value: Any, shape: Any, operation: str, error: Callable[..., ClientError], path: str = ""
) -> None:
    """What botocore leaves to the service: max lengths, patterns, enums, integer maxima.

    Patterns are Java regexes matched whole; the few using \\p{...} classes (tags) are skipped.
    """
    where = path or "input"
    if shape.type_name == "structure":
        for key, member in shape.members.items():
            if key in value:
                _server_side_checks(value[key], member, operation, error, f"{path}.{key}".lstrip("."))
    elif shape.type_name == "list":
        for index, item in enumerate(value):
            _server_side_checks(item, shape.member, operation, error, f"{where}[{index}]")
    elif shape.type_name == "map":
        for key, item in value.items():
            _server_side_checks(item, shape.value, operation, error, f"{where}.{key}")
    elif shape.type_name == "string":
        meta = shape.metadata
        problem = None
        if "max" in meta and len(value) > meta["max"]:
            problem = f"length {len(value)} exceeds {meta['max']}"
        elif "pattern" in meta and "\\p" not in meta["pattern"] and not re.fullmatch(meta["pattern"], value):
            problem = f"does not match {meta['pattern']}"
        elif shape.enum and value not in shape.enum:
            problem = f"is not one of {shape.enum}"
        if problem:
            raise error(operation, "InvalidInputException", f"Value {value!r} at '{where}' {problem}.")
    elif shape.type_name in ("integer", "long") and "max" in shape.metadata and value > shape.metadata["max"]:
        raise error(
            operation, "InvalidInputException", f"Value {value} at '{where}' exceeds {shape.metadata['max']}."
        )
