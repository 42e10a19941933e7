"""Every bad-config case fails with one message naming the file and the field; nothing is synthesised."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, time
from pathlib import Path

import pytest
import yaml

from stacks.config import ConfigError, OtherDays, Recipe, Weekday, load_config, skipped_days

ROOT = Path(__file__).resolve().parents[2]
DEV = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())


def write_env(tmp_path: Path, name: str, data: dict) -> Path:
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return tmp_path


def dev_with(**changes) -> dict:
    data = json.loads(json.dumps(DEV))
    data.update(changes)
    return data


def country(code: str, zone: str, locale: str, **extra) -> dict:
    return {"code": code, "time_zone": zone, "locales": [locale], **extra}


def error_for(tmp_path: Path, data: dict, env: str = "dev") -> str:
    write_env(tmp_path, env, data)
    with pytest.raises(ConfigError) as caught:
        load_config(env, config_dir=tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert f"{env}.yaml" in message
    return message


def test_dev_config_is_valid_with_three_time_zones():
    config = load_config("dev")
    zones = {c.time_zone for c in config.countries}
    assert len(config.countries) >= 3 and len(zones) >= 3
    assert config.account is None and config.region is None
    assert config.data.window_days == 183


def test_defaults_merge_under_country_overrides():
    config = load_config("dev")
    kr, jp, us = (config.country(c) for c in ("KR", "JP", "US"))
    assert Recipe.TRENDING_NOW in kr.recipes and Recipe.TRENDING_NOW not in jp.recipes
    assert jp.run_time.strftime("%H:%M") == "04:30" and kr.run_time.strftime("%H:%M") == "03:00"
    # a nested override replaces only its own key: US turns the campaign off and keeps the default min TPS
    assert us.campaign.enabled is False and us.campaign.min_tps == 1
    assert kr.training.full_training_weekday is Weekday.SUNDAY and kr.training.other_days is OtherDays.UPDATE
    assert kr.training.auto_training is False


def test_unknown_env_lists_known_envs(tmp_path):
    write_env(tmp_path, "dev", DEV)
    write_env(tmp_path, "sandbox.example", DEV)  # a file to copy, not an env
    with pytest.raises(ConfigError, match=r"unknown env 'staging': no file .*staging.yaml; known envs: dev$"):
        load_config("staging", config_dir=tmp_path)


def test_unknown_country_code(tmp_path):
    data = dev_with(countries=[country("XX", "Asia/Seoul", "ko_XX")])
    assert "countries[XX].code: 'XX' is not an ISO 3166-1 alpha-2 country code" in error_for(tmp_path, data)


def test_duplicate_country(tmp_path):
    data = dev_with(countries=[country("KR", "Asia/Seoul", "ko_KR"), country("KR", "Asia/Seoul", "ko_KR")])
    assert "countries: country KR is listed twice" in error_for(tmp_path, data)


def test_invalid_time_zone(tmp_path):
    data = dev_with(countries=[country("KR", "Asia/Busan", "ko_KR")])
    assert "countries[KR].time_zone: 'Asia/Busan' is not an IANA time zone" in error_for(tmp_path, data)


@pytest.mark.parametrize("run_time", ["25:00", "3am", "03:60"])
def test_bad_run_time(tmp_path, run_time):
    data = dev_with(countries=[country("KR", "Asia/Seoul", "ko_KR", run_time=run_time)])
    assert f"countries[KR].run_time: run time '{run_time}' is not a 24-hour 'HH:MM' time" in error_for(
        tmp_path, data
    )


def test_unquoted_run_time_is_explained(tmp_path):
    # YAML 1.1 reads an unquoted 4:30 as the sexagesimal integer 270.
    (tmp_path / "dev.yaml").write_text(
        "env: dev\ncountries:\n  - {code: KR, time_zone: Asia/Seoul, locales: [ko_KR], run_time: 4:30}\n"
    )
    with pytest.raises(ConfigError, match=r"countries\[KR\]\.run_time: write the run time quoted"):
        load_config("dev", config_dir=tmp_path)


def test_a_run_time_the_clocks_skip_is_refused_naming_the_country_and_the_dates(tmp_path):
    data = dev_with(countries=[country("US", "America/New_York", "en_US", run_time="02:30")])
    message = error_for(tmp_path, data)
    dates = skipped_days("America/New_York", time(2, 30), start=date.today())
    assert dates and all(d.month == 3 and d.isoweekday() == 7 for d in dates)  # the second Sunday of March
    assert f"countries[US]: run_time 02:30 does not exist in America/New_York on {', '.join(map(str, dates))}" in (
        message
    )
    assert "US would not run on those days" in message


def test_a_run_time_repeated_when_the_clocks_go_back_is_accepted(tmp_path):
    # 01:30 happens twice in New York on the first Sunday of November; EventBridge Scheduler runs it once.
    write_env(tmp_path, "dev", dev_with(countries=[country("US", "America/New_York", "en_US", run_time="01:30")]))
    assert load_config("dev", config_dir=tmp_path).country("US").run_time == time(1, 30)


@pytest.mark.parametrize(
    ("zone", "at", "expected"),
    [
        ("America/New_York", time(2, 0), [date(2026, 3, 8), date(2027, 3, 14), date(2028, 3, 12)]),
        ("Europe/London", time(1, 59), [date(2026, 3, 29), date(2027, 3, 28), date(2028, 3, 26)]),
        ("Australia/Sydney", time(2, 0), [date(2026, 10, 4), date(2027, 10, 3), date(2028, 10, 1)]),
        ("America/New_York", time(3, 0), []),  # the first minute after the gap exists
        ("America/New_York", time(1, 30), []),  # repeated when the clocks go back, but it exists
        ("Asia/Seoul", time(2, 0), []),  # no daylight saving time
    ],
)
def test_skipped_days_are_the_days_a_local_time_does_not_exist(zone, at, expected):
    assert list(skipped_days(zone, at, start=date(2026, 1, 1), years=3)) == expected


def test_unknown_recipe(tmp_path):
    data = dev_with(countries=[country("KR", "Asia/Seoul", "ko_KR", recipes=["user-personalisation"])])
    message = error_for(tmp_path, data)
    assert "countries[KR].recipes: unknown recipe 'user-personalisation'" in message
    assert "similar-items" in message  # lists the known ones


def test_too_many_countries_for_the_dataset_group_quota(tmp_path):
    six = [
        country("KR", "Asia/Seoul", "ko_KR"),
        country("JP", "Asia/Tokyo", "ja_JP"),
        country("US", "America/New_York", "en_US"),
        country("GB", "Europe/London", "en_GB"),
        country("DE", "Europe/Berlin", "de_DE"),
        country("FR", "Europe/Paris", "fr_FR"),
    ]
    message = error_for(tmp_path, dev_with(countries=six))
    assert "6 countries need 6 dataset groups in one region, but the Personalize quota is 5" in message
    # a declared, raised quota makes the same list valid
    write_env(tmp_path, "dev", dev_with(countries=six, dataset_group_quota=10))
    assert len(load_config("dev", config_dir=tmp_path).countries) == 6


def test_unknown_field_is_named(tmp_path):
    data = dev_with(data={"window_dayz": 10})
    assert "data.window_dayz: Extra inputs are not permitted" in error_for(tmp_path, data)


def test_non_dev_env_needs_account_and_region(tmp_path):
    data = dev_with(env="prod")
    assert "account and region are required for env 'prod'" in error_for(tmp_path, data, env="prod")
    write_env(tmp_path, "prod", dev_with(env="prod", account="000000000000", region="ap-northeast-2"))
    assert load_config("prod", config_dir=tmp_path).region == "ap-northeast-2"


def test_locale_of_another_country(tmp_path):
    data = dev_with(countries=[country("KR", "Asia/Seoul", "ja_JP")])
    assert "countries[KR].locales: locales ['ja_JP'] do not belong to country KR" in error_for(tmp_path, data)


def test_unknown_gate_metric(tmp_path):
    data = dev_with(countries=[country("KR", "Asia/Seoul", "ko_KR", gate={"tolerance": {"ndcg": 0.1}})])
    assert "countries[KR].gate.tolerance: unknown metric(s) ['ndcg']" in error_for(tmp_path, data)


def test_app_prints_one_line_and_synthesises_nothing(tmp_path):
    outdir = tmp_path / "out"
    outdir.mkdir()
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({"env": "nope"}),
        "CDK_OUTDIR": str(outdir),
    }
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    # whatever envs this checkout has (a local config/sandbox.yaml included)
    from stacks.config import available_envs

    assert result.stderr.strip().splitlines() == [
        f"config error: unknown env 'nope': no file config/nope.yaml; known envs: {', '.join(available_envs())}"
    ]
    assert list(outdir.iterdir()) == []


def test_every_env_file_in_the_repo_is_valid():
    """The docs' `--env prod` examples work as written: config/prod.yaml exists and validates like dev."""
    from stacks.config import available_envs

    assert {"dev", "prod"} <= set(available_envs())
    for env in available_envs():
        config = load_config(env)
        assert config.env == env and config.countries
    assert load_config("prod").account is not None  # a concrete env: account and region are required
