"""Typed per-environment configuration: `config/<env>.yaml`, picked with `cdk synth -c env=<env>`.

Everything an environment may vary is declared here and validated before any construct is built, so a bad
file fails synth with one message that names the file and the field, and nothing is synthesised.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from common.experiments import Experiment, one_at_a_time, unique_names
from common.recipes import Recipe
from dataprep.quality import QualityThresholds

# The settings blocks the Lambdas read are the runtime's own models (one set of rules on both sides); this file
# adds what only the deployment needs (countries, env, schedules).
from evaluation.queries import DEFAULT_CURATION_RECENT_ITEMS
from pipeline.model import ExplorationSettings, FilterSettings, GateSettings, StepTimeouts
from pipeline.pricing import PricingSettings
from stacks import sizing
from stacks.serving_settings import ServingStackSettings

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
DEFAULT_ENV = "dev"

# ISO 3166-1 alpha-2 codes in use (officially assigned). Kept inline: no dependency just for a code list.
ISO_3166_ALPHA2 = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY
    BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO
    FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM
    JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE
    RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT
    TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW""".split()
)

# Default Personalize quota (adjustable through Service Quotas): dataset groups per region.
DEFAULT_DATASET_GROUP_QUOTA = 5

# No "-" in env names: every IAM grant is scoped by the prefix `personalize-<env>-`, and with a "-" allowed,
# `personalize-dev-*` would also match every resource of an env named `dev-eu` in the same account and region.
_ENV_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
_LOCALE = re.compile(r"^[a-z]{2,3}_[A-Z]{2}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")


class ConfigError(Exception):
    """A configuration problem, phrased for the person editing the file."""


class Weekday(StrEnum):
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"

    @property
    def iso(self) -> int:
        return list(Weekday).index(self) + 1


class OtherDays(StrEnum):
    # The documented policy (docs/personalize-behaviour.md item 3): UPDATE where the recipe supports it and no
    # campaign serves it (a campaign's version gets automatic updates, which an UPDATE stops), else nothing.
    UPDATE = "update"
    SKIP = "skip"  # no training except on the full day


class BatchMode(StrEnum):
    CHANGED_USERS = "changed-users"
    ALL_USERS = "all-users"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class TrainingPolicy(_Strict):
    full_training_weekday: Weekday = Weekday.SUNDAY
    other_days: OtherDays = OtherDays.UPDATE
    # Personalize trains on its own every 7 days unless told not to; the pipeline owns training by default.
    auto_training: bool = False
    timeout_hours: Annotated[float, Field(gt=0, le=168)] = 48


class Campaign(_Strict):
    enabled: bool = True
    # minProvisionedTPS is billed even when idle.
    min_tps: Annotated[int, Field(ge=1, le=500)] = 1


class CountryData(_Strict):
    # Users the comparison page evaluates (a deterministic sample by user-id hash, plus the heaviest users): it
    # bounds what the report Lambda reads, whatever the country's size, and sizes its memory (stacks/sizing.py).
    report_evaluated_users: Annotated[int, Field(ge=100, le=1_000_000)] = sizing.DEFAULT_EVALUATED_USERS
    # The curation's window: each user's N most recent distinct items whose neighbours make their list, as the
    # current curation does it (docs/evaluation.md, "Current curation").
    curation_recent_items: Annotated[int, Field(ge=1, le=500)] = DEFAULT_CURATION_RECENT_ITEMS

    @field_validator("report_evaluated_users")
    @classmethod
    def _fits_lambda(cls, value: int) -> int:
        sizing.report_step(value)  # raises ExceedsLambdaLimit (a ValueError) with what to do
        return value


