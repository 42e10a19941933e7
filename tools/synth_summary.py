"""Print what `make synth` produced: stacks, countries, schedules, resources per stack, cdk-nag result.

Reads only cdk.out/ (the cloud assembly), so it describes exactly what would be deployed.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

RESOURCE_LIMIT = 500  # CloudFormation's hard limit per stack


def summarise(cdk_out: Path) -> list[str]:
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    lines: list[str] = []
    stacks = {
        name: artifact
        for name, artifact in manifest["artifacts"].items()
        if artifact.get("type") == "aws:cloudformation:stack"
    }
    groups_seen: set[str] = set()
    lines.append(f"{'stack':<36} {'resources':>9}  notes")
    for name, artifact in sorted(stacks.items()):
        template = json.loads((cdk_out / artifact["properties"]["templateFile"]).read_text())
        resources = template.get("Resources", {})
        types = Counter(r["Type"] for r in resources.values())
        notes = []
        if types["AWS::Personalize::DatasetGroup"]:
            groups = [
                r["Properties"]["Name"]
                for r in resources.values()
                if r["Type"] == "AWS::Personalize::DatasetGroup"
            ]
            notes.append("dataset group " + ", ".join(groups))
            groups_seen.update(name.rsplit("-", 1)[-1].upper() for name in groups)
        for resource in resources.values():
            if resource["Type"] == "AWS::Scheduler::Schedule":
                props = resource["Properties"]
                notes.append(
                    f"{props['Name']}: {props.get('ScheduleExpression')} {props.get('ScheduleExpressionTimezone')}"
                )
        if types["AWS::StepFunctions::StateMachine"]:
            notes.append(f"{types['AWS::StepFunctions::StateMachine']} state machine(s)")
        if types["AWS::Kinesis::Stream"]:
            notes.append("kinesis stream")
        if len(resources) > RESOURCE_LIMIT * 0.8:
            notes.append(f"WARNING: close to the {RESOURCE_LIMIT}-resource limit")
        lines.append(f"{name:<36} {len(resources):>9}  {'; '.join(notes)}")
    countries = sorted(groups_seen)
    lines.insert(0, f"{len(stacks)} stacks; {len(countries)} countries: {', '.join(countries)}")
    lines.append(nag_result(cdk_out))
    return lines


def nag_result(cdk_out: Path) -> str:
    report_file = cdk_out / "validation-report.json"
    if not report_file.is_file():
        return "cdk-nag: no validation report (was the app synthesised with the checks on?)"
    report = json.loads(report_file.read_text())
    parts = []
    for plugin in report.get("pluginReports", []):
        open_findings = len(plugin.get("violations", []))
        accepted = len(plugin.get("suppressedViolations", []))
        parts.append(
            f"cdk-nag {plugin['pluginName']}: {plugin['conclusion']}, {open_findings} unacknowledged finding(s), "
            f"{accepted} acknowledged with a stated reason"
        )
    return "; ".join(parts)


def main(argv: list[str]) -> int:
    cdk_out = Path(argv[0] if argv else "cdk.out")
    if not (cdk_out / "manifest.json").is_file():
        print(f"no cloud assembly in {cdk_out}: run make synth first", file=sys.stderr)
        return 1
    print("\n".join(summarise(cdk_out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
