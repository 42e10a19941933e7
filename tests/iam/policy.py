"""An IAM evaluator over the synthesised templates: who may make which request, as IAM decides it.

The cloud assembly's templates are read as CloudFormation would deploy them in one fixed account and region
(those of testkit/pipeline_harness.py): every intrinsic (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split,
Fn::ImportValue, pseudo parameters) resolves to a concrete name or ARN, so a granted ARN is compared with the
ARN a real call would name. Physical names are the templates' own (TableName, BucketName, ...); a resource
without one is named after its logical id, as the pipeline harness names its moto stand-ins.

Evaluation follows the IAM policy evaluation logic for one account
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
- an explicit Deny in any applicable policy wins;
- otherwise the request is allowed if an identity policy of the principal, or a resource policy naming it,
  allows it; a KMS key policy must allow it itself or delegate to IAM (the account root principal) -- "no
  IAM policy by itself is sufficient to allow access to a KMS key";
- an Allow needs the action (wildcards, case-insensitive), every resource of the request (ARN globs with *
  and ?, matched per colon-delimited segment as ArnLike does) and every condition (operators AND, keys AND,
  values OR; a key absent from the request makes a positive operator false, a negated one true,
  `...IfExists` true).
A request on an action without resource-level permissions (policy_sentry: only resource_arn_format "*")
names the resource "*", which only `"Resource": "*"` matches.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policy_sentry.querying.actions import get_action_data

from testkit.pipeline_harness import ACCOUNT, REGION

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": None,
}
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


# ------------------------------------------------------------------------------------------------- requests


class NotModelled(AssertionError):
    """A call, condition or policy the oracle has no rule for. It fails the test on purpose: an unmodelled call
    would otherwise pass without being authorized. Add the mapping (with its source) when a test hits it."""


@dataclass(frozen=True)
class Request:
    action: str  # "service:Action"
    resources: tuple[str, ...]  # ARNs, or ("*",) for actions without resource-level permissions
    context: tuple[tuple[str, Any], ...] = ()  # condition keys of the request (tuple: hashable)

    @classmethod
    def of(cls, action: str, resources: Iterable[str], context: dict[str, Any] | None = None) -> Request:
        frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in (context or {}).items()))
        return cls(action, tuple(resources), frozen)

    @property
    def context_dict(self) -> dict[str, Any]:
        return dict(self.context)

    def describe(self) -> str:
        context = ", ".join(f"{k}={v}" for k, v in self.context)
        return f"{self.action} on {', '.join(self.resources)}" + (f" [{context}]" if context else "")


@functools.cache
def canonical_action(action: str) -> str:
    """The action as AWS's reference spells it (fails loudly on a name that does not exist)."""
    service, name = action.split(":", 1)
    data = get_action_data(service.lower(), name)
    if not data:
        raise KeyError(f"{action} is not an action in the Service Authorization Reference")
    rows = next(iter(data.values()))
    return f"{service.lower()}:{rows[0]['action'].split(':', 1)[1]}"


# ------------------------------------------------------------------------------------------------- matching


