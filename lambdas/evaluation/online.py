"""The online outcome of an experiment (report.json `online`): per arm, users exposed, hits per exposed user and
conversion with bootstrap intervals clustered by user, a sample-ratio check, and a fixed-horizon decision.

Input: the outcome SQL's rows (sql/online_outcome.sql), one per exposed user and arm: a hit is an exposed item the
user viewed or purchased within the experiment's hit window after an exposure of it, counted once per item.

The rule (RULE below; docs/experiments.md explains it for the product owner):
1. Sample ratio: a chi-square goodness-of-fit test of the users per arm against the configured weights. At
   p < SRM_ALPHA the split itself is broken (assignment, logging or a filter depends on the arm), so no verdict is
   given whatever the figures say. SRM_ALPHA is small because the check runs on every daily report of the
   experiment: at 0.001 one daily check in a thousand blocks a healthy experiment by chance, and a real
   mismatch at the horizon's sample sizes gives p-values far below it.
2. Horizon: every arm needs at least `users_needed` exposed users, the two-sample size for a difference of means
       n = (z[1 - a/2] + z[power])^2 * (var_control + var_candidate) / (mde * mean_control)^2
   on hits per exposed user (the two-sample size for a difference of means with unequal variances), with the
   control's observed mean and variance, var_candidate = var_control * (1 + mde)^2 (a lift that multiplies every
   user's hits by 1 + mde scales the variance so; counts' variance grows more slowly, so this errs long), the
   experiment's minimum detectable effect (relative), power, and a = alpha / (arms - 1) (Bonferroni). Before it: no
   verdict, however large the difference looks (a rule that decides whenever the interval clears zero would, checked
   daily, declare far more than alpha of equal arms different).
3. At the horizon, for each candidate: the (1 - a) percentile bootstrap interval of its mean hits per user minus
   the control's, users resampled (a user's exposures stay together): above 0 adopt, below 0 keep, else not
   decided. The control is the current curation when it is an arm, else the first arm of ARM_ORDER.

One definition: the report and bench/bench_experiments.py both call `decide`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from statistics import NormalDist
from typing import Any

import numpy as np
from pydantic import BaseModel

from common.experiments import ARM_ORDER, Arm, Experiment

SRM_ALPHA = 0.001
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 20261207
CONTROL = Arm.CURATION
RULE = (
    "No verdict while the split of users between the arms differs from the weights (chi-square, p < "
    f"{SRM_ALPHA:g}) or before every arm has the users the minimum detectable effect needs; then adopt a "
    "candidate when the interval of its hits per exposed user minus the control's is above 0, keep the control "
    "when it is below 0, otherwise not decided."
)


class Verdict(StrEnum):
    ADOPT = "adopt"
    KEEP = "keep"
    NOT_DECIDED = "not decided"
    WAITING = "waiting for users"
    BLOCKED = "blocked by sample ratio"


class UserOutcome(BaseModel):
    """One outcome SQL row."""

    arm: Arm
    user_id: str
    exposures: int
    hits: int


class Interval(BaseModel):
    low: float
    high: float


class ArmResult(BaseModel):
    arm: Arm
    weight: float
    users: int
    exposures: int
    hits: int
    hits_per_user: float | None
    hits_per_user_interval: Interval | None  # 95 %, users resampled
    conversion: float | None  # share of exposed users with >= 1 hit
    conversion_interval: Interval | None


class SampleRatio(BaseModel):
    chi_square: float
    p_value: float
    alpha: float = SRM_ALPHA
    passed: bool
    expected_shares: dict[Arm, float]
    observed_shares: dict[Arm, float]


class Comparison(BaseModel):
    arm: Arm
    against: Arm
    difference: float | None  # hits per exposed user, candidate minus control
    relative_lift: float | None  # difference / control's hits per exposed user
    interval: Interval | None  # (1 - a) interval of the difference; None before the horizon
    verdict: Verdict


class OnlineOutcome(BaseModel):
    experiment: str
    start: str
    end: str
    hit_window_hours: int
    minimum_detectable_effect: float
    alpha: float
    power: float
    control: Arm
    arms: list[ArmResult]
    sample_ratio: SampleRatio
    users_needed_per_arm: int | None  # None: the control has no hits yet, so no variance to size from
    comparisons: list[Comparison]
    verdict: Verdict
    text: str
    rule: str = RULE


def _chi_square_p(statistic: float, df: int) -> float:
    """Upper tail of the chi-square distribution for the 1 or 2 degrees of freedom an experiment's arms give."""
    if df == 1:
        return math.erfc(math.sqrt(statistic / 2))
    if df == 2:
        return math.exp(-statistic / 2)
    raise ValueError(f"sample-ratio check: {df + 1} arms; ARM_ORDER has at most {len(ARM_ORDER)}")


