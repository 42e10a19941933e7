"""The page's trend: each earlier run's decision value per recommender (and online outcome, and estimated cost),
read from the country's earlier report.json files.

One idea: the history the page plots beside this run's decision (evaluation.decision decides; this reads back).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from evaluation.decision import DECISION_METRIC, TREND_RUNS, Decision


class TrendPoint(BaseModel):
    run_date: str
    metric: str
    values: dict[str, float]  # recommender name -> value
    # That run's estimated cost (its run record's cost.estimate.total_usd, pipeline.pricing); None: not known
    # (this run's own is recorded when it finishes, after the page is written).
    estimated_cost_usd: float | None = None
    # That run's online outcome: arm -> hits per exposed user (evaluation.online.trend_values); empty without one.
    online: dict[str, float] = {}


SameData = Callable[[Mapping[str, Any]], bool]


def trend_from_reports(
    paths: Iterable[Path | str],
    country: str,
    current: TrendPoint | None = None,
    same_data: SameData | None = None,
) -> list[TrendPoint]:
    """The last TREND_RUNS runs' decision values (DECISION_METRIC on the decision's warm users) per recommender
    from earlier report.json files; bad ones, and ones without a decision (a trend mixes no other metric), skipped.

    Only reports of `country`, dated before `current` when it is given, and accepted by `same_data` when given
    (`make report` passes evaluation.raw_identity's rule; the deployed report step reads only its own results
    bucket, whose reports all come from the env's raw bucket).
    """
    texts = []
    for path in paths:
        try:
            texts.append(Path(path).read_text(encoding="utf-8"))
        except OSError:
            continue
    return trend_from_documents(texts, country, current, same_data)


def trend_from_documents(
    documents: Iterable[str | bytes],
    country: str,
    current: TrendPoint | None = None,
    same_data: SameData | None = None,
) -> list[TrendPoint]:
    """As trend_from_reports, from the report.json texts (the report step reads them from S3)."""
    points: dict[str, TrendPoint] = {}
    for document in documents:
        try:
            data = json.loads(document)
            if data.get("country") != country:
                continue
            if current is not None and str(data["run_date"]) >= current.run_date:
                continue  # a later run (or this date's earlier copy) is not this run's history
            if same_data is not None and not same_data(data):
                continue
            values = {str(name): float(value) for name, value in data["decision"]["values"].items()}
            points[str(data["run_date"])] = TrendPoint(
                run_date=str(data["run_date"]), metric=DECISION_METRIC, values=values, online=_online_values(data)
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    if current is not None:
        points[current.run_date] = current
    return [points[d] for d in sorted(points)][-TREND_RUNS:]


def _online_values(data: Mapping[str, Any]) -> dict[str, float]:
    """An earlier report.json's online arms -> hits per exposed user (none before the field existed)."""
    arms = (data.get("online") or {}).get("arms") or []
    return {str(a["arm"]): float(a["hits_per_user"]) for a in arms if a.get("hits_per_user") is not None}


def current_point(run_date: str, current: Decision) -> TrendPoint:
    return TrendPoint(run_date=run_date, metric=current.metric, values=dict(current.values))
