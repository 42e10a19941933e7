"""One environment as the tool sees it: its config (countries, account, region) and its resources' names
(stacks/names.py, which loads no CDK)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from stacks import names
from stacks.config import ConfigError, EnvironmentConfig, load_config
from tools.replay.errors import UsageError


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
        return names.state_machine_name(self.config)

    @property
    def ledger_table(self) -> str:
        return names.ledger_table_name(self.config)

    @property
    def realtime_stack(self) -> str:
        return names.realtime_stack_name(self.config)

    @property
    def serving_stack(self) -> str:
        return names.serving_stack_name(self.config)

    @property
    def country_stacks(self) -> dict[str, str]:
        return {country: names.country_stack_name(self.config, country) for country in self.countries}

    def schedule(self, country: str) -> str:
        return names.schedule_name(self.config, self.config.country(country))

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
