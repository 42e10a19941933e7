"""Assignment (common.experiments.assign) as the serving API uses it: sticky, in the configured proportions within
sampling error, and independent across experiments."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date

from common.experiments import Arm, Experiment, assign

USERS = [f"user-{n}" for n in range(20_000)]
# Bounds with a false-alarm rate near 1e-5, so the tests do not flake, yet catch a split off by about 1.5 %:
# 4.42 standard deviations of a binomial count (two-sided normal tail 1e-5) and the chi-square critical value of
# one degree of freedom at 1e-5.
Z = 4.42
CHI_SQUARE_1DF = 19.51


def experiment(name: str, **arms: float) -> Experiment:
    return Experiment(name=name, arms=arms, start=date(2027, 1, 4), end=date(2027, 2, 1))


def test_a_user_keeps_their_arm_for_the_experiment_s_life_whatever_else_changes():
    first = experiment("kr-trial", personalize=0.5, curation=0.5)
    extended = Experiment(**{**first.model_dump(), "end": date(2027, 3, 1), "minimum_detectable_effect": 0.1})
    arms = [assign(first, user) for user in USERS[:2000]]
    assert [assign(first, user) for user in USERS[:2000]] == arms
    assert [assign(extended, user) for user in USERS[:2000]] == arms
    assert set(arms) == {Arm.PERSONALIZE, Arm.CURATION}


def test_the_split_matches_the_weights_within_a_binomial_bound():
    weights = {"personalize": 0.2, "curation": 0.3, "popularity": 0.5}
    counts = Counter(assign(experiment("kr-three-arms", **weights), user) for user in USERS)
    n = len(USERS)
    for arm, weight in weights.items():
        expected, sd = n * weight, math.sqrt(n * weight * (1 - weight))
        assert abs(counts[Arm(arm)] - expected) <= Z * sd, (arm, counts[Arm(arm)], expected, sd)


def test_two_experiments_assign_independently():
    a = experiment("kr-first", personalize=0.5, curation=0.5)
    b = experiment("jp-second", personalize=0.5, popularity=0.5)
    table = Counter((assign(a, user), assign(b, user)) for user in USERS)
    rows, columns, n = Counter(), Counter(), len(USERS)
    for (row, column), count in table.items():
        rows[row] += count
        columns[column] += count
    chi_square = sum(
        (table[(row, column)] - rows[row] * columns[column] / n) ** 2 / (rows[row] * columns[column] / n)
        for row in rows
        for column in columns
    )
    assert len(table) == 4
    assert chi_square < CHI_SQUARE_1DF, (chi_square, table)


def test_a_renamed_experiment_draws_every_user_again():
    old, new = (
        experiment("kr-trial", personalize=0.5, curation=0.5),
        experiment("kr-trial-2", personalize=0.5, curation=0.5),
    )
    moved = sum(assign(old, user) != assign(new, user) for user in USERS[:4000])
    # about half move: the new name is a new, independent draw
    assert abs(moved - 2000) <= Z * math.sqrt(4000 * 0.25)
