"""Each AWS response field a cost driver is read from exists in botocore's service model with the assumed type."""

from __future__ import annotations

import pytest

from testkit.fakes.request_checks import service_model

# (service, operation, path in the response, botocore type name, input or output shape)
READ_FIELDS = [
    # pipeline.athena_jobs: the bytes Athena bills each query for
    ("athena", "GetQueryExecution", ("QueryExecution", "Statistics", "DataScannedInBytes"), "long", "output"),
    # pipeline.steps.train: billed training hours of a solution version
    ("personalize", "DescribeSolutionVersion", ("solutionVersion", "trainingHours"), "double", "output"),
    # pipeline.cost_drivers: campaigns are created and kept at the configured minimum TPS
    ("personalize", "CreateCampaign", ("minProvisionedTPS",), "integer", "input"),
    ("personalize", "DescribeCampaign", ("campaign", "minProvisionedTPS"), "integer", "output"),
]


@pytest.mark.parametrize(("service", "operation", "path", "type_name", "side"), READ_FIELDS)
def test_the_field_a_driver_is_read_from_exists_with_its_type(service, operation, path, type_name, side):
    operation_model = service_model(service).operation_model(operation)
    shape = operation_model.output_shape if side == "output" else operation_model.input_shape
    for name in path:
        assert name in shape.members, f"{operation} has no {name} (under {shape.name})"
        shape = shape.members[name]
    assert shape.type_name == type_name
