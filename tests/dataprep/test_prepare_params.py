"""The prepare step's PrepareParams come from one builder: the run's settings and the ledger's dates, all of them."""

from __future__ import annotations

from datetime import date

from common.recipes import Recipe
from dataprep.queries import PrepareParams
from pipeline.model import RunInfo, RunSettings, RunState
from pipeline.steps.prepare import prepare_params


def _state(previous: date | None, imported_before: date | None) -> RunState:
    # Only the fields a preparation depends on: the builder must not need the rest of a deployed country.
    settings = RunSettings.model_construct(
        country="KR", window_days=30, recipes=[Recipe.USER_PERSONALIZATION_V2, Recipe.SIMILAR_ITEMS]
    )
    run = RunInfo.model_construct(
        run_date=date(2025, 7, 1), previous_success_date=previous, interactions_imported_before=imported_before
    )
    return RunState.model_construct(settings=settings, run=run)


def test_prepare_params_carry_the_window_recipes_and_both_high_water_marks():
    params = prepare_params(_state(date(2025, 6, 29), date(2025, 6, 28)))
    assert params == PrepareParams(
        country="KR",
        run_date="2025-07-01",
        window_days=30,
        previous_run_date="2025-06-29",
        imported_before="2025-06-28",
        recipes=("user-personalization-v2", "similar-items"),
    )
    # a skipped increment is carried: the import starts at the high-water mark, the changed users before it
    assert params.import_since == params.changes_since == date(2025, 6, 28)


def test_a_first_run_prepares_the_whole_window():
    params = prepare_params(_state(None, None))
    assert params.previous_run_date is None and params.imported_before is None
    assert params.import_since == params.changes_since == date(2025, 6, 1)
