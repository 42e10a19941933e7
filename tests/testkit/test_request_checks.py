"""The one request check every fake uses refuses what boto3 or the service would refuse, and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ParamValidationError

from testkit.fakes import request_checks

ROLE = "arn:aws:iam::123456789012:role/personalize"
DATASET = "arn:aws:personalize:eu-west-1:123456789012:dataset/dev-de/INTERACTIONS"


class Refused(Exception):
    """What the test's error factory raises: the fake's own error, carrying what the service would say."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(message)
        self.operation, self.code, self.message = operation, code, message


def import_job(**overrides: Any) -> dict[str, Any]:
    return {
        "jobName": "dev-de-20261116-interactions",
        "datasetArn": DATASET,
        "dataSource": {"dataLocation": "s3://bucket/prepared/interactions/"},
        "roleArn": ROLE,
        "importMode": "FULL",
        **overrides,
    }


def event(n: int) -> dict[str, Any]:
    return {"eventType": "view", "sentAt": datetime(2026, 11, 16, tzinfo=UTC), "itemId": f"i{n}"}


def refused(operation: str, params: dict[str, Any], service: str = "personalize") -> Refused:
    with pytest.raises(Refused) as caught:
        request_checks.check_service_constraints(service, operation, params, Refused)
    return caught.value


def test_a_valid_request_passes_both_checks():
    request_checks.check_request("personalize", "CreateDatasetImportJob", import_job())
    request_checks.check_service_constraints("personalize", "CreateDatasetImportJob", import_job(), Refused)


def test_an_unknown_parameter_is_refused_with_botocores_message():
    with pytest.raises(ParamValidationError, match='Unknown parameter in input: "jobname", must be one of: jobName'):
        request_checks.check_request("personalize", "CreateDatasetImportJob", import_job(jobname="x"))


def test_a_wrong_type_is_refused_with_botocores_message():
    with pytest.raises(ParamValidationError, match="Invalid type for parameter jobName, value: 7, type: <class 'int'>"):
        request_checks.check_request("personalize", "CreateDatasetImportJob", import_job(jobName=7))


def test_a_missing_required_member_is_refused_with_botocores_message():
    params = import_job()
    del params["dataSource"]
    with pytest.raises(ParamValidationError, match='Missing required parameter in input: "dataSource"'):
        request_checks.check_request("personalize", "CreateDatasetImportJob", params)


def test_boto3s_check_leaves_length_enum_and_pattern_to_the_service():
    # What the service refuses passes the client-side check, as in boto3: check_service_constraints covers it.
    request_checks.check_request(
        "personalize", "CreateDatasetImportJob", import_job(jobName="x" * 64, importMode="PARTIAL", roleArn="role")
    )


def test_a_too_long_string_is_refused_as_the_service_would_naming_the_field_and_limit():
    error = refused("CreateDatasetImportJob", import_job(jobName="x" * 64))
    assert (error.operation, error.code) == ("CreateDatasetImportJob", "InvalidInputException")
    assert error.message == f"Value {'x' * 64!r} at 'jobName' length 64 exceeds 63."


def test_a_value_outside_the_enum_is_refused_as_the_service_would():
    error = refused("CreateDatasetImportJob", import_job(importMode="PARTIAL"))
    assert error.message == "Value 'PARTIAL' at 'importMode' is not one of ['FULL', 'INCREMENTAL']."


def test_a_nested_value_breaking_its_pattern_is_refused_naming_its_path():
    error = refused("CreateDatasetImportJob", import_job(dataSource={"dataLocation": "bucket/prepared/"}))
    assert error.message.startswith("Value 'bucket/prepared/' at 'dataSource.dataLocation' does not match ")


def test_an_integer_above_its_maximum_is_refused():
    error = refused("ListSolutions", {"maxResults": 101})
    assert error.message == "Value 101 at 'maxResults' exceeds 100."


def test_a_list_longer_than_its_maximum_is_refused_as_the_service_would():
    # PutEvents API reference, eventList: "Array Members: Minimum number of 1 item. Maximum number of 10 items."
    # and InvalidInputException: "Provide a valid value for the field or parameter." botocore checks the minimum
    # only.
    params = {"trackingId": "t", "sessionId": "s", "eventList": [event(n) for n in range(11)]}
    request_checks.check_request("personalize-events", "PutEvents", params)
    error = refused("PutEvents", params, service="personalize-events")
    assert (error.operation, error.code) == ("PutEvents", "InvalidInputException")
    assert error.message == "List at 'eventList' has 11 items, more than 10."
    request_checks.check_service_constraints(
        "personalize-events", "PutEvents", {**params, "eventList": params["eventList"][:10]}, Refused
    )


def test_tag_patterns_with_unicode_classes_are_not_applied():
    # Python's re has no \p{...}: such patterns are skipped rather than crash or refuse every tag.
    tags = [{"tagKey": "team", "tagValue": "personalisation-ü"}]
    request_checks.check_service_constraints("personalize", "CreateDatasetImportJob", import_job(tags=tags), Refused)


def test_other_services_are_checked_against_their_own_models():
    request_checks.check_request("athena", "GetQueryExecution", {"QueryExecutionId": "q-1"})
    with pytest.raises(ParamValidationError, match='Missing required parameter in input: "QueryExecutionId"'):
        request_checks.check_request("athena", "GetQueryExecution", {})


def test_a_response_in_the_operations_output_shape_passes():
    request_checks.check_response("personalize", "CreateSolution", {"solutionArn": "arn:solution"})


def test_a_response_in_a_shape_boto3_never_returns_is_refused():
    with pytest.raises(ParamValidationError, match="Invalid type for parameter solutionArn, value: 5"):
        request_checks.check_response("personalize", "CreateSolution", {"solutionArn": 5})
    with pytest.raises(ParamValidationError, match='Unknown parameter in input: "solutionName"'):
        request_checks.check_response("personalize", "CreateSolution", {"solutionArn": "a", "solutionName": "s"})


def test_an_operation_without_output_accepts_an_empty_response():
    request_checks.check_response("personalize", "StopSolutionVersionCreation", {})


@pytest.mark.parametrize("name", ["create_solution", "CreateSolution"])
def test_operations_are_named_either_way(name):
    assert request_checks.api_name("personalize", name) == "CreateSolution"


def test_an_unknown_operation_fails_loudly_naming_the_service():
    with pytest.raises(ValueError, match="'create_soluton' is not a Personalize operation"):
        request_checks.api_name("personalize", "create_soluton")
