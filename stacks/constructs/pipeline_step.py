"""A pipeline step: one Lambda, its own role, and exactly the permissions that step's code uses.

Built from the step's declaration (stacks/pipeline_steps.py) by PipelineStack. The state machine invokes the
function; its ARN is substituted into `statemachines/pipeline.asl.json` under the step's substitution name
(`<State>FunctionArn`, stacks/state_machine_definition.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from common.environment import render
from pipeline.environment import PipelineEnvironment
from stacks.constructs.lambda_function import PythonFunction
from stacks.key_grants import grant_key_via
from stacks.nag import accept, accept_wildcards


class PipelineStep(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        description: str,
        substitution: str,
        ledger: dynamodb.ITable,
        ledger_access: str,  # "read" | "write"
        environment: dict[str, str] | None = None,  # pipeline.environment.PipelineEnvironment fields
        timeout: Duration = Duration.minutes(5),
        memory_size: int = 512,
        ephemeral_storage_mb: int | None = None,
        encryption_key=None,
        dockerfile: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.substitution = substitution
        self.lambda_ = PythonFunction(
            self,
            "Lambda",
            handler=handler,
            service="personalize-pipeline",
            description=description,
            environment=render(PipelineEnvironment, ledger_table=ledger.table_name, **(environment or {})),
            timeout=timeout,
            memory_size=memory_size,
            ephemeral_storage_mb=ephemeral_storage_mb,
            encryption_key=encryption_key,
            dockerfile=dockerfile,
        )
        self.function = self.lambda_.function
        self.role = self.lambda_.role
        # Exactly the calls of pipeline/ledger.py and status_changes.py (Table.grant_* would add Scan,
        # BatchWriteItem, DeleteItem and the stream actions, which nothing calls).
        read_actions = ["dynamodb:GetItem", "dynamodb:Query"]
        write_actions = ["dynamodb:PutItem", "dynamodb:UpdateItem"] if ledger_access == "write" else []
        self.role.add_to_policy(
            iam.PolicyStatement(actions=[*read_actions, *write_actions], resources=[ledger.table_arn])
        )
        if ledger.encryption_key is not None:
            # DynamoDB decrypts the table key for every read and write on the caller's behalf.
            grant_key_via(
                self.role,
                ledger.encryption_key,
                service="dynamodb",
                actions=["kms:Decrypt", "kms:DescribeKey"],
                resources=[ledger.table_name],
            )

    def allow(
        self, actions: Sequence[str], resources: Sequence[str], *, wildcard_reason: str | None = None
    ) -> None:
        """Add one statement; wildcard resources must come with the reason they cannot be narrower."""
        self.role.add_to_policy(iam.PolicyStatement(actions=list(actions), resources=list(resources)))
        wildcards = [r for r in resources if "*" in r]
        wildcard_actions = [a for a in actions if "*" in a]
        if wildcards or wildcard_actions:
            if not wildcard_reason:
                raise ValueError(
                    f"{self.node.path}: wildcard in {resources or actions} needs a stated reason"
                )
            accept_wildcards(self.role, resources=wildcards, actions=wildcard_actions, reason=wildcard_reason)

    def allow_unscoped(self, actions: Sequence[str], *, reason: str) -> None:
        """Grant actions that have no resource-level permissions on "*" (and nothing else), saying so."""
        missing = [a for a in actions if a.split(":", 1)[1] not in reason]
        if missing:
            raise ValueError(f"{self.node.path}: the reason for granting {missing} on * must name them")
        self.role.add_to_policy(iam.PolicyStatement(actions=list(actions), resources=["*"]))
        accept(self.role, "AwsSolutions-IAM5[Resource::*]", reason)
