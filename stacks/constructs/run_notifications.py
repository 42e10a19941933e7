"""The env's run notifications: one encrypted SNS topic (run outcomes, alarms) and the one way to let a role
publish to it."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions

from stacks.config import EnvironmentConfig
from stacks.key_grants import key_statement


def notifications_topic(stack: Stack, config: EnvironmentConfig, key: kms.IKey) -> sns.Topic:
    topic = sns.Topic(
        stack,
        "RunNotifications",
        display_name=f"Personalize runs ({config.env})",
        master_key=key,
        enforce_ssl=True,
    )
    for email in config.notification_emails:
        topic.add_subscription(subscriptions.EmailSubscription(email))
    return topic


def grant_publish_notifications(topic: sns.ITopic, key: kms.IKey, role: iam.IRole) -> None:
    """sns:Publish on the run topic; its KMS use only through SNS for that topic (topic.grant_publish would
    grant kms:Decrypt and kms:GenerateDataKey* on the env key with no condition)."""
    role.add_to_principal_policy(iam.PolicyStatement(actions=["sns:Publish"], resources=[topic.topic_arn]))
    role.add_to_principal_policy(
        key_statement(key, service="sns", actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[topic.topic_arn])
    )
