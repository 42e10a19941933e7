"""Gate every newly trained version on its metrics against the version promoted for that solution (recipes
without offline metrics on the stated rule in pipeline.gate)."""

from __future__ import annotations

from common import clients
from common.aws_errors import transient_errors_named
from common.recipes import Recipe
from pipeline import ledger, step_names
from pipeline.gate import decide
from pipeline.model import RunState
from pipeline.step_handler import step_handler


def gate(state: RunState) -> RunState:
    client = clients.personalize()
    decisions = []
    for recipe, version_arn in sorted(state.trained.items()):
        with transient_errors_named():
            metrics = client.get_solution_metrics(solutionVersionArn=version_arn)["metrics"]
        current = ledger.promoted(state.settings.country, recipe)
        interactions = (state.counts or {}).get("interactions")
        decisions.append(
            decide(Recipe(recipe), version_arn, metrics, current, state.settings.gate, interactions=interactions)
        )
    state.gate = decisions
    return state


handler = step_handler(step_names.GATE, gate)
