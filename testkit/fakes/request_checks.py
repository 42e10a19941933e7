"""A fake's requests and responses checked against botocore's model of the real service.

A fake that accepts a call boto3 would refuse, or answers in a shape boto3 never would, hides bugs. botocore's
client-side validator (`validate_parameters`, what boto3 runs before sending) checks names, types and required
members but leaves max lengths (of strings and lists), patterns, enums and integer maxima to the service;
`check_service_constraints` checks those as the service would, raising the fake's own error for them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import botocore.session
from botocore import xform_name
from botocore.model import ServiceModel
from botocore.validate import validate_parameters

# (operation, error code, message) -> the exception the fake raises, as the service's client would
ErrorFactory = Callable[[str, str, str], Exception]


@functools.cache
def service_model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


@functools.cache
def _snake_to_api(service: str) -> dict[str, str]:
    return {xform_name(name): name for name in service_model(service).operation_names}


def api_name(service: str, operation: str) -> str:
    """'create_solution' or 'CreateSolution' -> 'CreateSolution' (unknown names fail loudly)."""
    if operation in service_model(service).operation_names:
        return operation
    try:
        return _snake_to_api(service)[operation]
    except KeyError:
        raise ValueError(f"{operation!r} is not a {service_model(service).service_id} operation") from None


def check_request(service: str, operation: str, params: dict[str, Any]) -> None:
    """What boto3 checks before sending: raises botocore's ParamValidationError."""
    validate_parameters(params, service_model(service).operation_model(api_name(service, operation)).input_shape)


def check_response(service: str, operation: str, response: dict[str, Any]) -> None:
    """The fake's answer has the shape of the operation's output (an operation without output passes)."""
    output = service_model(service).operation_model(api_name(service, operation)).output_shape
    if output is not None:
        validate_parameters(response, output)


def check_service_constraints(service: str, operation: str, params: dict[str, Any], error: ErrorFactory) -> None:
    """What botocore leaves to the service (max lengths of strings and lists, patterns, enums, integer maxima),
    refused with `error(operation, "InvalidInputException", message)`."""
    api = api_name(service, operation)
    _server_side_checks(params, service_model(service).operation_model(api).input_shape, api, error)


def _server_side_checks(value: Any, shape: Any, operation: str, error: ErrorFactory, path: str = "") -> None:
    where = path or "input"
    if shape.type_name == "structure":
        for key, member in shape.members.items():
            if key in value:
                _server_side_checks(value[key], member, operation, error, f"{path}.{key}".lstrip("."))
    elif shape.type_name == "list":
        if "max" in shape.metadata and len(value) > shape.metadata["max"]:
            # e.g. PutEvents' eventList, "Array Members: Minimum number of 1 item. Maximum number of 10 items."
            # (API reference): boto3 sends 11 events, the service refuses them.
            message = f"List at '{where}' has {len(value)} items, more than {shape.metadata['max']}."
            raise error(operation, "InvalidInputException", message)
        for index, item in enumerate(value):
            _server_side_checks(item, shape.member, operation, error, f"{where}[{index}]")
    elif shape.type_name == "map":
        for key, item in value.items():
            _server_side_checks(item, shape.value, operation, error, f"{where}.{key}")
    elif shape.type_name == "string":
        problem = _string_problem(value, shape)
        if problem:
            raise error(operation, "InvalidInputException", f"Value {value!r} at '{where}' {problem}.")
    elif shape.type_name in ("integer", "long") and "max" in shape.metadata and value > shape.metadata["max"]:
        raise error(operation, "InvalidInputException", f"Value {value} at '{where}' exceeds {shape.metadata['max']}.")


def _string_problem(value: str, shape: Any) -> str | None:
    """Patterns are Java regexes matched whole; the few using \\p{...} classes (tags) are skipped."""
    meta = shape.metadata
    if "max" in meta and len(value) > meta["max"]:
        return f"length {len(value)} exceeds {meta['max']}"
    if "pattern" in meta and "\\p" not in meta["pattern"] and not re.fullmatch(meta["pattern"], value):
        return f"does not match {meta['pattern']}"
    if shape.enum and value not in shape.enum:
        return f"is not one of {shape.enum}"
    return None
