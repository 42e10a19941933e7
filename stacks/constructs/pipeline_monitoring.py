"""The pipeline's alarms and dashboard: failed, timed-out and aborted runs, anything waiting in a dead-letter
queue, step errors, a failing failure recorder and run notifications that could not be sent. Every alarm goes
to the run topic. Built in the stack's own scope."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from cdk_monitoring_constructs import (
    AlarmFactoryDefaults,
    ErrorCountThreshold,
    MaxMessageCountThreshold,
    MonitoringFacade,
    SnsAlarmActionStrategy,
)

from stacks.config import EnvironmentConfig
from stacks.constructs.pipeline_step import PipelineStep
from stacks.names import state_machine_name
from stacks.state_machine_definition import NOTIFICATION_METRIC_NAMESPACE


def pipeline_monitoring(
    stack: Stack,
    config: EnvironmentConfig,
    *,
    topic: sns.ITopic,
    state_machine: sfn.IStateMachine,
    queues: Sequence[tuple[str, sqs.IQueue]],
    steps: Mapping[str, PipelineStep],
    recorder: PipelineStep,
) -> MonitoringFacade:
    """`queues`: (human-readable name, dead-letter queue); `steps` in dashboard order, `recorder` among them."""
    monitoring = MonitoringFacade(
        stack,
        "Monitoring",
        alarm_factory_defaults=AlarmFactoryDefaults(
            actions_enabled=True,
            alarm_name_prefix=config.name_prefix,
            action=SnsAlarmActionStrategy(on_alarm_topic=topic),
            # 1 of 1, not the library's 3 of 3: a daily run that fails is one datapoint in one period and the
            # periods beside it have no data, which these alarms treat as not breaching (CloudWatch: "Datapoints
            # to Alarm is the number of data points within the Evaluation Periods that must be breaching"), so
            # 3 of 3 never fires; a queue holding one message alarms at once too (tests/infra/test_alarms.py).
            evaluation_periods=1,
            datapoints_to_alarm=1,
        ),
    )
    any_run = {"Any": ErrorCountThreshold(max_error_count=0)}
    monitoring.monitor_step_function(
        state_machine=state_machine,
        human_readable_name="Daily pipeline",
        add_failed_execution_count_alarm=any_run,
        add_timed_out_execution_count_alarm=any_run,
        add_aborted_execution_count_alarm=any_run,
    )
    for name, queue in queues:
        monitoring.monitor_sqs_queue(
            queue=queue,
            human_readable_name=name,
            add_queue_max_size_alarm={"NotEmpty": MaxMessageCountThreshold(max_message_count=0)},
        )
    for step in steps.values():
        # A recorder error is a failed run nobody may have heard of (its event waits in a queue above).
        is_recorder = step is recorder
        recorder_alarm: dict[str, Any] = (
            {"add_fault_count_alarm": {"Any": ErrorCountThreshold(max_error_count=0)}} if is_recorder else {}
        )
        monitoring.monitor_lambda_function(
            lambda_function=step.function, add_to_alarm_dashboard=is_recorder, **recorder_alarm
        )
    # Runs whose SNS notification or EventBridge event failed after Finish recorded them (the execution still
    # succeeds). The alarm's own e-mail goes through the same topic, so it may not arrive when SNS itself is
    # the problem: the alarm state and the dashboard still show it.
    notifications_failed = cloudwatch.Metric(
        namespace=NOTIFICATION_METRIC_NAMESPACE,
        metric_name="NotificationsFailed",
        dimensions_map={"StateMachine": state_machine_name(config)},
        statistic="Sum",
        period=Duration.minutes(5),
    )
    alarm = notifications_failed.create_alarm(
        stack,
        "NotificationsFailedAlarm",
        alarm_name=f"{config.name_prefix}-run-notifications-failed",
        alarm_description="A run finished but its notification (SNS) or event (EventBridge) could not be sent; "
        "see the execution output's notify_failure / announce_failure (docs/runbook.md).",
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
    monitoring.add_large_header("Notifications").add_widget(
        cloudwatch.AlarmWidget(alarm=alarm, title="Run notifications failed")
    )
    return monitoring
