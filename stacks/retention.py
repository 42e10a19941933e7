"""What happens to resources that hold data or unprocessed work when their stack is updated or deleted.

Outside dev every bucket, key, table, stream and queue is RETAIN (CloudFormation's DeletionPolicy and
UpdateReplacePolicy): a stack deletion, or an update that replaces the resource, leaves it in the account for
a person to empty or delete on purpose. Only dev, which holds sample data, is torn down with its stacks.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy

from stacks.config import DEFAULT_ENV, EnvironmentConfig


def data_removal_policy(config: EnvironmentConfig) -> RemovalPolicy:
    return RemovalPolicy.DESTROY if config.env == DEFAULT_ENV else RemovalPolicy.RETAIN
