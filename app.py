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

    from stacks.application import build_application

    build_application(config, app)
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
