"""Failed runs are recorded and announced: EventBridge hands every failed, timed-out or aborted execution of the
pipeline to the failure recorder (ledger record, notification, event), and what the recorder cannot handle
waits in an encrypted queue instead of being dropped. Built in the stack's own scope."""

from __future__ import annotations

from typing import Any

import jsii
from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from pipeline.handlers import FAILURE_RECORDER
from stacks.config import EnvironmentConfig
from stacks.constructs.dead_letter_queue import dead_letter_queue
from stacks.constructs.pipeline_state_machine import pipeline_step
from stacks.constructs.run_notifications import grant_publish_notifications
from stacks.key_grants import key_statement
from stacks.names import executions_arn, state_machine_arn


@jsii.implements(lambda_.IDestination)
class _EncryptedQueueDestination:
    """lambda_destinations.SqsDestination, with the key grant scoped like every other (stacks/key_grants.py):
    Lambda sends the invocation record with the function's role, so that role may send to this queue and use
    the key only through SQS for it (SqsDestination would grant kms:ReEncrypt*/GenerateDataKey* on the key)."""

    def __init__(self, queue: sqs.IQueue, key: kms.IKey) -> None:
        self.queue, self.key = queue, key

    def bind(self, _scope: Construct, fn: lambda_.IFunction, *, type: Any = None) -> lambda_.DestinationConfig:  # noqa: A002
        fn.add_to_role_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.queue.queue_arn]))
        fn.add_to_role_policy(
            key_statement(
                self.key,
                service="sqs",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[self.queue.queue_arn],
            )
        )
        return lambda_.DestinationConfig(destination=self.queue.queue_arn)


class FailureRecording:
    """`recorder` (the record_failure step), `failures` (invocations the recorder failed) and `dlq` (status
    changes EventBridge could not deliver), `rule`."""

    def __init__(
        self,
        stack: Stack,
        *,
        config: EnvironmentConfig,
        key: kms.IKey,
        ledger: dynamodb.ITable,
        topic: sns.ITopic,
        state_machine: sfn.IStateMachine,
    ) -> None:
        recorder = pipeline_step(
            stack,
            "RecordFailure",
            FAILURE_RECORDER,
            "Ledger record and notification for failed, timed-out or aborted runs",
            "RecordFailureFunctionArn",
            config=config,
            key=key,
            ledger=ledger,
            environment={"topic_arn": topic.topic_arn, "event_bus_name": "default"},
        )
        # The failed step from the history; the run's input and current attempt from DescribeExecution (an event
        # may come without the input, and a late one must not be recorded over a redrive).
        recorder.allow(
            ["states:DescribeExecution", "states:GetExecutionHistory"],
            [executions_arn(stack, config)],
            wildcard_reason="Executions of this env's pipeline only; their names are chosen at start.",
        )
        # The history (failed step's error and cause) and the execution's input are encrypted with the state
        # machine's key: "The execution history and state machine definition will be encrypted with the key
        # applied to the State Machine" (Step Functions guide, data at rest encryption).
        recorder.role.add_to_policy(
            key_statement(key, service="states", actions=["kms:Decrypt"], resources=[state_machine_arn(stack, config)])
        )
        recorder.allow(
            ["events:PutEvents"],
            [stack.format_arn(service="events", resource="event-bus", resource_name="default")],
        )
        grant_publish_notifications(topic, key, recorder.role)
        # EventBridge invokes the recorder asynchronously: once Lambda has accepted the event, a recorder that
        # raises is Lambda's to retry (twice), then Lambda sends its invocation record (the status change, the
        # error) here instead of dropping it: a failed run without its ledger record or notification.
        self.failures = dead_letter_queue(stack, "FailureRecorderFailures", config, key)
        recorder.function.configure_async_invoke(
            on_failure=_EncryptedQueueDestination(self.failures, key),
            retry_attempts=2,
            max_event_age=Duration.hours(6),
        )
        # Status changes EventBridge could not hand to Lambda at all (invoke throttled or denied for 24 h).
        self.dlq = dead_letter_queue(stack, "FailureRecorderDlq", config, key)
        self.rule = events.Rule(
            stack,
            "FailedRuns",
            description="Pipeline executions that failed, timed out or were aborted",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "status": ["FAILED", "TIMED_OUT", "ABORTED"],
                    "stateMachineArn": [state_machine.state_machine_arn],
                },
            ),
            targets=[
                events_targets.LambdaFunction(
                    recorder.function,
                    retry_attempts=8,
                    max_event_age=Duration.hours(24),
                    dead_letter_queue=self.dlq,
                )
            ],
        )
        self.recorder = recorder
