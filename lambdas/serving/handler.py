"""The serving API: a thin Powertools HTTP API resolver over serving.recommendations (docs/serving.md).

Requests are validated by Powertools (enable_validation) from the annotations below, which also make the OpenAPI
document (serving.openapi). Every error is one line: 400 bad parameters, 404 an unknown country, item or page,
503 when every source failed (with each one's reason).

While an experiment of the country runs (on the request's UTC date), the recommendations route serves the user's
arm (common.experiments.assign on the user id), names the experiment and arm in the response, and logs one
exposure per served response (serving.exposures); outside experiments both are null and nothing is logged.
"""

from __future__ import annotations

import functools
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Annotated, Any, NamedTuple

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, NotFoundError, ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import (
    OpenAPIResponse,
    OpenAPIResponseContentModel,
    OpenAPIResponseContentSchema,
)
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from common.experiments import Arm, Experiment, Exposure, assign
from common.observability import logger, metrics, tracer
from serving import catalogue, clients, exposures
from serving.budget import Deadline
from serving.recommendations import BACKEND_ERRORS, Hints, Recommender, Served, Unavailable, UnknownFilter, reason
from serving.responses import Error, Item, ItemList
from serving.settings import ServingSettings
from serving.store import Pointer, ReadModel

MAX_COUNT = 100  # one BatchGetItem call of metadata (catalogue.MAX_KEYS_PER_CALL)
DEFAULT_COUNT = 25  # the batch jobs' list length
# GetRecommendations runs on these threads so the chain can stop waiting for it; a call left behind ends
# at the client's read timeout.
_CAMPAIGN_THREADS = 4
DEADLINE = "deadline"  # the request's Deadline in the resolver's context

