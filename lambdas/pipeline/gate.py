"""The metric gate: promote a new solution version only if it is not measurably worse than the promoted one.

Personalize computes the metrics on a 90/10 user holdout, so two versions trained on the same data differ
a little by chance; `tolerance` is the largest relative drop accepted per metric. A first version has
nothing to compare with: it must reach the configured floors instead.
"""

from __future__ import annotations

from typing import Any

from common.recipes import Recipe
from pipeline.model import GateDecision, GateSettings


def decide(
    recipe: Recipe,
    version_arn: str,
    new_metrics: dict[str, float],
    promoted: dict[str, Any] | None,
    settings: GateSettings,
) -> GateDecision:
    reasons: list[str] = []
    old_metrics = promoted.get("metrics") if promoted else None
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
            if value is None or value < floor:
                reasons.append(f"{metric} = {value} is below the floor {floor} for a first version")
    return GateDecision(
        recipe=recipe,
        solution_version_arn=version_arn,
        approved=not reasons,
        reasons=reasons,
        new_metrics=new_metrics,
        promoted_metrics=old_metrics,
        promoted_version_arn=promoted.get("solution_version_arn") if promoted else None,
    )
