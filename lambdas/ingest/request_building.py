"""Whether botocore can build a PutEvents request from given parameters, checked offline.

A boto3 client validates and serialises the parameters before it signs and sends anything; what it raises
there (ParamValidationError, or OverflowError/ValueError/TypeError from the serialiser's conversions) depends
only on the parameters, so the same request fails the same way every time and no wait or retry helps. This
module does those two steps as `BaseClient._make_api_call` does them (botocore's `ParamValidator`, then the
serialiser of the service's protocol), from the installed botocore's own service model: delivery asks it
after a call failed without a service response, to tell a request that cannot be built from an outage.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import botocore.session
from botocore.exceptions import ParamValidationError
from botocore.model import OperationModel
from botocore.serialize import create_serializer
from botocore.validate import ParamValidator

SERVICE = "personalize-events"
OPERATION = "PutEvents"


@functools.cache
def _operation() -> OperationModel:
    return botocore.session.get_session().get_service_model(SERVICE).operation_model(OPERATION)


def build_put_events(params: Mapping[str, Any]) -> dict[str, Any]:
    """The serialised request, or the exception a client raises for these parameters before sending."""
    operation = _operation()
    report = ParamValidator().validate(dict(params), operation.input_shape)
    if report.has_errors():
        raise ParamValidationError(report=report.generate_report())
    serializer = create_serializer(operation.service_model.protocol, include_validation=False)
    request: dict[str, Any] = serializer.serialize_to_request(dict(params), operation)
    return request


def build_error(params: Mapping[str, Any]) -> Exception | None:
    """What building these parameters into a request raises, or None when botocore can build it."""
    try:
        build_put_events(params)
    except Exception as error:  # anything raised here is about the parameters: the caller names it
        return error
    return None
