"""One command's world: what the tool touches outside itself (`Runtime`, replaced in tests) and, per command, the
env, the AWS clients, the output format and the confirmation prompt (`Session`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from tools.replay import render
from tools.replay.aws import AwsClients
from tools.replay.errors import Refused, UsageError

PROG = "personalize-runs"


@dataclass
class Runtime:
    """Everything the CLI touches outside itself; tests replace parts of it."""

    clients: Callable[[str | None, str | None], AwsClients] = AwsClients
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = time.sleep
    poll_seconds: float = 15.0
    # The clock `events replay` delivers with (ingest.retry.Clock); None = the system clock.
    delivery_clock: Any = None


class Session:
    """One command's env, clients and output."""

    def __init__(self, args: argparse.Namespace, runtime: Runtime) -> None:
        from tools.replay.env import Env  # loads the config model (CDK imports: only for commands that need it)

        self.args = args
        self.runtime = runtime
        self.output = getattr(args, "output", "table")
        self.env = Env.load(getattr(args, "env", "dev"))
        self.clients = runtime.clients(
            getattr(args, "profile", None), getattr(args, "region", None) or self.env.config.region
        )
        if not self.clients.region:
            raise UsageError(
                f"no AWS region for env {self.env.name}: pass --region, or set one in "
                "the env's config or your AWS profile"
            )
        from tools.replay.runs import Runs

        self.runs = Runs(self.env, self.clients, runtime.now)

    def print(self, text: str = "") -> None:
        self.runtime.stdout.write(text + "\n")

    def progress(self, text: str) -> None:
        self.runtime.stderr.write(text + "\n")
        self.runtime.stderr.flush()

    def emit(self, data: Any, text: str) -> None:
        self.print(render.to_json(data) if self.output == "json" else text)

    def confirm(self, question: str) -> None:
        if self.args.yes:
            return
        if not self.runtime.stdin.isatty():
            raise UsageError(
                f"{question.rstrip('?')}: this needs a confirmation, but stdin is not a terminal; "
                "pass --yes to go ahead (or --dry-run to see the plan)"
            )
        self.runtime.stderr.write(f"{question} [y/N] ")
        self.runtime.stderr.flush()
        answer = self.runtime.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            raise Refused("cancelled: nothing was changed")
