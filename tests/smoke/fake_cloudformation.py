"""CloudFormation's DescribeStacks for the smoke tests (moto's CloudFormation needs extras this venv does not
have). A real boto3 client checks every request against botocore's model; a `before-call` hook answers in
place of AWS, with a response checked against the operation's output shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.validate import ParamValidator

from testkit.pipeline_harness import ACCOUNT, REGION


class FakeCloudFormation:
    """`stacks` maps a live stack's name to its status; the fake cdk runner adds and removes them."""

    def __init__(self) -> None:
        self.stacks: dict[str, str] = {}
        self.described: list[str] = []

    def client(self) -> Any:
        client = boto3.client("cloudformation", region_name=REGION)
        client.meta.events.register("before-call.cloudformation.DescribeStacks", self._describe_stacks)
        return client

    def _describe_stacks(self, model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict]:
        name = params["body"]["StackName"]
        self.described.append(name)
        if name not in self.stacks:
            # DescribeStacks: "If the stack doesn't exist, a ValidationError is returned." (a deleted stack
            # is found only by its unique stack id, never by name)
            error = {"Code": "ValidationError", "Message": f"Stack with id {name} does not exist"}
            return AWSResponse(f"https://cloudformation.{REGION}.amazonaws.com/", 400, {}, None), {
                "Error": error,
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
        stack = {
            "StackName": name,
            "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/0",
            "CreationTime": datetime(2026, 11, 1, tzinfo=UTC),
            "StackStatus": self.stacks[name],
        }
        response = {"Stacks": [stack]}
        report = ParamValidator().validate(response, model.output_shape)
        assert not report.has_errors(), report.generate_report()
        return AWSResponse(f"https://cloudformation.{REGION}.amazonaws.com/", 200, {}, None), {
            **response,
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }
