"""The one shape of a grant to run Athena queries over this app's Glue tables (RawCatalog.grant_query,
ReportCatalog.grant_query): query actions in one workgroup, the Glue entries of the tables the queries name
(the catalog, the database, each table), then the catalogue's own S3 statements, all on the grantee's policy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import IConstruct

# No GetPartitions: every table uses partition projection, so Athena never lists partitions.
GLUE_TABLE_READ = ("glue:GetDatabase", "glue:GetTable")


def glue_table_arns(scope: IConstruct, database: str, tables: Iterable[str]) -> list[str]:
    """The Glue entries a query on `tables` reads: the account's catalog, the database, each table."""
    stack = Stack.of(scope)
    return [
        stack.format_arn(service="glue", resource="catalog"),
        stack.format_arn(service="glue", resource="database", resource_name=database),
        *(stack.format_arn(service="glue", resource="table", resource_name=f"{database}/{t}") for t in tables),
    ]


def query_statements(
    scope: IConstruct,
    *,
    workgroup_arn: str,
    athena_actions: Sequence[str],
    database: str,
    tables: Iterable[str],
    athena_sid: str,
    glue_sid: str,
) -> list[iam.PolicyStatement]:
    """Run queries in the workgroup (`athena_actions`) over `tables` of `database`."""
    return [
        iam.PolicyStatement(sid=athena_sid, actions=list(athena_actions), resources=[workgroup_arn]),
        iam.PolicyStatement(
            sid=glue_sid, actions=list(GLUE_TABLE_READ), resources=glue_table_arns(scope, database, tables)
        ),
    ]


def grant_statements(grantee: iam.IGrantable, statements: Iterable[iam.PolicyStatement]) -> iam.IPrincipal:
    """Add the statements to the grantee's policy, in order; the principal, for its cdk-nag acknowledgments."""
    principal = grantee.grant_principal
    for statement in statements:
        principal.add_to_principal_policy(statement)
    return principal
