"""Synthesise an env the way `cdk synth` does (same cdk.json context), for the tests and the bench."""

from __future__ import annotations

import json
import marshal
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Export:
    """A stack output's export and the resource it names (properties shared: read, never change them)."""

    name: str
    logical_id: str
    attribute: str
    resource_type: str | None
    properties: dict


@dataclass
class SynthesisedApp:
    application: object  # stacks.application.Application
    outdir: Path
    _templates: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)
    _exports: list[Export] | None = field(default=None, repr=False, compare=False)

    def template_json(self, stack_name: str) -> dict:
        """The stack's template, a new copy at each call (callers may change it). The assembly does not change
        once synthesised, and every pipeline harness reads every template: each is parsed once."""
        if stack_name not in self._templates:
            document = json.loads((self.outdir / f"{stack_name}.template.json").read_text())
            self._templates[stack_name] = marshal.dumps(document)
        return marshal.loads(self._templates[stack_name])

    def exports(self) -> list[Export]:
        """Every exported stack output and the resource it names, read once (every pipeline start maps them)."""
        if self._exports is None:
            self._exports = []
            for stack_name in self.stack_names:
                template = self.template_json(stack_name)
                for output in template.get("Outputs", {}).values():
                    name = output.get("Export", {}).get("Name")
                    if not name:
                        continue
                    value = output["Value"]
                    logical_id, attribute = value["Fn::GetAtt"] if "Fn::GetAtt" in value else (value.get("Ref"), "Ref")
                    resource = template["Resources"].get(logical_id, {})
                    self._exports.append(
                        Export(name, logical_id, attribute, resource.get("Type"), resource.get("Properties", {}))
                    )
        return self._exports

    def template(self, stack_name: str):
        from aws_cdk.assertions import Template

        return Template.from_json(self.template_json(stack_name))

    @property
    def stack_names(self) -> list[str]:
        return [s.stack_name for s in self.application.stacks]  # type: ignore[attr-defined]

    @property
    def validation_report(self) -> dict:
        return json.loads((self.outdir / "validation-report.json").read_text())


def synthesise(
    env: str = "dev", outdir: Path | None = None, config=None, *, customise=None, nag: bool = True
) -> SynthesisedApp:
    """Synthesise an env; `customise(app)` runs before synthesis (e.g. an organisation-wide `Tags.of(app)`)."""
    import aws_cdk as cdk

    from stacks.application import build_application
    from stacks.config import load_config

    config = config or load_config(env)
    # The same context the CLI passes from cdk.json (feature flags change templates).
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    # What the CLI passes unless --debug (a reserved key, so it cannot live in cdk.json): no stack traces in
    # construct metadata, which only slow the synth down.
    context["aws:cdk:disable-stack-trace"] = True
    app = cdk.App(outdir=str(outdir) if outdir else None, context=context)
    application = build_application(config, app, nag=nag)
    if customise:
        customise(app)
    assembly = app.synth()
    return SynthesisedApp(application=application, outdir=Path(assembly.directory))


def write_env_from_dev(config_dir: Path, env: str, **changes) -> Path:
    """config/dev.yaml with `changes` applied, written as `<config_dir>/<env>.yaml` (an env only a test knows)."""
    import yaml

    config = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
    config.update(env=env, **changes)
    path = Path(config_dir) / f"{env}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
