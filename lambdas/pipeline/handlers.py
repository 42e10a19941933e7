"""The pipeline's zip-packaged Lambda entry points, derived from the step table (pipeline.step_names).

A function deployed with Handler `pipeline.handlers.<name>` runs the `handler` of the step whose
StepName.handler is that name (each step module makes its own: pipeline.step_handler); the failure recorder's
is `record_failure`. Nothing here names a step: declaring one (pipeline/step_names.py, its module, its
stacks/pipeline_steps.py declaration) registers it. A name is resolved on first use and imports only its own
step module, so a function never loads another step's dependencies.
"""

from __future__ import annotations

import importlib

from pipeline import step_names
from pipeline.step_handler import Handler
from pipeline.step_names import HANDLERS_MODULE

# The failure recorder is no step of the state machine: the EventBridge rule on its executions invokes it.
FAILURE_RECORDER = "record_failure"


def entry_points() -> dict[str, str]:
    """{name served here: the module whose `handler` it is}."""
    served = {
        name.handler.removeprefix(f"{HANDLERS_MODULE}."): name.module
        for name in step_names.PIPELINE_STEPS
        if name.handler.rsplit(".", 1)[0] == HANDLERS_MODULE
    }
    return {**served, FAILURE_RECORDER: "pipeline.steps.failure"}


def __getattr__(name: str) -> Handler:
    module = entry_points().get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no entry point {name!r} (pipeline.step_names declares them)")
    handler: Handler = importlib.import_module(module).handler
    return handler


def __dir__() -> list[str]:
    return sorted({*globals(), *entry_points()})
