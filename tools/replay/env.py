"""One environment as the tool sees it: its config (countries, account, region) and its resources' names.

The names mirror stacks/names.py and stacks/pipeline_stack.py (a test keeps them equal); they are not
imported from there because that module loads aws_cdk, which would add seconds to every command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stacks.config import ConfigError, EnvironmentConfig, load_config
from tools.replay.errors import UsageError


def state_machine_name(prefix: str) -> str:
    return f"{prefix}-pipeline"


def ledger_table_name(prefix: str) -> str:
    return f"{prefix}-runs"


def schedule_name(prefix: str, country: str) -> str:
    return f"{prefix}-{country.lower()}-daily"


def realtime_stack_name(env: str) -> str:
    """stacks/application.py: `Personalize-<env>-Realtime`."""
    return f"Personalize-{env}-Realtime"


def country_stack_name(env: str, country: str) -> str:
    """stacks/application.py: `Personalize-<env>-<CC>`."""
    return f"Personalize-{env}-{country}"


@dataclass(frozen=True)
class Env:
    config: EnvironmentConfig

    @classmethod
    def load(cls, name: str) -> Env:
        try:
            return cls(load_config(name))
        except ConfigError as error:
            raise UsageError(str(error)) from None

    @property
    def name(self) -> str:
        return self.config.env

    @property
    def prefix(self) -> str:
        return self.config.name_prefix

    @property
    def state_machine(self) -> str:
        return state_machine_name(self.prefix)

    @property
    def ledger_table(self) -> str:
        return ledger_table_name(self.prefix)

    @property
    def realtime_stack(self) -> str:
        return realtime_stack_name(self.name)

    @property
    def country_stacks(self) -> dict[str, str]:
        return {country: country_stack_name(self.name, country) for country in self.countries}

    def schedule(self, country: str) -> str:
        return schedule_name(self.prefix, country)

    @property
    def countries(self) -> list[str]:
        return [c.code for c in self.config.countries]

    def country(self, code: str) -> str:
        """A country code of this env (any case), or a usage error listing the env's countries."""
        upper = code.strip().upper()
        if upper not in self.countries:
            shown = code if re.fullmatch(r"[A-Za-z]{2}", code.strip()) else repr(code)
            raise UsageError(f"unknown country {shown} for env {self.name} (countries: {', '.join(self.countries)})")
        return upper
