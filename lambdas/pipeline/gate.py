"""The metric gate: promote a new solution version only if it is not measurably worse than the promoted one.

Personalize computes the metrics on a 90/10 user holdout, so two versions trained on the same data differ
a little by chance; `tolerance` is the largest relative drop accepted per metric. A first version has
nothing to compare with: it must reach the configured floors instead.
"""

from __future__ import annotations

from typing import Any

from common.recipes import Recipe, spec
from pipeline.model import GateDecision, GateSettings

GATED_ON_METRICS = "metrics"


def _without_metrics(interactions: int | None, settings: GateSettings) -> tuple[str, list[str]]:
    """The rule for recipes that report no offline metrics: stated, never a silent approval."""
    rule = f"version ACTIVE and trained on >= {settings.min_interactions} interactions (recipe has no offline metrics)"
    if interactions is None:
        return rule, ["the run's interaction count is unknown"]
    if interactions < settings.min_interactions:
        return rule, [f"trained on {interactions} interactions, fewer than {settings.min_interactions}"]
    return rule, []


def _on_metrics(
    new_metrics: dict[str, float], old_metrics: dict[str, float] | None, settings: GateSettings
) -> list[str]:
    reasons: list[str] = []
    wanted = settings.tolerance if old_metrics else settings.floors
    missing = sorted(m for m in wanted if new_metrics.get(m) is None)
    if missing:
        # GetSolutionMetrics answered without them: nothing to compare is never a pass.
        reasons.append(f"metrics missing for the new version: {', '.join(missing)}")
    if old_metrics:
        for metric, tolerance in sorted(settings.tolerance.items()):
            old, new = old_metrics.get(metric), new_metrics.get(metric)
            if old is None or new is None or old <= 0:
                continue
            drop = (old - new) / old
            if drop > tolerance:
                reasons.append(f"{metric} fell {drop:.1%} ({old:.4f} -> {new:.4f}), tolerance {tolerance:.0%}")
    else:
        for metric, floor in sorted(settings.floors.items()):
            value = new_metrics.get(metric)
            if value is not None and value < floor:
                reasons.append(f"{metric} = {value} is below the floor {floor} for a first version")
    return reasons


def decide(
    recipe: Recipe,
    version_arn: str,
    new_metrics: dict[str, float],
    promoted: dict[str, Any] | None,
    settings: GateSettings,
    *,
    interactions: int | None = None,
) -> GateDecision:
    old_metrics = promoted.get("metrics") if promoted else None
    if spec(recipe).metrics:
        gated_on, reasons = GATED_ON_METRICS, _on_metrics(new_metrics, old_metrics, settings)
    else:
        gated_on, reasons = _without_metrics(interactions, settings)
    return GateDecision(
        recipe=recipe,
        solution_version_arn=version_arn,
        approved=not reasons,
        reasons=reasons,
        gated_on=gated_on,
        new_metrics=new_metrics,
        promoted_metrics=old_metrics,
        promoted_version_arn=promoted.get("solution_version_arn") if promoted else None,
    )
