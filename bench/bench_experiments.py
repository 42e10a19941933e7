"""Online experiments on simulated users: the decision rule's error rates and the outcome SQL's time.

Every simulated experiment goes through evaluation.online.decide_hits, the function the report step calls, so the
rates below are the rule's own:
- experiment_aa_false_positive_rate: equal arms; the share of experiments in which the rule adopts or keeps
  (anything but "not decided") the first day its horizon is reached. The stated rate is the experiment's alpha.
- experiment_power_at_mde: the candidate's hits per user planted at (1 + minimum detectable effect) x the
  control's; the share of experiments adopting it at the horizon.
- experiment_srm_detection: a planted 52/48 split of a 50/50 experiment, at the horizon's sample size; the share
  of experiments the sample-ratio check blocks.
- online_report_seconds_30m: the outcome SQL (evaluation/sql/online_outcome.sql, through DuckDB) on 30 M
  exposures of 3 M users with 30 M views, generated in DuckDB.

Users arrive one by one, each assigned to an arm by the weights; per user, hits follow a negative binomial
(gamma-mixed Poisson: a few users click far more than most), as counts of clicks do. The rule is checked after
every horizon / CHECKS_PER_HORIZON arrivals, as the daily report does, and its first verdict after the horizon is
the result.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import date

import duckdb
import numpy as np

from common.experiments import Arm, Experiment
from evaluation.online import Verdict, decide_hits
from evaluation.online_local import create_tables
from evaluation.online_sql import OnlineQueryParams
from evaluation.online_sql import render as render_online

EXPERIMENTS = 400  # per rate: the A/A rate's standard error is then 1.1 points
SEED = 20261207
CONTROL_HITS = 0.3  # mean hits per exposed user of the control
SHAPE = 0.5  # gamma shape of the per-user rate: variance = mean + mean^2 / SHAPE
EXPERIMENT = Experiment(
    name="bench-experiment",
    arms={Arm.PERSONALIZE: 0.5, Arm.CURATION: 0.5},
    start=date(2026, 3, 1),
    end=date(2026, 4, 1),
    minimum_detectable_effect=0.05,
    alpha=0.05,
    power=0.8,
)
CHECKS_PER_HORIZON = 40  # daily checks while the arms grow by one horizon (a 40-day experiment)
EXPOSURES_30M = 30_000_000


def _theoretical_horizon() -> int:
    from evaluation.online import users_needed

    variance = CONTROL_HITS + CONTROL_HITS**2 / SHAPE
    n = users_needed(CONTROL_HITS, variance, EXPERIMENT.minimum_detectable_effect, EXPERIMENT.alpha, EXPERIMENT.power)
    assert n is not None
    return n


def _hits(rng: np.random.Generator, mean: float, n: int) -> np.ndarray:
    return rng.poisson(rng.gamma(SHAPE, mean / SHAPE, n))


def simulate(lift: float, candidate_share: float, rng: np.random.Generator) -> Verdict:
    """One experiment: users arrive with P(candidate) = candidate_share; the first verdict at the horizon."""
    horizon = _theoretical_horizon()
    total = int(3 * horizon / min(EXPERIMENT.arms.values()))
    candidate = rng.random(total) < candidate_share
    hits = np.where(
        candidate, _hits(rng, CONTROL_HITS * (1 + lift), total), _hits(rng, CONTROL_HITS, total)
    )  # fmt: skip
    # Before ~0.9 x the horizon every arm is short of it: start checking there (the rule would say "waiting").
    first = int(0.9 * horizon / max(EXPERIMENT.arms.values()))
    for seen in range(first, total + 1, max(horizon // CHECKS_PER_HORIZON, 1)):
        arms = {
            Arm.PERSONALIZE: (hits[:seen][candidate[:seen]], 0),
            Arm.CURATION: (hits[:seen][~candidate[:seen]], 0),
        }
        verdict = decide_hits(EXPERIMENT, arms).verdict
        if verdict is not Verdict.WAITING:
            return verdict
    return Verdict.WAITING


def rates(experiments: int = EXPERIMENTS) -> dict[str, float]:
    rng = np.random.default_rng(SEED)
    aa = [simulate(0.0, 0.5, rng) for _ in range(experiments)]
    power = [simulate(EXPERIMENT.minimum_detectable_effect, 0.5, rng) for _ in range(experiments)]
    srm = [simulate(0.0, 0.52, rng) for _ in range(experiments)]
    decided = (Verdict.ADOPT, Verdict.KEEP)
    return {
        "experiment_aa_false_positive_rate": sum(v in decided for v in aa) / experiments,
        "experiment_power_at_mde": sum(v is Verdict.ADOPT for v in power) / experiments,
        "experiment_srm_detection": sum(v is Verdict.BLOCKED for v in srm) / experiments,
    }


def _generate(con: duckdb.DuckDBPyConnection, exposures: int) -> OnlineQueryParams:
    """`exposures` exposures of 10 items (of 20,000) over 3 M / 30 M x exposures users and 28 days, as JSON lines,
    and as many views, a third of them of an item exposed to the user just before."""
    create_tables(con)
    users = max(exposures // 10, 1)
    start = int(time.mktime(EXPERIMENT.start.timetuple())) - time.timezone
    con.execute(
        f"""INSERT INTO exposures
        SELECT json_object('exposure', json_object(
                'country', 'DE', 'experiment', '{EXPERIMENT.name}',
                'arm', CASE WHEN hash(n % {users}) % 2 = 0 THEN 'personalize' ELSE 'curation' END,
                'user_id', 'u' || (n % {users}), 'recommendation_id', 'r' || n,
                'items', list_transform(range(10), lambda k: 'i' || ((n * 7 + k * 13) % 20000)),
                'source', 'batch', 'served_at', ({start} + n % (28 * 86400)) * 1000))::VARCHAR,
            strftime(to_timestamp({start} + n % (28 * 86400)), '%Y-%m-%d')
        FROM range({exposures}) AS t(n)"""
    )
    con.execute(
        f"""INSERT INTO views_parsed
        SELECT 'u' || (n % {users}),
            'i' || CASE WHEN n % 3 = 0 THEN (n * 7 + (n % 10) * 13) % 20000 ELSE (n * 31) % 20000 END,
            {start} + n % (28 * 86400) + 3600, NULL, 'f.csv', NULL,
            strftime(to_timestamp({start} + n % (28 * 86400) + 3600), '%Y-%m-%d')
        FROM range({exposures}) AS t(n)"""
    )
    return OnlineQueryParams(country="DE", run_date=date(2026, 3, 31), experiment=EXPERIMENT)


def outcome_seconds(exposures: int = EXPOSURES_30M) -> tuple[float, int]:
    """Seconds of the outcome SQL on DuckDB (data generation excluded) and the per-user rows it returns."""
    from dataprep.duckdb_dialect import to_duckdb

    con = duckdb.connect(config={"threads": os.cpu_count() or 2})
    con.execute("SET enable_progress_bar = false")
    try:
        params = _generate(con, exposures)
        sql = to_duckdb(render_online(params))
        started = time.perf_counter()
        rows = con.execute(f"SELECT count(*), sum(hits) FROM ({sql})").fetchone()
        return time.perf_counter() - started, int(rows[0]) if rows else 0
    finally:
        con.close()


def figures() -> Iterator[tuple[str, float, str]]:
    for name, value in rates().items():
        yield name, value, "share"
    seconds, _ = outcome_seconds()
    yield "online_report_seconds_30m", seconds, "s"