def sample_ratio(users: Mapping[Arm, int], weights: Mapping[Arm, float]) -> SampleRatio:
    arms = [arm for arm in ARM_ORDER if arm in weights]
    total = sum(users.get(arm, 0) for arm in arms)
    if total == 0:
        statistic, p = 0.0, 1.0
    else:
        statistic = sum((users.get(a, 0) - total * weights[a]) ** 2 / (total * weights[a]) for a in arms)
        p = _chi_square_p(statistic, len(arms) - 1)
    return SampleRatio(
        chi_square=round(statistic, 4),
        p_value=p,
        passed=p >= SRM_ALPHA,
        expected_shares={a: weights[a] for a in arms},
        observed_shares={a: users.get(a, 0) / total if total else 0.0 for a in arms},
    )


def users_needed(control_mean: float, control_variance: float, mde: float, alpha: float, power: float) -> int | None:
    """RULE's horizon: users per arm to detect a relative lift `mde` of hits per user (None without hits)."""
    if control_mean <= 0 or control_variance <= 0:
        return None
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    candidate_variance = control_variance * (1 + mde) ** 2
    return math.ceil(z * z * (control_variance + candidate_variance) / (mde * control_mean) ** 2)


def _resampled_means(hits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """BOOTSTRAP_SAMPLES means of n users drawn with replacement. The mean depends only on how often each hit
    count is drawn, so the draw is a multinomial over the distinct counts: exactly the users' resampling."""
    values, counts = np.unique(hits, return_counts=True)
    drawn = rng.multinomial(hits.size, counts / hits.size, size=BOOTSTRAP_SAMPLES)
    return np.asarray(drawn @ values / hits.size, dtype=float)


def _interval(samples: np.ndarray, level: float) -> Interval:
    low, high = np.percentile(samples, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return Interval(low=float(low), high=float(high))


def _arm_hits(rows: Iterable[UserOutcome]) -> dict[Arm, tuple[np.ndarray, int]]:
    hits: dict[Arm, list[int]] = {}
    exposures: dict[Arm, int] = {}
    for row in rows:
        hits.setdefault(row.arm, []).append(row.hits)
        exposures[row.arm] = exposures.get(row.arm, 0) + row.exposures
    return {arm: (np.asarray(values, dtype=np.int64), exposures[arm]) for arm, values in hits.items()}


def decide(experiment: Experiment, rows: Iterable[UserOutcome]) -> OnlineOutcome:
    """RULE on the outcome SQL's rows; rows of an arm the experiment does not have are ignored."""
    return decide_hits(experiment, _arm_hits(row for row in rows if row.arm in experiment.arms))


def decide_hits(experiment: Experiment, data: Mapping[Arm, tuple[np.ndarray, int]]) -> OnlineOutcome:
    """RULE on arm -> (each exposed user's hits, the arm's exposures): what `decide` and the bench's simulated
    experiments both call."""
    arms = [arm for arm in ARM_ORDER if arm in experiment.arms]
    control = CONTROL if CONTROL in arms else arms[0]
    empty = (np.zeros(0, dtype=np.int64), 0)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    means = {arm: _resampled_means(data[arm][0], rng) for arm in arms if data.get(arm, empty)[0].size}
    results = []
    for arm in arms:
        hits, exposures = data.get(arm, empty)
        n = int(hits.size)
        converted = (hits > 0).astype(np.int64)
        results.append(
            ArmResult(
                arm=arm,
                weight=experiment.arms[arm],
                users=n,
                exposures=exposures,
                hits=int(hits.sum()),
                hits_per_user=float(hits.mean()) if n else None,
                hits_per_user_interval=_interval(means[arm], 0.95) if n else None,
                conversion=float(converted.mean()) if n else None,
                conversion_interval=_interval(_resampled_means(converted, rng), 0.95) if n else None,
            )
        )
    ratio = sample_ratio({r.arm: r.users for r in results}, experiment.arms)
    level_alpha = experiment.alpha / (len(arms) - 1)
    control_hits = data.get(control, empty)[0]
    needed = (
        users_needed(
            float(control_hits.mean()),
            float(control_hits.var(ddof=1)),
            experiment.minimum_detectable_effect,
            level_alpha,
            experiment.power,
        )
        if control_hits.size > 1
        else None
    )
    reached = needed is not None and all(r.users >= needed for r in results)
    comparisons = [
        _compare(arm, control, data, means, level_alpha, ratio.passed, reached) for arm in arms if arm != control
    ]
    verdict = _overall(ratio.passed, reached, comparisons)
    outcome = OnlineOutcome(
        experiment=experiment.name,
        start=experiment.start.isoformat(),
        end=experiment.end.isoformat(),
        hit_window_hours=experiment.hit_window_hours,
        minimum_detectable_effect=experiment.minimum_detectable_effect,
        alpha=experiment.alpha,
        power=experiment.power,
        control=control,
        arms=results,
        sample_ratio=ratio,
        users_needed_per_arm=needed,
        comparisons=comparisons,
        verdict=verdict,
        text="",
    )
    outcome.text = verdict_text(outcome)
    return outcome


def _compare(
    arm: Arm,
    control: Arm,
    data: Mapping[Arm, tuple[np.ndarray, int]],
    means: Mapping[Arm, np.ndarray],
    alpha: float,
    ratio_passed: bool,
    reached: bool,
) -> Comparison:
    if arm not in means or control not in means:
        return Comparison(arm=arm, against=control, difference=None, relative_lift=None, interval=None,
                          verdict=Verdict.BLOCKED if not ratio_passed else Verdict.WAITING)  # fmt: skip
    base, cand = float(data[control][0].mean()), float(data[arm][0].mean())
    difference = cand - base
    lift = difference / base if base else None
    if not ratio_passed:
        return Comparison(arm=arm, against=control, difference=difference, relative_lift=lift, interval=None,
                          verdict=Verdict.BLOCKED)  # fmt: skip
    if not reached:
        return Comparison(arm=arm, against=control, difference=difference, relative_lift=lift, interval=None,
                          verdict=Verdict.WAITING)  # fmt: skip
    interval = _interval(means[arm] - means[control], 1 - alpha)
    verdict = Verdict.ADOPT if interval.low > 0 else Verdict.KEEP if interval.high < 0 else Verdict.NOT_DECIDED
    return Comparison(
        arm=arm, against=control, difference=difference, relative_lift=lift, interval=interval, verdict=verdict
    )


def _overall(ratio_passed: bool, reached: bool, comparisons: Sequence[Comparison]) -> Verdict:
    """Blocked and waiting first; then adopt when a candidate wins, keep when every candidate loses."""
    if not ratio_passed:
        return Verdict.BLOCKED
    if not reached:
        return Verdict.WAITING
    verdicts = {c.verdict for c in comparisons}
    if Verdict.ADOPT in verdicts:
        return Verdict.ADOPT
    if verdicts == {Verdict.KEEP}:
        return Verdict.KEEP
    return Verdict.NOT_DECIDED


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1%}"


def verdict_text(outcome: OnlineOutcome) -> str:
    """One sentence for the page's decision box and the notification."""
    users = ", ".join(f"{r.arm.value} {r.users:,}" for r in outcome.arms)
    if outcome.verdict is Verdict.BLOCKED:
        s = outcome.sample_ratio
        observed = ", ".join(f"{a.value} {share:.1%}" for a, share in s.observed_shares.items())
        expected = ", ".join(f"{a.value} {share:.0%}" for a, share in s.expected_shares.items())
        return (
            f"Blocked by sample ratio: users per arm ({observed}) differ from the weights ({expected}), "
            f"p = {s.p_value:.2g} < {s.alpha:g}; find why before reading any figure."
        )
    if outcome.verdict is Verdict.WAITING:
        needed = (
            "the control has no hits yet to size it from"
            if outcome.users_needed_per_arm is None
            else f"{outcome.users_needed_per_arm:,} per arm are needed"
        )
        return f"Waiting for users: exposed users {users}; {needed}. No verdict before the horizon."
    lines = "; ".join(
        f"{c.arm.value} {_pct(c.relative_lift)} hits per exposed user against {c.against.value} ({c.verdict.value})"
        for c in outcome.comparisons
    )
    if outcome.verdict is Verdict.ADOPT:
        best = max((c for c in outcome.comparisons if c.verdict is Verdict.ADOPT), key=lambda c: c.difference or 0.0)
        return f"Adopt {best.arm.value}: {lines}; users {users}."
    if outcome.verdict is Verdict.KEEP:
        return f"Keep {outcome.control.value}: {lines}; users {users}."
    return f"Not decided at the horizon: {lines}; users {users}."


def trend_values(outcome: OnlineOutcome | None) -> dict[str, float]:
    """Arm -> hits per exposed user: the online line of the page's trend (evaluation.trend.TrendPoint.online)."""
    if outcome is None:
        return {}
    return {a.arm.value: a.hits_per_user for a in outcome.arms if a.hits_per_user is not None}


def rows_from_json(rows: Iterable[Mapping[str, Any]]) -> list[UserOutcome]:
    """The outcome SQL's JSON-lines rows as UserOutcome (a row of an unknown arm fails with the row's text)."""
    return [UserOutcome.model_validate(row) for row in rows]
