"""Lambda's asynchronous invocation, as documented, for a function of the synthesised pipeline stack.

What AWS does once Lambda has accepted an asynchronous event (EventBridge's hand-over), from the function's
synthesised `AWS::Lambda::EventInvokeConfig` (no config: Lambda's defaults):

- "If the function returns an error, by default Lambda attempts to run it two more times, with a one-minute wait
  between the first two attempts, and two minutes between the second and third attempts" (Lambda developer
  guide, invocation-async-error-handling); `MaximumRetryAttempts` sets the retries (0-2) and
  `MaximumEventAgeInSeconds` how long an event may wait (default 6 hours).
- Then Lambda sends an invocation record to the on-failure destination; "For SNS/SQS ... the invocation record
  JSON is passed as the `Message`". Its documented failure format (aws-cdk-lib aws_lambda_destinations README,
  after the Lambda guide's invocation-async-retain-records):

      {"version": "1.0", "timestamp": "...",
       "requestContext": {"requestId": "...", "functionArn": "...:$LATEST", "condition": "RetriesExhausted",
                          "approximateInvokeCount": 3},
       "requestPayload": <the event>,
       "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Handled"},
       "responsePayload": {"errorMessage": "...", "errorType": "...", "stackTrace": [...]}}

  (`functionError` is `Unhandled` for an uncaught exception, as in the Invoke API's X-Amz-Function-Error.)
  Without a destination the event is dropped.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

# Waits before the 2nd and 3rd attempt, as documented.
RETRY_WAITS_SECONDS = (60, 120)
DEFAULT_RETRY_ATTEMPTS = 2
DEFAULT_MAX_EVENT_AGE_SECONDS = 6 * 3600


@dataclass(frozen=True)
class AsyncInvokeConfig:
    function_logical_id: str
    retry_attempts: int = DEFAULT_RETRY_ATTEMPTS
    max_event_age_seconds: int = DEFAULT_MAX_EVENT_AGE_SECONDS
    on_failure_logical_id: str | None = None  # the destination queue's logical id

    @classmethod
    def of(cls, template: dict[str, Any], function_logical_id: str) -> AsyncInvokeConfig:
        for resource in template["Resources"].values():
            props = resource.get("Properties", {})
            if resource["Type"] != "AWS::Lambda::EventInvokeConfig":
                continue
            if props["FunctionName"] != {"Ref": function_logical_id}:
                continue
            destination = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            queue_id = None
            if destination is not None:
                queue_id = destination["Fn::GetAtt"][0]
                kind = template["Resources"][queue_id]["Type"]
                assert kind == "AWS::SQS::Queue", f"only SQS destinations are simulated, not {kind}"
            return cls(
                function_logical_id,
                props.get("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS),
                props.get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE_SECONDS),
                queue_id,
            )
        return cls(function_logical_id)


@dataclass
class AsyncLambda:
    """Asynchronous invocations of one harness function: `invoke(event)` runs it in-process with Lambda's retries
    on the harness clock and sends the invocation record of an event that failed every attempt to the
    destination queue (a moto queue named after the destination's logical id)."""

    harness: Any  # testkit.pipeline_harness.PipelineHarness
    config: AsyncInvokeConfig
    attempts: list[str] = field(default_factory=list)  # "ok" or the error type, per attempt

    @classmethod
    def of(cls, harness: Any, function_logical_id: str) -> AsyncLambda:
        return cls(harness, AsyncInvokeConfig.of(harness.template, function_logical_id))

    @property
    def destination_queue_url(self) -> str | None:
        if self.config.on_failure_logical_id is None:
            return None
        return self.harness.sqs.create_queue(QueueName=self.config.on_failure_logical_id)["QueueUrl"]

    def invoke(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Returns the invocation record sent to the destination (None: the event succeeded, or was dropped)."""
        accepted = self.harness.clock.now()
        response: dict[str, Any] = {}
        count = 0
        for count in range(1, self.config.retry_attempts + 2):
            if count > 1:
                self.harness.clock.advance(RETRY_WAITS_SECONDS[min(count - 2, len(RETRY_WAITS_SECONDS) - 1)])
                if self.harness.clock.now() - accepted > timedelta(seconds=self.config.max_event_age_seconds):
                    return self._on_failure(event, "EventAgeExceeded", count - 1, response)
            headers: dict[str, str] = {}
            body = self.harness._invoke(self.config.function_logical_id, json.dumps(event), headers)
            response = json.loads(body) if body else {}
            if "X-Amz-Function-Error" not in headers:
                self.attempts.append("ok")
                return None
            self.attempts.append(response.get("errorType", "Unhandled"))
        return self._on_failure(event, "RetriesExhausted", count, response)

    def _on_failure(
        self, event: dict[str, Any], condition: str, count: int, response: dict[str, Any]
    ) -> dict[str, Any] | None:
        queue_url = self.destination_queue_url
        if queue_url is None:
            return None  # no destination: Lambda discards the event
        function_arn = self.harness.refs[f"{self.config.function_logical_id}.Arn"]
        record = {
            "version": "1.0",
            "timestamp": self.harness.clock.now().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{function_arn}:$LATEST",
                "condition": condition,
                "approximateInvokeCount": count,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": response,
        }
        self.harness.sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))
        return record
