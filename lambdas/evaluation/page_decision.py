"""The page's decision parts (evaluation.decision): the warm/cold split in the header (p#populations with
span#warm-share and span#cold-share), the decision box opening the verdict (div#decision[data-outcome]
[data-candidate] with #decision-metric, #decision-population, #decision-rule) and the cold evaluated users in
the cold-start section (p#cold-evaluated, li[data-cold-recommender]). Every piece of data goes through
`html.escape`.
"""

from __future__ import annotations

from html import escape

from evaluation.online import Interval
from evaluation.report_model import Report


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def populations(report: Report) -> list[str]:
    """The header's split of the evaluated users: warm (history before the cut-off) and cold (none)."""
    if report.decision is None or not report.decision.sample.evaluated_users:
        return []
    s = report.decision.sample
    return [
        f'<p class="meta" id="populations">Of the {s.evaluated_users} evaluated users, '
        f'<span id="warm-share">{_pct(s.warm_share)}</span> ({s.warm_users}) are warm: they have history '
        f'before the cut-off; <span id="cold-share">{_pct(s.cold_share)}</span> ({s.cold_users}) are '
        "cold: no history, so every recommender but Personalize shows them the same popularity list. The decision "
        "is taken on warm users; cold users are judged in the cold-start section.</p>"
    ]


def decision_box(report: Report) -> list[str]:
    """The bottom line (evaluation.decision): outcome, then the metric, the population and the rule it follows."""
    d = report.decision
    if d is None:
        return []
    return [
        f'<div id="decision" class="{escape(d.outcome.name.lower().replace("_", "-"))}" '
        f'data-outcome="{escape(d.outcome.value)}" data-candidate="{escape(d.candidate)}" '
        f'data-against="{escape(d.against)}"><p><strong>Decision:</strong> {escape(d.text)}</p>',
        f'<p class="legend" id="decision-metric">Metric: {escape(d.metric_label)}; '
        f"{escape(d.candidate_label)} finds {d.candidate_hits} and the current curation {d.baseline_hits} such "
        f"titles in the top 25 of the lists of the {d.users} of the {d.sample.warm_users} warm users who watched a "
        "title new to them.</p>",
        f'<p class="legend" id="decision-population">{escape(d.population)}</p>',
        f'<p class="legend" id="decision-rule">Rule: {escape(d.rule)}</p></div>',
    ]


def cold_evaluated(report: Report) -> list[str]:
    """Cold evaluated users judged by what each recommender shows them (on everything they watched next)."""
    if report.decision is None or not report.decision.sample.cold_users:
        return []
    s = report.decision.sample
    labels = {r.name: r.label for r in report.recommenders}
    items = "".join(
        f'<li data-cold-recommender="{escape(name)}">{escape(labels.get(name, name))}: {per100:.1f}</li>'
        for name, per100 in s.cold_hits_per_100_users.items()
    )
    return [
        f'<p class="meta" id="cold-evaluated">The {s.cold_users} cold users among the evaluated '
        f"({_pct(s.cold_share)}): titles they watched next found in the top 25, per 100 of them. Where "
        f"two recommenders show them the same popularity list these figures are equal by construction.</p>"
        f'<ul class="legend">{items}</ul>'
    ]


def online_box(report: Report) -> list[str]:
    """The online decision (evaluation.online), beside the offline one: verdict, users, hits and conversion per
    arm with their intervals, the sample-ratio check and the horizon (div#online[data-verdict][data-experiment],
    table#online-arms with tr[data-arm], #online-sample-ratio, #online-horizon, #online-rule)."""
    o = report.online
    if o is None:
        return []

    def interval(i: Interval | None, pct: bool) -> str:
        if i is None:
            return ""
        return f" ({_pct(i.low)} to {_pct(i.high)})" if pct else f" ({i.low:.3f} to {i.high:.3f})"

    rows = "".join(
        f'<tr data-arm="{escape(a.arm.value)}"><th>{escape(a.arm.value)}</th><td class="num">{a.weight:.0%}</td>'
        f'<td class="num">{a.users:,}</td><td class="num">{a.exposures:,}</td>'
        f'<td class="num">{"–" if a.hits_per_user is None else f"{a.hits_per_user:.3f}"}'
        f"{interval(a.hits_per_user_interval, pct=False)}</td>"
        f'<td class="num">{_pct(a.conversion)}{interval(a.conversion_interval, pct=True)}</td></tr>'
        for a in o.arms
    )
    s = o.sample_ratio
    horizon = (
        "not known yet: the control has no hits to size it from"
        if o.users_needed_per_arm is None
        else f"{o.users_needed_per_arm:,} exposed users per arm"
    )
    return [
        f'<div id="online" data-verdict="{escape(o.verdict.value)}" data-experiment="{escape(o.experiment)}">'
        f"<p><strong>Online decision</strong> (experiment {escape(o.experiment)}, {escape(o.start)} to "
        f"{escape(o.end)}): {escape(o.text)}</p>",
        '<table id="online-arms"><thead><tr><th>Arm</th><th>Weight</th><th>Users exposed</th><th>Exposures</th>'
        f"<th>Hits per exposed user (95 % CI)</th><th>Conversion (95 % CI)</th></tr></thead><tbody>{rows}"
        "</tbody></table>",
        f'<p class="legend" id="online-sample-ratio">Sample ratio: chi-square {s.chi_square:g}, p = '
        f"{s.p_value:.3g} ({'passed' if s.passed else 'failed'}; a verdict needs p of at least {s.alpha:g}).</p>",
        f'<p class="legend" id="online-horizon">Horizon: {escape(horizon)}, for a {o.minimum_detectable_effect:.0%} '
        f"lift at alpha {o.alpha:g} and power {o.power:.0%}; a hit is an exposed title viewed or bought within "
        f"{o.hit_window_hours} h of its exposure.</p>",
        f'<p class="legend" id="online-rule">Rule: {escape(o.rule)}</p></div>',
    ]