class CountrySettings(_Strict):
    """Settings a country may override; `defaults` in the file supplies the rest."""

    recipes: tuple[Recipe, ...] = (Recipe.USER_PERSONALIZATION, Recipe.SIMILAR_ITEMS)
    training: TrainingPolicy = TrainingPolicy()
    batch_inference: BatchMode = BatchMode.CHANGED_USERS
    campaign: Campaign = Campaign()
    gate: GateSettings = GateSettings()
    exploration: ExplorationSettings = ExplorationSettings()
    filters: FilterSettings = FilterSettings()
    run_time: time = time(3, 0)
    data: CountryData = CountryData()

    @field_validator("recipes", mode="before")
    @classmethod
    def _known_recipes(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            known = [r.value for r in Recipe]
            for recipe in value:
                if recipe not in known:
                    raise ValueError(f"unknown recipe {recipe!r}; known: {known}")
            if len(set(value)) != len(value):
                raise ValueError("a recipe is listed twice")
            if not value:
                raise ValueError("at least one recipe is required")
        return value

    @field_validator("run_time", mode="before")
    @classmethod
    def _hh_mm(cls, value: Any) -> Any:
        if isinstance(value, int):  # YAML 1.1 reads 03:00 unquoted as a sexagesimal int
            raise ValueError("write the run time quoted as 'HH:MM', e.g. '03:00'")
        if isinstance(value, str) and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError(f"run time {value!r} is not a 24-hour 'HH:MM' time")
        return value


class Country(CountrySettings):
    code: str
    time_zone: str
    locales: tuple[str, ...]
    # Online experiments of this country: one at a time (common.experiments), locked while they run
    # (stacks.experiment_settings).
    experiments: Annotated[tuple[Experiment, ...], AfterValidator(one_at_a_time)] = ()

    @field_validator("code")
    @classmethod
    def _iso_code(cls, value: str) -> str:
        if value not in ISO_3166_ALPHA2:
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code (e.g. KR, JP, US)")
        return value

    @field_validator("time_zone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        # ZoneInfo accepts some non-canonical keys (e.g. 'posixrules'); require a listed IANA zone name.
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Asia/Seoul)") from None
        if value not in _iana_zones():
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Asia/Seoul)")
        return value

    @field_validator("locales")
    @classmethod
    def _locales(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one locale is required, e.g. ko_KR")
        for locale in value:
            if not _LOCALE.fullmatch(locale):
                raise ValueError(f"locale {locale!r} is not of the form ll_CC, e.g. ko_KR")
        code = info.data.get("code")
        foreign = [loc for loc in value if code and loc.split("_")[1] != code]
        if foreign:
            # Interactions are assigned to a country by the user's locale; a foreign locale would leak users.
            raise ValueError(f"locales {foreign} do not belong to country {code}")
        return value

    @model_validator(mode="after")
    def _run_time_exists(self) -> Country:
        # EventBridge Scheduler's guide (schedule types, daylight saving time): "When the time shifts forward in
        # Spring, your schedule invocation gets skipped if the cron expression falls on a non-existent date and
        # time. When the time shifts back in the Fall, your schedule runs only once and doesn't repeat its
        # invocation." A skipped time loses that day's run (a full-training day included); a repeated time
        # (e.g. 01:30 in New York in November) still runs once a day, so it is accepted.
        skipped = skipped_days(self.time_zone, self.run_time, start=date.today())
        if skipped:
            raise ValueError(
                f"run_time {self.run_time:%H:%M} does not exist in {self.time_zone} on "
                f"{', '.join(map(str, skipped))} (the clocks jump past it, e.g. when daylight saving time starts) and "
                f"EventBridge Scheduler skips a time that does not exist: {self.code} would not run on those days; "
                "pick a time outside the skipped hour"
            )
        return self

    @property
    def slug(self) -> str:
        return self.code.lower()


class DataSettings(_Strict):
    window_days: Annotated[int, Field(ge=7, le=730)] = 183
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 90
    athena_bytes_scanned_cutoff_gb: Annotated[int, Field(ge=1, le=10_000)] = 100
    quality: QualityThresholds = QualityThresholds()


class RealtimeSettings(_Strict):
    shard_count: Annotated[int, Field(ge=1, le=500)] | None = None  # None: on-demand


class EnvironmentConfig(_Strict):
    env: str
    account: str | None = None
    region: str | None = None
    # Only a sandbox env may be smoke-tested (tools/smoke/): the smoke run deploys, then deletes what it made.
    sandbox: bool = False
    dataset_group_quota: Annotated[int, Field(ge=1)] = DEFAULT_DATASET_GROUP_QUOTA
    notification_emails: tuple[str, ...] = ()
    data: DataSettings = DataSettings()
    timeouts: StepTimeouts = StepTimeouts()
    realtime: RealtimeSettings = RealtimeSettings()
    # List prices of the run's cost estimate (defaults and their sources: pipeline.pricing); per env.
    pricing: PricingSettings = PricingSettings()
    serving: ServingStackSettings = ServingStackSettings()
    countries: tuple[Country, ...]

    @field_validator("env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME.fullmatch(value):
            raise ValueError(
                f"{value!r}: use 1-12 lowercase letters or digits, starting with a letter (no '-': names of "
                "this env's resources would otherwise overlap another env's, e.g. dev and dev-eu)"
            )
        return value

    @field_validator("account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and not _ACCOUNT.fullmatch(str(value)):
            raise ValueError("account must be a 12-digit AWS account id (quote it in YAML)")
        return value

    @field_validator("sandbox")
    @classmethod
    def _sandbox_names_its_account(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("account") is None:
            raise ValueError(
                "a sandbox env must name its account (account: '123456789012'): the smoke run refuses "
                "credentials for any other account"
            )
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not _REGION.fullmatch(value):
            raise ValueError(f"{value!r} is not an AWS region name (e.g. ap-northeast-2)")
        return value

    @field_validator("notification_emails")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for email in value:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
                raise ValueError(f"{email!r} is not an e-mail address")
        return value

    @field_validator("countries")
    @classmethod
    def _unique_countries(cls, value: tuple[Country, ...]) -> tuple[Country, ...]:
        if not value:
            raise ValueError("at least one country is required")
        seen: set[str] = set()
        for country in value:
            if country.code in seen:
                raise ValueError(f"country {country.code} is listed twice")
            seen.add(country.code)
        unique_names((c.code, c.experiments) for c in value)
        return value

    @model_validator(mode="after")
    def _within_quota(self) -> EnvironmentConfig:
        # Every country is one dataset group in this env's region.
        if len(self.countries) > self.dataset_group_quota:
            raise ValueError(
                f"{len(self.countries)} countries need {len(self.countries)} dataset groups in one region, but the "
                f"Personalize quota is {self.dataset_group_quota}; request an increase in Service Quotas and set "
                "dataset_group_quota to the granted value"
            )
        return self

    @model_validator(mode="after")
    def _deployable_outside_dev(self) -> EnvironmentConfig:
        if self.env != DEFAULT_ENV and (self.account is None or self.region is None):
            raise ValueError(f"account and region are required for env {self.env!r} (only dev may omit them)")
        return self

    def country(self, code: str) -> Country:
        for country in self.countries:
            if country.code == code:
                return country
        raise KeyError(code)

    @property
    def name_prefix(self) -> str:
        """Prefix of every physical name in this environment."""
        return f"personalize-{self.env}"


def _apply_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """Merge the file's `defaults:` block under each country (a country's own keys win, nested too)."""
    defaults = raw.pop("defaults", None) or {}
    if not isinstance(defaults, dict):
        raise ConfigError("defaults: must be a mapping of country settings")

    def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for key, value in override.items():
            out[key] = (
                merge(out[key], value)
                if isinstance(value, dict) and isinstance(out.get(key), dict)
                else value
            )
        return out

    countries = raw.get("countries")
    if isinstance(countries, list):
        raw["countries"] = [merge(defaults, c) if isinstance(c, dict) else c for c in countries]
    return raw


def _field_path(loc: tuple[Any, ...], raw: dict[str, Any]) -> str:
    """countries.1.time_zone -> countries[JP].time_zone: name countries by code, which is what people edit."""
    parts: list[str] = []
    node: Any = raw
    for item in loc:
        if isinstance(item, int) and isinstance(node, list):
            entry = node[item] if item < len(node) else None
            label = entry.get("code") if isinstance(entry, dict) else None
            parts[-1] = f"{parts[-1]}[{label or item}]"
            node = entry
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)


def available_envs(config_dir: Path = CONFIG_DIR) -> list[str]:
    # `<name>.example.yaml` is a file to copy (config/sandbox.example.yaml), not an env: no "." in an env name.
    return sorted(p.stem for p in config_dir.glob("*.yaml") if "." not in p.stem)


# How far ahead a run time is checked: the tz database holds every announced change of a zone's rules as dated
# transitions and repeats the rule in force every year after the last one, so a few years cover all that is known
# today; the config is validated again at every synth, so a later change of the rules is caught at the next deploy.
SKIPPED_DAYS_HORIZON_YEARS = 3


@functools.cache  # every load of the config checks every country again (~10 ms a zone)
def skipped_days(
    time_zone: str, run_time: time, *, start: date, years: int = SKIPPED_DAYS_HORIZON_YEARS
) -> tuple[date, ...]:
    """The days from `start` over `years` on which `run_time` does not exist in `time_zone` (clocks moved past it)."""
    zone = ZoneInfo(time_zone)
    days: list[date] = []
    day, end = start, start + timedelta(days=round(365.25 * years))
    while day < end:
        local = datetime.combine(day, run_time, tzinfo=zone)
        # A time in the gap reads with the offset before the change, so it comes back from UTC an hour later.
        if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
            days.append(day)
        day += timedelta(days=1)
    return tuple(days)


@functools.cache
def _iana_zones() -> frozenset[str]:
    # available_timezones() walks the whole tz database on disk (~600 files) at every call.
    return frozenset(available_timezones())


# libyaml's safe loader (same YAML 1.1 rules as yaml.safe_load, ~10x faster): the replay tool loads the config
# at every command, the synthesis once per stack set.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_config(env: str | None = None, config_dir: Path = CONFIG_DIR) -> EnvironmentConfig:
    """Load and validate config/<env>.yaml; raise ConfigError naming the file and the field on any problem."""
    env = env or DEFAULT_ENV
    path = config_dir / f"{env}.yaml"
    try:
        shown = path.relative_to(Path.cwd())
    except ValueError:
        shown = path
    if not re.fullmatch(r"[a-z][a-z0-9-]*", env) or not path.is_file():
        raise ConfigError(
            f"unknown env {env!r}: no file {shown}; known envs: {', '.join(available_envs(config_dir))}"
        )
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except yaml.YAMLError as error:
        raise ConfigError(f"{shown}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{shown}: expected a mapping at the top level")
    raw = _apply_defaults(raw)
    if raw.get("env", env) != env:
        raise ConfigError(f"{shown}: env: is {raw.get('env')!r} but the file is for {env!r}")
    raw.setdefault("env", env)
    try:
        return EnvironmentConfig.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        field = _field_path(tuple(first["loc"]), raw) or "(top level)"
        more = f" (and {error.error_count() - 1} more problem(s))" if error.error_count() > 1 else ""
        raise ConfigError(f"{shown}: {field}: {message}{more}") from None
