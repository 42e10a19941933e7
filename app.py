#!/usr/bin/env python3
"""CDK entry point: `cdk synth|deploy -c env=NAME` builds the stacks of config/NAME.yaml (default dev)."""

import sys

import aws_cdk as cdk

from stacks.config import ConfigError, load_config


def main() -> int:
    app = cdk.App()
    env_name = app.node.try_get_context("env")
    try:
        config = load_config(env_name)
    except ConfigError as error:
        # One line, no traceback, nothing synthesised.
        print(f"config error: {error}", file=sys.stderr)
        return 1

    from common.schemas import SchemaChangeRefused
    from stacks.application import build_application
    from stacks.experiment_settings import ExperimentChangeRefused

    try:
        build_application(config, app)
    except SchemaChangeRefused as error:
        # A schema change CloudFormation cannot apply in place (docs/schema-evolution.md): nothing synthesised.
        print(f"schema change refused: {error}", file=sys.stderr)
        return 1
    except ExperimentChangeRefused as error:
        # A running experiment's arms, weights or start changed under its name (config/experiments.lock.json).
        print(f"experiment change refused: {error}", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