Country = Annotated[str, Path(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, e.g. KR")]
Count = Annotated[int, Query(ge=1, le=MAX_COUNT, description="how many items")]
# '#' separates the parts of the read model's keys: an id or hint holding one would name another key.
NO_KEY_SEPARATOR = r"^[^#\s]+$"
Id = Annotated[str, Path(min_length=1, max_length=256, pattern=NO_KEY_SEPARATOR)]
Hint = Annotated[str | None, Query(min_length=1, max_length=64, pattern=NO_KEY_SEPARATOR)]

_ERROR_BODY: dict[str, OpenAPIResponseContentSchema | OpenAPIResponseContentModel] = {
    "application/json": {"model": Error}
}
ERRORS: dict[int, OpenAPIResponse] = {
    400: {"description": "a bad parameter (one line: which and why)", "content": _ERROR_BODY},
    404: {"description": "an unknown country (no published run), item or page", "content": _ERROR_BODY},
    503: {"description": "every source failed; the message lists each one's reason", "content": _ERROR_BODY},
}

# Route `responses` replace Powertools' default 200, so each route names its 200 too.
LIST_ANSWERS: dict[int, OpenAPIResponse] = {
    **ERRORS,
    200: {"description": "the list and where it came from", "content": {"application/json": {"model": ItemList}}},
}

app = APIGatewayHttpResolver(enable_validation=True)


class Service(NamedTuple):
    settings: ServingSettings
    clients: clients.Clients
    read_model: ReadModel
    recommender: Recommender


@functools.cache
def service() -> Service:
    """Made on first use (nothing talks to AWS at import); tests clear the cache after setting the environment."""
    settings = ServingSettings.from_env()
    made = clients.make(settings)
    read_model = ReadModel(made.dynamodb, settings.table_name)
    pool = ThreadPoolExecutor(max_workers=_CAMPAIGN_THREADS, thread_name_prefix="campaign")
    recommender = Recommender(read_model, made.personalize_runtime, pool, settings.read_model_reserve_ms / 1000)
    return Service(settings, made, read_model, recommender)


def _pointer(country: str) -> Pointer:
    pointer = service().read_model.pointer(country)
    if pointer is None:
        raise NotFoundError(f"no published run for country {country}")
    logger.append_keys(country=country, run_date=pointer.run_date.isoformat())
    return pointer


def _deadline() -> Deadline:
    """The request's deadline, counted from the handler's entry (validation and routing spend the budget too)."""
    return app.context.get(DEADLINE) or Deadline(service().settings.latency_budget_ms / 1000)


def _body(country: str, served: Served, experiment: Experiment | None = None, arm: Arm | None = None) -> ItemList:
    svc = service()
    items = catalogue.decorate(svc.clients.dynamodb, svc.settings.table_name, served.item_ids)
    metrics.add_metric(name=f"Served{served.source.value.title()}", unit=MetricUnit.Count, value=1)
    return ItemList(
        country=country,
        source=served.source,
        run_date=served.run_date,
        recommendation_id=served.recommendation_id,
        filter_applied=served.filter_applied,
        items=[Item(**item) for item in items],
        experiment=experiment.name if experiment else None,
        arm=arm if experiment else None,
    )


def _experiment(country: str, user_id: str) -> tuple[Experiment | None, Arm]:
    """The country's running experiment and the user's arm in it; outside experiments, Personalize's chain."""
    experiment = service().settings.experiment_on(country, datetime.now(UTC).date())
    if experiment is None:
        return None, Arm.PERSONALIZE
    arm = assign(experiment, user_id)
    logger.append_keys(experiment=experiment.name, arm=arm.value)
    return experiment, arm


def _log_exposure(experiment: Experiment, arm: Arm, user_id: str, body: ItemList) -> None:
    exposure = Exposure(
        country=body.country,
        experiment=experiment.name,
        arm=arm,
        user_id=user_id,
        recommendation_id=body.recommendation_id,
        items=tuple(item.item_id for item in body.items),
        source=body.source.value,
        served_at=time.time_ns() // 1_000_000,
    )
    exposures.log_exposure(exposure)


@app.get("/v1/countries/<country>/users/<userId>/recommendations", responses=LIST_ANSWERS)
def user_recommendations(
    country: Country,
    userId: Id,  # the path parameter's name on the wire
    count: Count = DEFAULT_COUNT,
    filter: Annotated[str | None, Query(min_length=1, max_length=256, description="a published filter's name")] = None,
    locale: Hint = None,
    age_group: Annotated[
        str | None, Query(alias="ageGroup", min_length=1, max_length=64, pattern=NO_KEY_SEPARATOR)
    ] = None,
    gender: Hint = None,
) -> ItemList:
    deadline = _deadline()
    pointer = _pointer(country)
    hints = Hints(locale=locale, age_group=age_group, gender=gender)
    experiment, arm = _experiment(country, userId)
    try:
        served = service().recommender.for_user(pointer, userId, count, filter, hints, deadline, arm)
    except UnknownFilter as error:
        raise BadRequestError(str(error)) from None
    body = _body(country, served, experiment, arm)
    if experiment is not None:
        _log_exposure(experiment, arm, userId, body)
    return body


@app.get("/v1/countries/<country>/items/<itemId>/similar", responses=LIST_ANSWERS)
def similar_items(country: Country, itemId: Id, count: Count = DEFAULT_COUNT) -> ItemList:
    pointer = _pointer(country)
    served = service().recommender.similar(pointer, itemId, count)
    if served is None:
        raise NotFoundError(f"no similar-items list for item {itemId} in {country}")
    return _body(country, served)


@app.get("/v1/countries/<country>/trending", responses=LIST_ANSWERS)
def trending(country: Country, count: Count = DEFAULT_COUNT) -> ItemList:
    deadline = _deadline()
    return _body(country, service().recommender.trending(_pointer(country), count, deadline))


@app.get(
    "/v1/countries/<country>/report",
    responses={**ERRORS, 200: {"description": "the latest comparison page", "content": {"text/html": {"schema": {}}}}},
)
def report(country: Country) -> Response[str]:
    pointer = _pointer(country)
    if not pointer.report_key:
        raise NotFoundError(f"no comparison page published for {country}")
    svc = service()
    try:
        page = svc.clients.s3.get_object(Bucket=svc.settings.results_bucket, Key=pointer.report_key)
    except BACKEND_ERRORS as error:
        if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") == "NoSuchKey":
            raise NotFoundError(f"no comparison page at {pointer.report_key}") from None
        raise ServiceError(503, f"the comparison page could not be read: {reason(error)}") from None
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=page["Body"].read().decode())


@app.exception_handler(RequestValidationError)
def bad_parameters(error: RequestValidationError) -> Response:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "request"
    raise BadRequestError(f"{where}: {first.get('msg', 'invalid')}")


@app.exception_handler(Unavailable)
def every_source_failed(error: Unavailable) -> Response:
    metrics.add_metric(name="Unavailable", unit=MetricUnit.Count, value=1)
    raise ServiceError(503, f"no source could serve the request: {error}")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    app.append_context(**{DEADLINE: Deadline(service().settings.latency_budget_ms / 1000)})
    return app.resolve(event, context)
