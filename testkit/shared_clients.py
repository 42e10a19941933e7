"""A client factory for the replay tool (tools/replay/aws.py) that tests share across commands."""

from __future__ import annotations

from typing import Any, ClassVar

from tools.replay.aws import AwsClients


class SharedClients(AwsClients):
    """The CLI's client factory, its boto3 clients made once per test run.

    In production each command is a new process that makes a few clients; the tests run ~90 commands in one
    process, and every new boto3 session loads each service's model again (~70 ms a client). A client holds
    no per-command state, and one made under an earlier mock_aws still reaches moto. Credentials are resolved
    when a client is made, so tests of missing or unknown credentials use AwsClients itself.
    """

    _shared: ClassVar[dict[tuple[str | None, str | None, str], Any]] = {}

    def client(self, service: str) -> Any:
        key = (self.profile, self.region, service)
        if key not in self._shared:
            self._shared[key] = super().client(service)
        return self._shared[key]
