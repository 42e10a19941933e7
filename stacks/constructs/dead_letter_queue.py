"""The pipeline's dead-letter queues: work that could not be done (a schedule that could not start a run, a
failed run that could not be recorded), kept encrypted for 14 days."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs

from stacks.config import EnvironmentConfig
from stacks.nag import accept
from stacks.retention import data_removal_policy


def dead_letter_queue(stack: Stack, construct_id: str, config: EnvironmentConfig, key: kms.IKey) -> sqs.Queue:
    queue = sqs.Queue(
        stack,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=Duration.days(14),
        # Unprocessed work (a failed start, an unrecorded failure): kept when the stack goes, outside dev.
        removal_policy=data_removal_policy(config),
    )
    accept(queue, "AwsSolutions-SQS3", "This queue is itself a dead-letter queue; it has no DLQ of its own.")
    return queue
