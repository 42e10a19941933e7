"""The daily schedules: EventBridge Scheduler starts the pipeline once per country per day at the country's run
time in its time zone, with the country's run settings (stacks/run_settings.py) as the execution input. Runs
it could not start wait in an encrypted dead-letter queue. Built in the stack's own scope."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_stepfunctions as sfn

from stacks.config import EnvironmentConfig
from stacks.constructs.dead_letter_queue import dead_letter_queue
from stacks.constructs.raw_catalog import RawCatalog
from stacks.country_stack import CountryStack
from stacks.key_grants import key_statement
from stacks.names import schedule_group_arn, schedule_name, schedules_arn, state_machine_arn
from stacks.run_settings import run_settings


class DailySchedules:
    """`schedules` (country code -> Schedule), their `role` and `dlq`."""

    def __init__(
        self,
        stack: Stack,
        *,
        config: EnvironmentConfig,
        key: kms.IKey,
        state_machine: sfn.IStateMachine,
        personalize_role: iam.IRole,
        countries: dict[str, CountryStack],
        catalog: RawCatalog,
    ) -> None:
        self.dlq = dlq = dead_letter_queue(stack, "ScheduleDlq", config, key)
        # One role for every country's schedule: start this env's pipeline, dead-letter into the encrypted DLQ.
        self.role = iam.Role(
            stack,
            "SchedulerRole",
            description=f"EventBridge Scheduler starts the {config.env} pipeline per country",
            # Scheduler sends the schedule group as aws:SourceArn. Its confused-deputy page (Scheduler User Guide,
            # cross-service-confused-deputy-prevention): "The value of aws:SourceArn must be your EventBridge
            # Scheduler schedule group ARN ... Do not scope the aws:SourceArn statement to a specific schedule or a
            # schedule name prefix." Our schedules are in the default group.
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account, "aws:SourceArn": schedule_group_arn(stack)}
                },
            ),
        )
        # The env key, three ways, each only for its own resource: the schedule's encrypted target input (the
        # role itself decrypts it: no kms:ViaService), the encrypted state machine's execution input, the DLQ.
        self.role.add_to_policy(
            key_statement(
                key,
                service="scheduler",
                actions=["kms:Decrypt"],
                resources=[schedules_arn(stack, config)],
                via_service=False,
            )
        )
        self.role.add_to_policy(
            key_statement(
                key, service="states", actions=["kms:GenerateDataKey"], resources=[state_machine_arn(stack, config)]
            )
        )
        self.role.add_to_policy(
            key_statement(key, service="sqs", actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[dlq.queue_arn])
        )

        self.schedules: dict[str, scheduler.Schedule] = {}
        for country in config.countries:
            settings = run_settings(
                config,
                country,
                countries[country.code],
                personalize_role_arn=personalize_role.role_arn,
                catalog=catalog,
            )
            target = scheduler_targets.StepFunctionsStartExecution(
                state_machine,
                input=scheduler.ScheduleTargetInput.from_object(
                    {"settings": settings, "scheduled_time": scheduler.ContextAttribute.scheduled_time}
                ),
                dead_letter_queue=dlq,
                retry_attempts=5,
                max_event_age=Duration.hours(6),
                role=self.role,
            )
            schedule = scheduler.Schedule(
                stack,
                f"Daily{country.code}",
                schedule_name=schedule_name(config, country),
                description=f"Daily Personalize pipeline for {country.code} at {country.run_time:%H:%M} "
                f"{country.time_zone}",
                schedule=scheduler.ScheduleExpression.cron(
                    minute=str(country.run_time.minute),
                    hour=str(country.run_time.hour),
                    time_zone=cdk.TimeZone.of(country.time_zone),
                ),
                target=target,
            )
            # The schedule is encrypted with the env key, set on the L1: Schedule(key=...) would also grant the
            # role kms:Decrypt on the whole key with no condition (the scoped grant is above).
            cfn_schedule = schedule.node.default_child
            cfn_schedule.add_property_override("KmsKeyArn", key.key_arn)  # type: ignore[union-attr]
            self.schedules[country.code] = schedule
