"""cdk-nag (3.x) wiring: the AwsSolutions pack on the whole app, and the one way to accept a finding.

An acknowledgment is attached to the narrowest construct that causes the finding and must say why the
finding does not apply there. Each one is also recorded as construct metadata (`nag:accepted`, visible in
cdk.out/manifest.json) so the synth summary and the tests can list them.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

METADATA_TYPE = "nag:accepted"
PACK = "AwsSolutions"


def enable_checks(app: cdk.App) -> None:
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def accept(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge `rule` (e.g. 'AwsSolutions-IAM5[Resource::*]') on `construct` for a stated reason."""
    if len(reason.split()) < 6:
        raise ValueError(f"acknowledgment of {rule} on {construct.node.path} needs a specific reason")
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=f"{PACK}::{rule}", reason=reason))
    construct.node.add_metadata(METADATA_TYPE, {"rule": rule, "reason": reason})


def accepted_findings(root: IConstruct) -> list[tuple[str, str, str]]:
    """(construct path, rule, reason) for every acknowledgment under `root`."""
    found = []
    for construct in root.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == METADATA_TYPE:
                found.append((construct.node.path, entry.data["rule"], entry.data["reason"]))
    return found


def arn_token(resource: IConstruct, suffix: str = "") -> str:
    """How cdk-nag names `resource`'s ARN in a finding, e.g. '<Prepared9D5FCEAD.Arn>/*' for suffix '/*'."""
    element = resource.node.default_child or resource
    if not isinstance(element, cdk.CfnElement):
        raise TypeError(f"{resource.node.path} is not a CloudFormation resource and has none as its default child")
    logical_id = cdk.Stack.of(resource).resolve(element.logical_id)
    return f"<{logical_id}.Arn>{suffix}"


def render_for_finding(scope: IConstruct, value: str) -> str:
    """Render an ARN (possibly with tokens) the way cdk-nag names it in a finding id.

    Tokens resolve to CloudFormation intrinsics; cdk-nag prints `Ref X` as `<X>` and `Fn::GetAtt [A, B]` as
    `<A.B>`, joining the parts of `Fn::Join` as they are.
    """
    return render_intrinsic(cdk.Stack.of(scope).resolve(value))


def render_intrinsic(node) -> str:
    """A resolved template value as cdk-nag prints it: `Ref X` -> <X>, `Fn::GetAtt [A, B]` -> <A.B>."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and "Ref" in node:
        return f"<{node['Ref']}>"
    if isinstance(node, dict) and "Fn::GetAtt" in node:
        return f"<{'.'.join(node['Fn::GetAtt'])}>"
    if isinstance(node, dict) and "Fn::Join" in node:
        separator, parts = node["Fn::Join"]
        return separator.join(render_intrinsic(part) for part in parts)
    if isinstance(node, dict) and "Fn::ImportValue" in node:
        return f"<{render_intrinsic(node['Fn::ImportValue'])}>"
    raise ValueError(f"cannot render {node!r} for a cdk-nag finding id")


def accept_wildcards(construct: IConstruct, *, resources=(), actions=(), reason: str) -> None:
    """Accept AwsSolutions-IAM5 for exactly these wildcard resources/actions of `construct`'s policy."""
    for resource in resources:
        accept(construct, f"AwsSolutions-IAM5[Resource::{render_for_finding(construct, resource)}]", reason)
    for action in actions:
        accept(construct, f"AwsSolutions-IAM5[Action::{action}]", reason)
