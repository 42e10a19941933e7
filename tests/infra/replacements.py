"""What a deploy of one cloud assembly over another would replace or delete, by CloudFormation's own rules.

CloudFormation replaces a resource when one of its create-only properties changes (the resource schemas
cfn-lint bundles: `createOnlyProperties`, JSON-pointer paths such as `/properties/Name` or
`/properties/StorageLensConfiguration/Id`), directly or because the value is a `Ref`/`Fn::GetAtt`/`Fn::Sub`
of a resource that is itself replaced (so replacement is propagated to a fixed point, across stacks through
`Fn::ImportValue` too). A replacement fails when the resource keeps a fixed name ("CloudFormation cannot update
a stack when a custom-named resource requires replacing"), and replacing or deleting a Personalize dataset
group, dataset, schema in use or event tracker loses imported data, models or the tracking id.

Usage: `unsafe_changes(load_assembly(before_dir), load_assembly(after_dir))` -> the changes a deploy must not
make (empty when the change applies safely); `changes(...)` lists every replacement, deletion and export change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

# Replacing or deleting these loses data (imports, models, tracking id), whatever their names.
PROTECTED_TYPES = frozenset(
    {
        "AWS::Personalize::DatasetGroup",
        "AWS::Personalize::Dataset",
        "AWS::Personalize::Schema",
        "AWS::Personalize::EventTracker",
    }
)
SCHEMA_REGION = "us-east-1"

Templates = dict[str, dict[str, Any]]  # stack name -> template


@dataclass(frozen=True)
class Change:
    stack: str
    logical_id: str
    resource_type: str
    action: str  # replace | delete | retain (removed from the stack, kept by DeletionPolicy) | export | rename
    because: tuple[str, ...]
    name: Any = None  # the fixed physical name, if the resource sets one

    @property
    def unsafe(self) -> bool:
        if self.action in ("export", "rename"):
            return True
        if self.action == "retain":
            return False
        if self.resource_type in PROTECTED_TYPES:
            return True
        # CloudFormation creates the replacement before deleting the old resource: with the same name, it fails.
        return self.action == "replace" and self.name is not None and "name unchanged" in self.because

    def __str__(self) -> str:
        return f"{self.stack}/{self.logical_id} ({self.resource_type}) {self.action}: {'; '.join(self.because)}"


def load_assembly(outdir: Path | str) -> Templates:
    return {
        p.name.removesuffix(".template.json"): json.loads(p.read_text()) for p in Path(outdir).glob("*.template.json")
    }


@cache
def create_only_paths(resource_type: str, region: str = SCHEMA_REGION) -> tuple[tuple[str, ...], ...]:
    """Create-only property paths of a type, as tuples of keys below `properties` ('*' = every list item)."""
    if resource_type.startswith("Custom::") or resource_type in (
        "AWS::CloudFormation::CustomResource",
        "AWS::CDK::Metadata",
    ):
        return ()  # custom resources are updated in place; their handler decides about a new physical id
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, resource_type).schema
    paths = []
    for pointer in schema.get("createOnlyProperties", []):
        parts = tuple(pointer.strip("/").split("/"))
        if parts[0] != "properties":
            raise ValueError(f"{resource_type}: unexpected create-only path {pointer}")
        paths.append(parts[1:])
    return tuple(paths)


def name_property(resource_type: str) -> str | None:
    """The create-only property that names the resource (Name, QueueName, FunctionName...), if the type has one."""
    names = [p[0] for p in create_only_paths(resource_type) if len(p) == 1 and p[0].endswith("Name")]
    return "Name" if "Name" in names else (names[0] if names else None)


def values_at(node: Any, parts: tuple[str, ...]) -> list[Any]:
    if not parts:
        return [node]
    head, rest = parts[0], parts[1:]
    if head == "*" and isinstance(node, list):
        return [v for item in node for v in values_at(item, rest)]
    if isinstance(node, dict) and head in node:
        return values_at(node[head], rest)
    return []


def references(node: Any) -> set[str]:
    """Logical ids a value refers to (Ref, Fn::GetAtt, Fn::Sub); pseudo parameters (AWS::...) excluded."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                for piece in text.split("${")[1:]:
                    found.add(piece.split("}")[0].split(".")[0])
                if isinstance(value, list):
                    found |= references(value[1])
            else:
                found |= references(value)
    return {r for r in found if not r.startswith("AWS::")}


def imports(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= imports(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Fn::ImportValue" and isinstance(value, str):
                found.add(value)
            else:
                found |= imports(value)
    return found


def _exports(templates: Templates) -> dict[str, tuple[str, Any]]:
    """export name -> (stack, value expression)."""
    out = {}
    for stack, template in templates.items():
        for output in template.get("Outputs", {}).values():
            name = output.get("Export", {}).get("Name")
            if isinstance(name, str):
                out[name] = (stack, output["Value"])
    return out


def _canonical(values: list[Any]) -> str:
    return json.dumps(values, sort_keys=True)


# CloudFormation's rules in the order they apply (type or create-only property changed, removed, fixed name moved,
# then replacement propagated through Ref/GetAtt/exports to a fixed point): the later rules read the earlier ones'
# `replaced` map, so they stay one function.
def changes(before: Templates, after: Templates) -> list[Change]:  # noqa: C901
    found: list[Change] = []
    replaced: dict[tuple[str, str], list[str]] = {}  # (stack, logical id) -> reasons
    common: list[tuple[str, str, dict, dict]] = []
    for stack in sorted(set(before) | set(after)):
        old = before.get(stack, {}).get("Resources", {})
        new = after.get(stack, {}).get("Resources", {})
        for logical_id in sorted(set(old) & set(new)):
            b, a = old[logical_id], new[logical_id]
            if b["Type"] != a["Type"]:
                replaced[(stack, logical_id)] = [f"type {b['Type']} -> {a['Type']}"]
                continue
            common.append((stack, logical_id, b, a))
            for path in create_only_paths(a["Type"]):
                was = values_at(b.get("Properties", {}), path)
                now = values_at(a.get("Properties", {}), path)
                if _canonical(was) != _canonical(now):
                    replaced.setdefault((stack, logical_id), []).append(f"/{'/'.join(path)} changed")
        for logical_id in sorted(set(old) - set(new)):
            resource = old[logical_id]
            retained = resource.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")
            found.append(
                Change(
                    stack,
                    logical_id,
                    resource["Type"],
                    "retain" if retained else "delete",
                    ("removed from template",),
                    _fixed_name(resource),
                )
            )
        # A fixed name moved to a new logical id: the new resource is created while the old one still holds the name.
        removed_names = {
            (r["Type"], json.dumps(_fixed_name(r))): lid for lid, r in old.items() if lid not in new and _fixed_name(r)
        }
        for logical_id in sorted(set(new) - set(old)):
            key = (new[logical_id]["Type"], json.dumps(_fixed_name(new[logical_id])))
            if _fixed_name(new[logical_id]) and key in removed_names:
                found.append(
                    Change(
                        stack,
                        logical_id,
                        key[0],
                        "rename",
                        (f"takes the name of removed {removed_names[key]}",),
                        _fixed_name(new[logical_id]),
                    )
                )

    new_exports = _exports(after)

    def replaced_through(stack: str, value: Any) -> str | None:
        for target in references(value):
            if (stack, target) in replaced:
                return target
        for export in imports(value):
            if export in new_exports:
                producer, expression = new_exports[export]
                for target in references(expression):
                    if (producer, target) in replaced:
                        return f"{producer}/{target} (export {export})"
        return None

    # Propagate: a create-only value that refers to a replaced resource changes at deploy time.
    grew = True
    while grew:
        grew = False
        for stack, logical_id, _, a in common:
            if (stack, logical_id) in replaced:
                continue
            for path in create_only_paths(a["Type"]):
                for value in values_at(a.get("Properties", {}), path):
                    target = replaced_through(stack, value)
                    if target:
                        replaced[(stack, logical_id)] = [f"/{'/'.join(path)} refers to replaced {target}"]
                        grew = True
                        break
                if (stack, logical_id) in replaced:
                    break

    for (stack, logical_id), reasons in sorted(replaced.items()):
        resource = after[stack]["Resources"][logical_id]
        name = _fixed_name(resource)
        if name is not None:
            old_name = _fixed_name(before[stack]["Resources"][logical_id])
            reasons = [*reasons, "name unchanged" if old_name == name else "name changes"]
        found.append(Change(stack, logical_id, resource["Type"], "replace", tuple(reasons), name))

    # CloudFormation refuses to change the value of an export another stack imports.
    old_exports = _exports(before)
    importers = {name: stack for stack, template in after.items() for name in imports(template)}
    for name, (stack, expression) in sorted(new_exports.items()):
        if name in importers and name in old_exports:
            changed = _canonical([old_exports[name][1]]) != _canonical([expression])
            through = replaced_through(stack, expression)
            if changed or through:
                reason = f"value changes ({'refers to replaced ' + through if through else 'new expression'})"
                found.append(Change(stack, name, "Export", "export", (reason, f"imported by {importers[name]}")))
    return found


def _fixed_name(resource: dict[str, Any]) -> Any:
    prop = name_property(resource["Type"])
    return resource.get("Properties", {}).get(prop) if prop else None


def unsafe_changes(before: Templates, after: Templates) -> list[Change]:
    return [c for c in changes(before, after) if c.unsafe]