@functools.cache
def _glob(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def glob_matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _glob(pattern, ignore_case).fullmatch(value) is not None


def arn_matches(pattern: str, arn: str) -> bool:
    """ArnLike: each of the six colon-delimited components is matched on its own; "*" alone matches all."""
    if pattern == "*":
        return True
    pattern_parts, arn_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(pattern_parts) != 6 or len(arn_parts) != 6:
        return glob_matches(pattern, arn)
    return all(glob_matches(p, a) for p, a in zip(pattern_parts, arn_parts, strict=True))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _string(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


_POSITIVE = {
    "StringEquals": lambda actual, wanted: actual == wanted,
    "StringEqualsIgnoreCase": lambda actual, wanted: actual.lower() == wanted.lower(),
    "StringLike": lambda actual, wanted: glob_matches(wanted, actual),
    "ArnEquals": lambda actual, wanted: arn_matches(wanted, actual),
    "ArnLike": lambda actual, wanted: arn_matches(wanted, actual),
    "Bool": lambda actual, wanted: actual.lower() == wanted.lower(),
    "NumericEquals": lambda actual, wanted: float(actual) == float(wanted),
    "NumericLessThan": lambda actual, wanted: float(actual) < float(wanted),
    "NumericLessThanEquals": lambda actual, wanted: float(actual) <= float(wanted),
    "NumericGreaterThan": lambda actual, wanted: float(actual) > float(wanted),
    "NumericGreaterThanEquals": lambda actual, wanted: float(actual) >= float(wanted),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
}


def condition_holds(operator: str, key: str, wanted: Any, context: dict[str, Any]) -> bool:
    """One (operator, key) pair of a Condition block against the request context (keys case-insensitive)."""
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    lowered = {k.lower(): v for k, v in context.items()}
    present = key.lower() in lowered
    wanted_values = [_string(v) for v in _as_list(wanted)]
    if base == "Null":
        return (not present) == (wanted_values[0].lower() == "true")
    if base not in _POSITIVE and base not in _NEGATED:
        raise NotModelled(f"condition operator {operator} is not modelled")
    negated = base in _NEGATED
    if not present:
        return if_exists or negated or qualifier == "ForAllValues"
    actual_values = [_string(v) for v in _as_list(lowered[key.lower()])]
    compare = _POSITIVE[_NEGATED.get(base, base)]

    def matches(actual: str) -> bool:
        hit = any(compare(actual, value) for value in wanted_values)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(matches(a) for a in actual_values)
    return any(matches(a) for a in actual_values)


# ----------------------------------------------------------------------------------------------- statements


@dataclass(frozen=True)
class Statement:
    origin: str  # "<stack>/<logical id of the policy>#<index> (<Sid>)"
    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    conditions: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]
    principals: tuple[tuple[str, tuple[str, ...]], ...] = ()  # resource policies: ("AWS"|"Service"|"*", values)

    @classmethod
    def parse(cls, origin: str, raw: dict[str, Any]) -> Statement:
        principal = raw.get("Principal")
        if principal == "*":
            principals: tuple[tuple[str, tuple[str, ...]], ...] = (("*", ("*",)),)
        else:
            principals = tuple((kind, tuple(_as_list(values))) for kind, values in (principal or {}).items())
        conditions = tuple(
            (operator, tuple((key, tuple(_as_list(value))) for key, value in block.items()))
            for operator, block in (raw.get("Condition") or {}).items()
        )
        sid = f" ({raw['Sid']})" if raw.get("Sid") else ""
        return cls(
            origin=origin + sid,
            effect=raw["Effect"],
            actions=tuple(_as_list(raw.get("Action"))),
            not_actions=tuple(_as_list(raw.get("NotAction"))),
            resources=tuple(_as_list(raw.get("Resource"))),
            not_resources=tuple(_as_list(raw.get("NotResource"))),
            conditions=conditions,
            principals=principals,
        )

    def matches_action(self, action: str) -> bool:
        if self.not_actions:
            return not any(glob_matches(a, action, ignore_case=True) for a in self.not_actions)
        return any(glob_matches(a, action, ignore_case=True) for a in self.actions)

    def matches_resource(self, resource: str) -> bool:
        if self.not_resources:
            return not any(arn_matches(r, resource) for r in self.not_resources)
        return any(arn_matches(r, resource) for r in self.resources)

    def failed_conditions(self, context: dict[str, Any]) -> list[str]:
        return [
            f"{operator} {key} {list(values)} (request: {context.get(key, 'absent')})"
            for operator, block in self.conditions
            for key, values in block
            if not condition_holds(operator, key, list(values), context)
        ]

    def applies(self, request: Request, resource: str) -> bool:
        return (
            self.matches_action(request.action)
            and self.matches_resource(resource)
            and not self.failed_conditions(request.context_dict)
        )

    def names_principal(self, principal_arn: str | None, service: str | None) -> bool:
        for kind, values in self.principals:
            if kind == "*" or (kind == "AWS" and "*" in values):
                return True
            if kind == "AWS" and principal_arn and principal_arn in values:
                return True
            if kind == "Service" and service and service in values:
                return True
        return False

    def delegates_to_account(self) -> bool:
        return any(kind == "AWS" and (ROOT in values or ACCOUNT in values) for kind, values in self.principals)


# ----------------------------------------------------------------------------------------------- principals


@dataclass
class Principal:
    """Who makes a request: a role (its identity policies), a managed policy on its own (the operator policy
    as an on-call role would carry it) or a service principal (only resource policies can allow it)."""

    name: str
    arn: str | None
    statements: list[Statement] = field(default_factory=list)
    service: str | None = None

    def without(self, predicate) -> Principal:
        """A copy with the statements for which `predicate(statement)` is true dropped."""
        kept = [s for s in self.statements if not predicate(s)]
        assert len(kept) < len(self.statements), f"no statement of {self.name} was dropped"
        return Principal(self.name, self.arn, kept, self.service)


@dataclass
class Decision:
    allowed: bool
    principal: Principal
    request: Request
    why: str  # for a refusal: which grant is missing (or which Deny applied)

    def line(self, caller: str) -> str:
        return f"{caller}: {self.request.describe()} refused: {self.why}"


# ------------------------------------------------------------------------------------------------ templates

_ARN_FORMS = {
    "AWS::S3::Bucket": "arn:aws:s3:::{name}",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{name}",
    "AWS::Kinesis::Stream": "arn:aws:kinesis:{region}:{account}:stream/{name}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::StepFunctions::StateMachine": "arn:aws:states:{region}:{account}:stateMachine:{name}",
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
    "AWS::IAM::ManagedPolicy": "arn:aws:iam::{account}:policy/{name}",
    "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:key/{name}",
    "AWS::Logs::LogGroup": "arn:aws:logs:{region}:{account}:log-group:{name}:*",
    "AWS::Events::Rule": "arn:aws:events:{region}:{account}:rule/{name}",
    "AWS::Athena::WorkGroup": "arn:aws:athena:{region}:{account}:workgroup/{name}",
    "AWS::Personalize::DatasetGroup": "arn:aws:personalize:{region}:{account}:dataset-group/{name}",
    "AWS::Personalize::Schema": "arn:aws:personalize:{region}:{account}:schema/{name}",
    "AWS::Personalize::EventTracker": "arn:aws:personalize:{region}:{account}:event-tracker/{name}",
}
# What Ref returns where it is not the physical name (CloudFormation's "Return values" of each type).
_REF_IS_ARN = {"AWS::SNS::Topic", "AWS::StepFunctions::StateMachine", "AWS::IAM::ManagedPolicy"}
_NAME_PROPERTY = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Kinesis::Stream": "Name",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Events::Rule": "Name",
    "AWS::Athena::WorkGroup": "Name",
    "AWS::Personalize::DatasetGroup": "Name",
    "AWS::Personalize::Schema": "Name",
    "AWS::Personalize::EventTracker": "Name",
    "AWS::Scheduler::Schedule": "Name",
}


