"""`countries[].experiments` of the env config (common.experiments.Experiment): the rules across experiments, and
the lock that keeps a running experiment's arms, weights and start from changing under its name.

Assignment hashes the user id salted with the experiment's name, so new weights under the same name would move
users between arms mid-experiment and mix two splits in one result. config/experiments.lock.json holds, per env
and name, the experiment's fingerprint (Experiment.fingerprint) and what it was made of; the synth refuses an
experiment whose fingerprint differs from its locked one (the changed experiment needs a new name) and an
experiment not yet locked (`make experiments-lock ENV=<env>` adds it). A locked entry is never rewritten or
removed, so a name is never reused. The module loads no aws_cdk: the lock command runs without it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.experiments import ARM_ORDER, Experiment

if TYPE_CHECKING:
    from stacks.config import EnvironmentConfig

LOCK_FILE = Path(__file__).resolve().parent.parent / "config" / "experiments.lock.json"
LOCK_COMMAND = "make experiments-lock ENV={env}"


class ExperimentChangeRefused(ValueError):
    """An experiment the synth may not deploy as it is; the message says which and what to do."""


def by_country(config: EnvironmentConfig) -> dict[str, tuple[Experiment, ...]]:
    """The countries that have experiments, with them (what the serving function is given)."""
    return {country.code: country.experiments for country in config.countries if country.experiments}


def locked_entry(experiment: Experiment) -> dict[str, Any]:
    arms = {arm.value: experiment.arms[arm] for arm in ARM_ORDER if arm in experiment.arms}
    return {"fingerprint": experiment.fingerprint(), "arms": arms, "start": experiment.start.isoformat()}


def read_lock(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ExperimentChangeRefused(f"{path.name}: not valid JSON ({error}); restore it from git") from None
    if not isinstance(data, dict):
        raise ExperimentChangeRefused(f"{path.name}: expected an object of envs; restore it from git")
    return data


def _changes(locked: dict[str, Any], experiment: Experiment) -> str:
    now = locked_entry(experiment)
    before_arms, now_arms = locked.get("arms") or {}, now["arms"]
    changed = [
        f"{arm.value} {before_arms.get(arm.value, 'absent')} -> {now_arms.get(arm.value, 'absent')}"
        for arm in ARM_ORDER
        if before_arms.get(arm.value) != now_arms.get(arm.value)
    ]
    if locked.get("start") != now["start"]:
        changed.append(f"start {locked.get('start')} -> {now['start']}")
    return ", ".join(changed) or "its fingerprint"


def _refusal(env: str, code: str, experiment: Experiment, locked: dict[str, Any] | None, path: Path) -> str | None:
    if locked is None:
        return (
            f"experiment {experiment.name} ({code}) is not in {path.name}: run `{LOCK_COMMAND.format(env=env)}` "
            "to lock its arms, weights and start, and commit the lock"
        )
    if locked.get("fingerprint") != experiment.fingerprint():
        return (
            f"experiment {experiment.name} ({code}) changed since it was locked ({_changes(locked, experiment)}); "
            "a running experiment's arms, weights and start cannot change: restore them, or give the changed "
            "experiment a new name (every user's arm is drawn again)"
        )
    return None


def check_locked(config: EnvironmentConfig, path: Path | None = None) -> None:
    """Refuse, in one line, the first experiment of the env that is not locked or differs from its lock."""
    path = path or LOCK_FILE
    locked = read_lock(path).get(config.env, {})
    for code, experiments in by_country(config).items():
        for experiment in experiments:
            refusal = _refusal(config.env, code, experiment, locked.get(experiment.name), path)
            if refusal:
                raise ExperimentChangeRefused(refusal)


def lock_new(config: EnvironmentConfig, path: Path | None = None) -> list[str]:
    """Add the env's experiments not yet locked to the lock file; a changed locked one is refused, not taken."""
    path = path or LOCK_FILE
    lock = read_lock(path)
    locked = lock.setdefault(config.env, {})
    added: list[str] = []
    for code, experiments in by_country(config).items():
        for experiment in experiments:
            if experiment.name not in locked:
                locked[experiment.name] = locked_entry(experiment)
                added.append(experiment.name)
            elif refusal := _refusal(config.env, code, experiment, locked[experiment.name], path):
                raise ExperimentChangeRefused(refusal)
    if added:
        path.write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return added


def main(argv: Sequence[str] | None = None) -> int:
    from stacks.config import ConfigError, load_config

    parser = argparse.ArgumentParser(description="Lock the env's new experiments in config/experiments.lock.json.")
    parser.add_argument("--env", default=None, help="the env whose config/<env>.yaml to read (default dev)")
    args = parser.parse_args(argv)
    try:
        added = lock_new(load_config(args.env))
    except (ConfigError, ExperimentChangeRefused) as error:
        print(f"not locked: {error}", file=sys.stderr)
        return 1
    print(f"locked: {', '.join(added)}" if added else "nothing new to lock")
    return 0


if __name__ == "__main__":
    sys.exit(main())
