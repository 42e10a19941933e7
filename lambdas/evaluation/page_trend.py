"""The page's trend section: the last runs' decision values, online outcome and estimated costs.

One idea: the HTML of evaluation.trend's points (page.py renders the rest of the page).
"""

from __future__ import annotations

from evaluation import charts
from evaluation.decision import DECISION_METRIC, DECISION_METRIC_LABEL
from evaluation.report_model import Report


def trend_section(report: Report) -> list[str]:
    """The trend charts (offline decision value, online outcome) and the runs' estimated costs."""
    if not report.trend:
        return []
    dates = [p.run_date for p in report.trend]
    names = [r.name for r in report.recommenders]
    labels = {r.name: r.label for r in report.recommenders}
    for point in report.trend:
        for name in point.values:
            labels.setdefault(name, name)
            if name not in names:
                names.append(name)
    series = {name: [p.values.get(name) for p in report.trend] for name in names}
    metric = (
        f"{DECISION_METRIC_LABEL}, warm users"
        if report.trend[-1].metric == DECISION_METRIC
        else report.trend[-1].metric.replace("normalized_discounted_cumulative_gain_at_", "NDCG@")
    )
    return [
        f"<h2>Trend: last {len(dates)} run(s)</h2>",
        charts.line_chart("chart-trend", f"{metric} per run, {report.country}", dates, series, labels),
        *_online_trend(report, dates),
        *_trend_costs(report),
    ]


def _online_trend(report: Report, dates: list[str]) -> list[str]:
    """The online outcome per run (hits per exposed user per arm), beside the offline trend; none without one."""
    arms = sorted({arm for p in report.trend for arm in p.online})
    if not arms:
        return []
    series = {arm: [p.online.get(arm) for p in report.trend] for arm in arms}
    title = f"Online: hits per exposed user per run, {report.country}"
    return [charts.line_chart("chart-trend-online", title, dates, series, {arm: arm for arm in arms})]


def _trend_costs(report: Report) -> list[str]:
    """Each run's estimated cost beside the trend (from its run record); nothing when none is known."""
    known = [p for p in report.trend if p.estimated_cost_usd is not None]
    if not known:
        return []
    cells = "".join(f"<tr><td>{p.run_date}</td><td>${p.estimated_cost_usd:,.2f}</td></tr>" for p in known)
    return [
        '<table id="trend-cost"><caption>Estimated cost per run (an estimate: measured drivers at the configured '
        "list prices; this run's is recorded when it finishes)</caption>"
        f"<tr><th>Run date</th><th>Estimated cost (USD)</th></tr>{cells}</table>"
    ]
