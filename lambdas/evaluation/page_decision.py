"""The page's decision parts (evaluation.decision): the warm/cold split in the header (p#populations with
span#warm-share and span#cold-share), the decision box opening the verdict (div#decision[data-outcome]
[data-candidate] with #decision-metric, #decision-population, #decision-rule) and the cold evaluated users in
the cold-start section (p#cold-evaluated, li[data-cold-recommender]). Every piece of data goes through
`html.escape`.
"""

from __future__ import annotations

from html import escape

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
