"""The fake Personalize's scripting API: what a test sets up, scripts and asks afterwards.

`PersonalizeScripting` is a mixin of `FakePersonalize` (testkit/fakes/personalize.py). It holds the scripted
trouble and answers the fake's questions about it:

- set-up: ``seed_dataset_group`` (what the CDK stack would have made), ``occupy_import_slots`` (other
  countries' imports), ``auto_train`` (a version Personalize trained on its own);
- trouble: ``fail_job``, ``set_duration``, ``inject_error``, ``throttle``, ``limit_exceeded``, ``before_call``,
  ``set_metrics``; the fake asks ``_raise_scripted``, ``_run_before_call``, ``_scripted_duration``,
  ``_scripted_failure``, ``_occupied_slots`` and ``_scripted_metrics`` while it serves a call;
- the call log: ``calls`` (filled by the fake), ``count``, ``create_calls``, ``created_names``,
  ``duplicate_create_attempts``.

Scripted throttling raises at once, i.e. as if boto3's own retries were already used up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore import xform_name
from botocore.exceptions import ClientError

from testkit.fakes import request_checks
from testkit.fakes.clock import SimClock
from testkit.fakes.personalize_jobs import CREATE_OPERATIONS, DEFAULT_DURATIONS, Job, short_hex

if TYPE_CHECKING:
    from testkit.fakes.personalize import FakePersonalize

SERVICE = "personalize"


class Call(NamedTuple):
    operation: str  # boto3 method name, e.g. "create_solution"
    kwargs: dict[str, Any]
    outcome: str  # "ok", an error code, or "ParamValidationError"


def api_name(operation: str) -> str:
    """'create_solution' or 'CreateSolution' -> 'CreateSolution' (unknown names fail loudly)."""
    return request_checks.api_name(SERVICE, operation)


@dataclass
class Rule:
    matcher: Callable[[str], bool]
    value: Any
    times: int | None  # None = unlimited


@dataclass
class FailureRule:
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


def _matcher(match: str | Callable[[str], bool] | None) -> Callable[[str], bool]:
    if match is None:
        return lambda _subject: True
    if callable(match):
        return match
    return lambda subject: match in subject


def _take(rules: list[Rule], subject: str) -> list[Rule]:
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


class PersonalizeScripting:
    """Scripted set-up, trouble and the call log; the host (`FakePersonalize`) owns the resources."""

    # The host's state these hooks read and seed.
    clock: SimClock
    account: str
    _jobs: dict[str, dict[str, Job]]  # kind -> arn -> job
    _dataset_groups: dict[str, dict[str, Any]]
    _datasets: dict[str, dict[str, Any]]
    _event_trackers: dict[str, dict[str, Any]]
    _campaign_updates: dict[str, list[Job]]  # campaign arn -> updates, oldest first
    _solution_updates: dict[str, list[Job]]

    if TYPE_CHECKING:
        # The host's plumbing, named here for mypy only.
        def _arn(self, resource: str) -> str: ...
        def _error(self, operation: str, code: str, message: str) -> ClientError: ...
        def _get(self, api: str, kind: str, arn: str) -> Job: ...
        def _add_version(self, solution: Job, name: str | None, mode: str, training_type: str) -> str: ...
        @staticmethod
        def _newest_first(jobs: list[Job]) -> list[Job]: ...

    def _init_scripting(self) -> None:
        self.calls: list[Call] = []
        self._scripted_errors: dict[str, list[list[Any]]] = {}  # api name -> [[code, message, times]]
        self._before: dict[str, list[Rule]] = {}
        self._failures: list[tuple[str, FailureRule]] = []
        self._duration_rules: list[tuple[str, Rule]] = []
        self._metrics_rules: list[Rule] = []
        self._occupied: dict[str, list[tuple[int, datetime | None]]] = {"import": []}

    # ------------------------------------------------------------------------------------ set-up

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
            tracking_id = f"{short_hex(group_arn)}-0000-4000-8000-{short_hex(name)}0000"
            tracker_arn = self._arn(f"event-tracker/{short_hex(tracking_id)}")
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

    # ----------------------------------------------------------------------------------- trouble

    def fail_job(self, kind: str, name_contains: str, reason: str, *, times: int = 1) -> None:
        """The next ``times`` jobs of ``kind`` whose name contains ``name_contains`` end CREATE FAILED.

        Applies to matching jobs still running now, then to jobs created later. For ``campaign-update``
        the campaign's name is matched. Consumed by use, so a replay's new attempt can succeed.
        """
        if kind not in DEFAULT_DURATIONS:
            raise ValueError(f"unknown kind {kind!r}")
        rule = FailureRule(_matcher(name_contains), reason, times)
        now = self.clock.now()
        running = [job for job in self._all_jobs(kind) if job.running(now) and rule.matcher(job.name)]
        for job in self._newest_first(running)[: rule.times]:
            job.failure_reason = reason
            rule.times -= 1
        if rule.times > 0:
            self._failures.append((kind, rule))

    def _all_jobs(self, kind: str) -> list[Job]:
        if kind == "campaign-update":
            return [update for updates in self._campaign_updates.values() for update in updates]
        if kind == "solution-update":
            return [update for updates in self._solution_updates.values() for update in updates]
        return list(self._jobs[kind].values())

    def set_duration(self, kind: str, seconds: float, *, name_contains: str | None = None) -> None:
        """Jobs of ``kind`` created from now on (matching names only, if given) run ``seconds``."""
        if kind not in DEFAULT_DURATIONS:
            raise ValueError(f"unknown kind {kind!r}")
        self._duration_rules.append((kind, Rule(_matcher(name_contains), float(seconds), None)))

    def inject_error(self, operation: str, code: str, *, times: int = 1, message: str | None = None) -> None:
        """The next ``times`` calls to ``operation`` raise ClientError ``code`` (before doing anything)."""
        api = api_name(operation)
        self._scripted_errors.setdefault(api, []).append([code, message or f"Scripted {code}", times])

    def throttle(self, operation: str, times: int = 1) -> None:
        self.inject_error(operation, "ThrottlingException", times=times, message="Rate exceeded")

    def limit_exceeded(self, operation: str, times: int = 1) -> None:
        self.inject_error(operation, "LimitExceededException", times=times, message="Scripted quota reached")

    def before_call(self, operation: str, callback: Callable[[FakePersonalize], Any], *, times: int = 1) -> None:
        """Run ``callback(fake)`` before the next ``times`` calls to ``operation`` (e.g. a racing run)."""
        api = api_name(operation)
        self._before.setdefault(api, []).append(Rule(lambda subject: subject == api, callback, times))

    def set_metrics(self, match: str | Callable[[str], bool], metrics: dict[str, float]) -> None:
        """Metrics for solution versions whose name or ARN contains ``match`` (latest rule wins)."""
        self._metrics_rules.append(Rule(_matcher(match), dict(metrics), None))

    # ------------------------------------------------------------ what the fake asks while serving

    def _raise_scripted(self, api: str) -> None:
        queue = self._scripted_errors.get(api, [])
        if queue:
            code, message, _ = entry = queue[0]
            entry[2] -= 1
            if entry[2] <= 0:
                queue.pop(0)
            raise self._error(api, code, message)

    def _run_before_call(self, api: str) -> None:
        for rule in _take(self._before.get(api, []), api):
            rule.value(self)

    def _scripted_duration(self, kind: str, subject: str) -> float | None:
        """The latest set_duration rule's seconds for a new ``kind`` job matching ``subject``, if any."""
        for rule_kind, rule in reversed(self._duration_rules):
            if rule_kind == kind and rule.matcher(subject):
                return float(rule.value)
        return None

    def _scripted_failure(self, kind: str, subject: str) -> str | None:
        """The failure reason of the first fail_job rule matching a new ``kind`` job, consuming one use."""
        reason = None
        for failure_kind, failure in self._failures:
            if failure_kind == kind and failure.matcher(subject):
                reason = failure.reason
                failure.times -= 1
                break
        self._failures = [(k, r) for k, r in self._failures if r.times > 0]
        return reason

    def _occupied_slots(self, pool: str) -> int:
        now = self.clock.now()
        return sum(n for n, until in self._occupied[pool] if until is None or now < until)

    def _scripted_metrics(self, version: Job) -> dict[str, float] | None:
        """The latest set_metrics rule's metrics for ``version`` (by name or ARN), if any."""
        for rule in reversed(self._metrics_rules):
            if rule.matcher(version.name) or rule.matcher(version.arn):
                return dict(rule.value)
        return None

    # ---------------------------------------------------------------------------------- call log

    def count(self, operation: str, outcome: str | None = None) -> int:
        snake = xform_name(api_name(operation))
        return sum(1 for call in self.calls if call.operation == snake and outcome in (None, call.outcome))

    def create_calls(self, kind: str, outcome: str | None = None) -> list[Call]:
        """Calls of ``kind``'s create operation (any outcome unless one is given)."""
        operation = CREATE_OPERATIONS[kind]
        return [call for call in self.calls if call.operation == operation and outcome in (None, call.outcome)]

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
        return [c for c in self.calls if c.operation in creates and c.outcome == "ResourceAlreadyExistsException"]