class Assembly:
    """The templates of one cloud assembly, resolved in the fixed account and region."""

    def __init__(self, outdir: Path | str) -> None:
        self.outdir = Path(outdir)
        self.templates: dict[str, dict] = {
            path.name.removesuffix(".template.json"): json.loads(path.read_text())
            for path in sorted(self.outdir.glob("*.template.json"))
        }
        self._exports: dict[str, tuple[str, Any]] = {}
        for stack, template in self.templates.items():
            for output in template.get("Outputs", {}).values():
                name = output.get("Export", {}).get("Name")
                if name:
                    self._exports[name] = (stack, output["Value"])
        self._cache: dict[tuple[str, str, str], Any] = {}

    # --------------------------------------------------------------------------------------- resolving

    def resources(self, stack: str, type_name: str | None = None) -> dict[str, dict]:
        return {
            k: v for k, v in self.templates[stack]["Resources"].items() if type_name is None or v["Type"] == type_name
        }

    def resolve(self, stack: str, node: Any) -> Any:
        if isinstance(node, list):
            return [self.resolve(stack, item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((name, value),) = node.items()
            if name == "Ref":
                return PSEUDO[value] if value in PSEUDO else self.attribute(stack, value, "Ref")
            if name == "Fn::GetAtt":
                logical_id, attribute = value if isinstance(value, list) else value.split(".", 1)
                return self.attribute(stack, logical_id, attribute)
            if name == "Fn::Join":
                separator, parts = value
                return separator.join(str(self.resolve(stack, part)) for part in self.resolve(stack, parts))
            if name == "Fn::ImportValue":
                exporter, exported = self._exports[self.resolve(stack, value)]
                return self.resolve(exporter, exported)
            if name == "Fn::Select":
                index, items = value
                return self.resolve(stack, items)[int(self.resolve(stack, index))]
            if name == "Fn::Split":
                separator, text = value
                return str(self.resolve(stack, text)).split(separator)
            if name == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else value
                values = {k: self.resolve(stack, v) for k, v in variables.items()}

                def substitute(match: re.Match[str]) -> str:
                    key = match.group(1)
                    if key in values:
                        return str(values[key])
                    if key in PSEUDO:
                        return str(PSEUDO[key])
                    logical_id, _, attribute = key.partition(".")
                    return str(self.attribute(stack, logical_id, attribute or "Ref"))

                return re.sub(r"\$\{([^!}][^}]*)\}", substitute, text)
        return {key: self.resolve(stack, value) for key, value in node.items()}

    def physical_name(self, stack: str, logical_id: str) -> str:
        resource = self.templates[stack]["Resources"][logical_id]
        props = resource.get("Properties", {})
        type_name = resource["Type"]
        if type_name == "AWS::Glue::Database":
            return self.resolve(stack, props["DatabaseInput"]["Name"])
        if type_name == "AWS::Glue::Table":
            return self.resolve(stack, props["TableInput"]["Name"])
        name_property = _NAME_PROPERTY.get(type_name)
        if name_property and name_property in props:
            return str(self.resolve(stack, props[name_property]))
        return logical_id

    def arn(self, stack: str, logical_id: str) -> str:
        resource = self.templates[stack]["Resources"][logical_id]
        type_name = resource["Type"]
        props = resource.get("Properties", {})
        name = self.physical_name(stack, logical_id)
        if type_name == "AWS::Personalize::Dataset":
            # arn:...:dataset/<dataset group name>/<TYPE>, as Personalize (and FakePersonalize) name datasets
            group_arn = self.resolve(stack, props["DatasetGroupArn"])
            return f"{group_arn.replace(':dataset-group/', ':dataset/')}/{props['DatasetType'].upper()}"
        if type_name == "AWS::Scheduler::Schedule":
            group = self.resolve(stack, props.get("GroupName", "default"))
            return f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{group}/{name}"
        form = _ARN_FORMS.get(type_name)
        if form is None:
            return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:resource/{stack}/{logical_id}"
        return form.format(region=REGION, account=ACCOUNT, name=name)

    def attribute(self, stack: str, logical_id: str, attribute: str) -> Any:
        key = (stack, logical_id, attribute)
        if key not in self._cache:
            self._cache[key] = self._attribute(stack, logical_id, attribute)
        return self._cache[key]

    def _attribute(self, stack: str, logical_id: str, attribute: str) -> Any:
        type_name = self.templates[stack]["Resources"][logical_id]["Type"]
        if type_name == "AWS::SQS::Queue" and attribute in ("Ref", "QueueUrl"):
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{self.physical_name(stack, logical_id)}"
        if type_name == "AWS::KMS::Key" and attribute in ("Ref", "KeyId"):
            return logical_id
        if attribute == "Ref":
            return self.arn(stack, logical_id) if type_name in _REF_IS_ARN else self.physical_name(stack, logical_id)
        if attribute.endswith("Arn") or attribute in ("Arn", "TopicArn"):
            return self.arn(stack, logical_id)
        if attribute in ("Name", "QueueName", "TopicName", "StateMachineName"):
            return self.physical_name(stack, logical_id)
        return f"{self.arn(stack, logical_id)}/{attribute}"

    # -------------------------------------------------------------------------------------- principals

    def _policy_documents(self) -> Iterator[tuple[str, str, str, dict, list[str]]]:
        """(stack, logical id, kind, document, attached role ARNs) of every identity policy."""
        for stack in self.templates:
            for logical_id, resource in self.resources(stack).items():
                props = resource.get("Properties", {})
                if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                    roles = [self._role_arn(stack, role) for role in props.get("Roles", [])]
                    yield stack, logical_id, resource["Type"], props["PolicyDocument"], roles
                elif resource["Type"] == "AWS::IAM::Role":
                    role_arn = self.arn(stack, logical_id)
                    for inline in props.get("Policies", []):
                        yield (
                            stack,
                            f"{logical_id}/{inline['PolicyName']}",
                            "inline",
                            inline["PolicyDocument"],
                            [role_arn],
                        )

    def _role_arn(self, stack: str, role_ref: Any) -> str:
        name = self.resolve(stack, role_ref)
        return name if name.startswith("arn:") else f"arn:aws:iam::{ACCOUNT}:role/{name}"

    def _statements(self, stack: str, origin: str, document: dict) -> list[Statement]:
        resolved = self.resolve(stack, document)
        return [Statement.parse(f"{origin}#{i}", s) for i, s in enumerate(_as_list(resolved["Statement"]))]

    @functools.cached_property
    def _roles(self) -> dict[str, Principal]:
        roles: dict[str, Principal] = {}
        for stack in self.templates:
            for logical_id in self.resources(stack, "AWS::IAM::Role"):
                arn = self.arn(stack, logical_id)
                roles[arn] = Principal(f"{stack}/{logical_id}", arn)
        managed_by_arn: dict[str, list[Statement]] = {}
        for stack, logical_id, kind, document, role_arns in self._policy_documents():
            statements = self._statements(stack, f"{stack}/{logical_id}", document)
            if kind == "AWS::IAM::ManagedPolicy":
                managed_by_arn[self.arn(stack, logical_id)] = statements
            for role_arn in role_arns:
                roles[role_arn].statements.extend(statements)
        for stack in self.templates:
            for logical_id, resource in self.resources(stack, "AWS::IAM::Role").items():
                for policy_arn in self.resolve(stack, resource["Properties"].get("ManagedPolicyArns", [])):
                    if policy_arn not in managed_by_arn:
                        raise NotModelled(f"{stack}/{logical_id}: managed policy {policy_arn} is not modelled")
                    roles[self.arn(stack, logical_id)].statements.extend(managed_by_arn[policy_arn])
        return roles

    def role(self, role_arn: str) -> Principal:
        return self._roles[role_arn]

    @functools.cached_property
    def _trust_policies(self) -> dict[str, list[Statement]]:
        return {
            self.arn(stack, logical_id): self._statements(
                stack, f"{stack}/{logical_id} trust policy", role["Properties"]["AssumeRolePolicyDocument"]
            )
            for stack in self.templates
            for logical_id, role in self.resources(stack, "AWS::IAM::Role").items()
        }

    def evaluate_assume(self, role_arn: str, service: str, request: Request) -> Decision:
        """A service assuming `role_arn` (sts:AssumeRole on the role), decided by the role's trust policy alone."""
        statements = [s for s in self._trust_policies[role_arn] if s.names_principal(None, service)]
        caller = self.service(service)
        context = request.context_dict

        def applies(statement: Statement) -> bool:  # a trust policy has no Resource: the role is implied
            return statement.matches_action(request.action) and not statement.failed_conditions(context)

        for statement in statements:
            if statement.effect == "Deny" and applies(statement):
                return Decision(False, caller, request, f"explicit Deny in {statement.origin}")
        if any(s.effect == "Allow" and applies(s) for s in statements):
            return Decision(True, caller, request, "")
        misses = [f"{s.origin} needs {'; '.join(s.failed_conditions(request.context_dict))}" for s in statements]
        return Decision(False, caller, request, " | ".join(misses) or f"the trust policy names no {service}")

    def role_of_function(self, stack: str, logical_id: str) -> Principal:
        function = self.templates[stack]["Resources"][logical_id]
        principal = self.role(self.resolve(stack, function["Properties"]["Role"]))
        return Principal(f"{logical_id} (role {principal.name})", principal.arn, principal.statements)

    def managed_policy(self, name: str) -> Principal:
        """A principal holding only the customer managed policy `name` (e.g. the on-call role)."""
        for stack in self.templates:
            for logical_id, resource in self.resources(stack, "AWS::IAM::ManagedPolicy").items():
                if self.physical_name(stack, logical_id) == name:
                    document = resource["Properties"]["PolicyDocument"]
                    statements = self._statements(stack, f"{stack}/{logical_id}", document)
                    return Principal(f"policy {name}", f"arn:aws:iam::{ACCOUNT}:role/on-call", statements)
        raise KeyError(f"no managed policy named {name}")

    def service(self, service: str) -> Principal:
        return Principal(f"service {service}", None, [], service)

    # ------------------------------------------------------------------------------ resource policies

    @functools.cached_property
    def _resource_policies(self) -> list[tuple[str, list[Statement]]]:
        """(ARN glob of the resources it governs, statements) for bucket, queue, topic and key policies."""
        policies: list[tuple[str, list[Statement]]] = []
        for stack in self.templates:
            for logical_id, resource in self.resources(stack).items():
                props = resource.get("Properties", {})
                origin = f"{stack}/{logical_id}"
                if resource["Type"] == "AWS::S3::BucketPolicy":
                    bucket = self.resolve(stack, props["Bucket"])
                    statements = self._statements(stack, origin, props["PolicyDocument"])
                    policies += [(f"arn:aws:s3:::{bucket}", statements), (f"arn:aws:s3:::{bucket}/*", statements)]
                elif resource["Type"] == "AWS::SQS::QueuePolicy":
                    for url in self.resolve(stack, props["Queues"]):
                        name = url.rsplit("/", 1)[-1]
                        policies.append(
                            (
                                f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
                                self._statements(stack, origin, props["PolicyDocument"]),
                            )
                        )
                elif resource["Type"] == "AWS::SNS::TopicPolicy":
                    for topic in self.resolve(stack, props["Topics"]):
                        policies.append((topic, self._statements(stack, origin, props["PolicyDocument"])))
                elif resource["Type"] == "AWS::KMS::Key":
                    policies.append((self.arn(stack, logical_id), self._statements(stack, origin, props["KeyPolicy"])))
        return policies

    def resource_policy(self, resource: str) -> list[Statement]:
        return [
            s for pattern, statements in self._resource_policies if arn_matches(pattern, resource) for s in statements
        ]

    def is_kms_key(self, resource: str) -> bool:
        return resource.startswith("arn:aws:kms:")

    # -------------------------------------------------------------------------------------- evaluating

    def evaluate(self, principal: Principal, request: Request) -> Decision:
        if canonical_action(request.action).lower() != request.action.lower():
            raise AssertionError(f"{request.action} is spelled differently in the reference")
        for resource in request.resources:
            decision = self._evaluate_one(principal, request, resource)
            if not decision.allowed:
                return decision
        return Decision(True, principal, request, "")

    def _evaluate_one(self, principal: Principal, request: Request, resource: str) -> Decision:
        context = request.context_dict
        resource_statements = [
            s
            for s in self.resource_policy(resource)
            if s.names_principal(principal.arn, principal.service)
            or (principal.service is None and s.delegates_to_account())  # an IAM principal of this account
        ]
        for statement in principal.statements + resource_statements:
            if statement.effect == "Deny" and statement.applies(request, resource):
                return Decision(False, principal, request, f"explicit Deny in {statement.origin}")
        identity_allows = [s for s in principal.statements if s.effect == "Allow" and s.applies(request, resource)]
        resource_allows = [s for s in resource_statements if s.effect == "Allow" and s.applies(request, resource)]
        if self.is_kms_key(resource):
            direct = [s for s in resource_allows if not s.delegates_to_account()]
            delegated = [s for s in resource_allows if s.delegates_to_account()]
            if direct or (delegated and identity_allows):
                return Decision(True, principal, request, "")
            if not delegated and not direct:
                return Decision(False, principal, request, f"the key policy of {resource} allows no such request")
        elif identity_allows or resource_allows:
            return Decision(True, principal, request, "")
        return Decision(False, principal, request, self._missing(principal, request, resource, context))

    def _missing(self, principal: Principal, request: Request, resource: str, context: dict[str, Any]) -> str:
        """Which grant is missing: no statement has the action, or those that have it miss resource/condition."""
        pool = principal.statements if principal.service is None else self.resource_policy(resource)
        kind = "identity policies" if principal.service is None else f"resource policies of {resource}"
        candidates = [s for s in pool if s.effect == "Allow" and s.matches_action(request.action)]
        if not candidates:
            return f"no statement of the {kind} grants {request.action}"
        misses = []
        for statement in candidates:
            if principal.service is not None and not statement.names_principal(None, principal.service):
                misses.append(f"{statement.origin} names other principals")
            elif not statement.matches_resource(resource):
                misses.append(f"{statement.origin} covers only {list(statement.resources)}")
            else:
                misses.append(f"{statement.origin} needs {'; '.join(statement.failed_conditions(context))}")
        return f"no grant of {request.action} on {resource}: " + " | ".join(misses)
