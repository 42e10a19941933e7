"""FakePersonalize: an in-memory Amazon Personalize that behaves like boto3's client, on a simulated clock.

One idea: the service's per-resource behaviour (dataset groups and datasets, import jobs, solutions and their
updates, solution versions and metrics, campaigns and their updates, batch inference jobs, filters) behind one
boto3-shaped surface. It stays whole because the resources are one state: a campaign serves a version of a
solution of a dataset group, a batch job reads a version and a filter, an import counts against the same region
quota as the others, and every describe reads the one simulated clock.

moto has no Personalize jobs, and a botocore Stubber only replays what a test scripts, so it cannot show
that a replay reuses a running job. This fake keeps state instead:

- every call is validated against the real botocore service model (testkit/fakes/request_checks.py: wrong
  names/shapes raise ParamValidationError as boto3 would; out-of-range values raise InvalidInputException as
  the service would) and every response is checked against the model's output shape;
- errors are real ``ClientError`` subclasses (``client.exceptions.ResourceNotFoundException`` ...) with
  the operation name, so code catching either style works;
- jobs move CREATE PENDING -> CREATE IN_PROGRESS -> ACTIVE (or CREATE FAILED) as the SimClock advances
  (the job model and the quotas: testkit/fakes/personalize_jobs.py);
- region quotas (5 running imports, 5 batch jobs, 20 trainings) and per-kind name uniqueness hold;
- scripting hooks (``fail_job``, ``throttle``, ``limit_exceeded``, ``inject_error``, ``before_call``,
  ``set_metrics``, ``set_duration``, ``occupy_import_slots``) and a call log (``calls``, ``count``,
  ``create_calls``, ``duplicate_create_attempts``) let tests script trouble and assert on what was called
  (testkit/fakes/personalize_scripting.py).
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import botocore.session
from botocore import xform_name
from botocore.errorfactory import ClientExceptionsFactory
from botocore.exceptions import ClientError, ParamValidationError
from botocore.paginate import Paginator

from testkit.fakes import request_checks
from testkit.fakes.clock import SimClock
from testkit.fakes.personalize_jobs import (
    BATCH_JOB_QUOTA,
    CAMPAIGNS_PER_DATASET_GROUP,
    DEFAULT_DURATIONS,
    DEFAULT_METRICS,
    EXPLORATION_KEYS,
    EXPLORATION_RECIPES,
    FILTER_PART,
    FILTERS_PER_DATASET_GROUP,
    HOUR,
    IMPORT_JOB_QUOTA,
    KNOWN_RECIPES,
    MINUTE,
    NO_BATCH_RECIPES,
    SOLUTIONS_PER_DATASET_GROUP,
    STOP_SECONDS,
    TRAINING_QUOTA,
    UPDATE_RECIPES,
    Job,
    short_hex,
)
from testkit.fakes.personalize_scripting import SERVICE, Call, PersonalizeScripting, api_name

# What the tests, the harness and the IAM call map import from here.
__all__ = ["HOUR", "KNOWN_RECIPES", "MINUTE", "FakePersonalize", "api_name"]

_SERVICE_MODEL = request_checks.service_model(SERVICE)
_PAGINATORS = botocore.session.get_session().get_paginator_model(SERVICE)
_EXCEPTIONS = ClientExceptionsFactory().create_client_exceptions(_SERVICE_MODEL)


def _recipe_name(recipe_arn: str | None) -> str:
    return (recipe_arn or "").rsplit("/", 1)[-1]


class FakePersonalize(PersonalizeScripting):
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
        self.exceptions = _EXCEPTIONS
        self.meta = SimpleNamespace(region_name=region, service_model=_SERVICE_MODEL, partition="aws")

        self._seq = 0
        self._jobs: dict[str, dict[str, Job]] = {kind: {} for kind in DEFAULT_DURATIONS}  # kind -> arn -> job
        self._dataset_groups: dict[str, dict[str, Any]] = {}
        self._datasets: dict[str, dict[str, Any]] = {}
        self._event_trackers: dict[str, dict[str, Any]] = {}
        self._campaign_updates: dict[str, list[Job]] = {}  # campaign arn -> updates, oldest first
        self._solution_updates: dict[str, list[Job]] = {}
        self._init_scripting()

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

    def _invoke(self, operation: str, impl: Callable[[dict[str, Any]], dict[str, Any]], kwargs: dict[str, Any]):
        api = api_name(operation)
        logged = copy.deepcopy(kwargs)
        try:
            request_checks.check_request(SERVICE, api, kwargs)
        except ParamValidationError:
            self.calls.append(Call(operation, logged, "ParamValidationError"))
            raise
        try:
            self._raise_scripted(api)
            self._run_before_call(api)
            request_checks.check_service_constraints(SERVICE, api, kwargs, self._error)
            response = impl(copy.deepcopy(kwargs))
        except ClientError as error:
            self.calls.append(Call(operation, logged, error.response["Error"]["Code"]))
            raise
        request_checks.check_response(SERVICE, api, response)
        self.calls.append(Call(operation, logged, "ok"))
        response = copy.deepcopy(response)
        response["ResponseMetadata"] = {
            "RequestId": f"fake-{len(self.calls):08d}",
            "HTTPStatusCode": 200,
            "HTTPHeaders": {},
            "RetryAttempts": 0,
        }
        return response

    def _not_found(self, api: str, what: str, arn: str) -> ClientError:
        return self._error(api, "ResourceNotFoundException", f"Resource Arn {arn} does not exist. ({what})")

    def _get(self, api: str, kind: str, arn: str) -> Job:
        job = self._jobs[kind].get(arn)
        if job is None:
            raise self._not_found(api, kind, arn)
        return job

    def _by_name(self, kind: str, name: str) -> Job | None:
        return next((job for job in self._jobs[kind].values() if job.name == name), None)

    def _new_job(self, kind: str, name: str, arn: str, data: dict[str, Any], *, subject: str | None = None) -> Job:
        """A job created now; duration and scripted failure come from the rules matching its name."""
        subject = subject or name
        scripted = self._scripted_duration(kind, subject)
        duration = self.durations[kind] if scripted is None else scripted
        job = Job(kind, name, arn, self.clock.now(), self.pending_seconds, duration, self._next_seq(), data)
        job.failure_reason = self._scripted_failure(kind, subject)
        return job

    def _running(self, kind: str) -> int:
        now = self.clock.now()
        return sum(job.running(now) for job in self._jobs[kind].values())

    def _page(self, api: str, params: dict[str, Any], items: list[dict[str, Any]], key: str) -> dict[str, Any]:
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
    def _newest_first(jobs: list[Job]) -> list[Job]:
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
            raise self._error(api, "ResourceAlreadyExistsException", f"Import job {p['jobName']} already exists.")
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

    def _solution_view(self, solution: Job) -> dict[str, Any]:
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
                key: latest.data[key] for key in ("solutionUpdateConfig", "performAutoTraining") if key in latest.data
            } | latest.stamp(now)
        versions = [v for v in self._jobs["solution-version"].values() if v.data["solutionArn"] == solution.arn]
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
            raise self._error(api, "ResourceInUseException", f"Solution {solution.name} is not ready for updates.")
        current = self._solution_view(solution)
        data = {"performAutoTraining": p.get("performAutoTraining", current["performAutoTraining"])}
        if "solutionUpdateConfig" in p:
            data["solutionUpdateConfig"] = p["solutionUpdateConfig"]
        updates.append(self._new_job("solution-update", solution.name, solution.arn, data))
        return {"solutionArn": solution.arn}

    def _list_solutions(self, p: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.now()
        solutions = [
            s for s in self._jobs["solution"].values() if p.get("datasetGroupArn") in (None, s.data["datasetGroupArn"])
        ]
        items = [
            {"name": s.name, "solutionArn": s.arn, "recipeArn": s.data["recipeArn"], **s.stamp(now)}
            for s in self._newest_first(solutions)
        ]
        for item in items:
            item.pop("failureReason", None)  # not in the SolutionSummary shape
        return self._page("ListSolutions", p, items, "solutions")

    # ------------------------------------------------------------------------ solution versions

    def _add_version(self, solution: Job, name: str | None, mode: str, training_type: str) -> str:
        seq = self._next_seq()
        arn = f"{solution.arn}/{short_hex(f'solution-version-{seq}')}"
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
            raise self._error(api, "ResourceInUseException", f"Solution {solution.name} is {solution.status(now)}.")
        versions = [v for v in self._jobs["solution-version"].values() if v.data["solutionArn"] == solution.arn]
        name = p.get("name")
        if name is not None and any(v.name == name for v in versions):
            raise self._error(api, "ResourceAlreadyExistsException", f"Solution version {name} already exists.")
        mode = p.get("trainingMode", "FULL")
        if mode == "UPDATE":
            recipe = _recipe_name(solution.data["recipeArn"])
            if recipe not in UPDATE_RECIPES:
                raise self._error(api, "InvalidInputException", f"trainingMode UPDATE is not supported for {recipe}.")
            if not any(v.phase(now) == "active" for v in versions):
                raise self._error(api, "InvalidInputException", "UPDATE needs an ACTIVE solution version to update.")
        if self._running("solution-version") >= TRAINING_QUOTA:
            raise self._error(api, "LimitExceededException", f"Limit of {TRAINING_QUOTA} trainings in progress.")
        return {"solutionVersionArn": self._add_version(solution, name, mode, "MANUAL")}

    def _version_view(self, version: Job) -> dict[str, Any]:
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
            v for v in self._jobs["solution-version"].values() if p.get("solutionArn") in (None, v.data["solutionArn"])
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
        scripted = self._scripted_metrics(version)
        metrics = self.default_metrics if scripted is None else scripted
        return {"solutionVersionArn": version.arn, "metrics": dict(metrics)}

    # -------------------------------------------------------------------------------- campaigns

    def _active_version(self, api: str, arn: str) -> Job:
        version = self._get(api, "solution-version", arn)
        if version.phase(self.clock.now()) != "active":
            raise self._error(api, "ResourceInUseException", f"Solution version {arn} is not ACTIVE.")
        return version

    def _check_exploration(self, api: str, version: Job, config: dict[str, Any] | None) -> None:
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

    def _campaign_view(self, campaign: Job) -> dict[str, Any]:
        now = self.clock.now()
        view = {key: value for key, value in campaign.data.items() if not key.startswith("_")}
        view.update(campaign.stamp(now))
        updates = self._campaign_updates[campaign.arn]
        # The old version keeps serving until an update is ACTIVE; then the campaign takes its settings.
        for update in updates:
            if update.phase(now) == "active":
                view.update(
                    {key: update.data[key] for key in ("solutionVersionArn", "minProvisionedTPS", "campaignConfig")}
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
            raise self._error(api, "ResourceInUseException", f"Campaign {campaign.name} has an update in progress.")
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
            raise self._error(api, "ResourceAlreadyExistsException", f"Batch job {p['jobName']} already exists.")
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
            raise self._error(api, "LimitExceededException", f"Limit of {BATCH_JOB_QUOTA} batch jobs in progress.")
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
            if not FILTER_PART.fullmatch(part.strip()):
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
