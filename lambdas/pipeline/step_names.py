"""The pipeline's steps by name: the run-state key each step writes (`steps.<key>` in the run state and the
ledger) and the states it owns in the state machine. The one place that maps one to the other.

The stack's step declarations (stacks/pipeline_steps.py) name their states from here, so the state machine
definition generated from them uses these names; the failure recorder and the replay tool read a failed or
running state back to its step here. No CDK import: this runs inside the Lambdas.

One name per step: its key names its module (`pipeline/steps/<key>.py`) and that module's step function
(`<key>(state)`), a keyword taking PEP 8's trailing underscore (`import` -> `steps/import_.py`, `import_`). The
module exports the step's Lambda entry point as `handler`, which `pipeline.handlers` serves under the step's
handler name (`handler` below). Two kinds of name are fixed by what is deployed and stay as first written: state
names (the definition's and the functions' construct ids) and handler names (the functions' Handler setting).
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass

# The module whose attributes are the zip-packaged functions' entry points (pipeline/handlers.py).
HANDLERS_MODULE = "pipeline.handlers"


@dataclass(frozen=True)
class StepName:
    key: str  # run state / ledger key; names the step's module and function (python_name)
    state: str  # the step's Task state; its Lambda's construct id and `${<state>FunctionArn}` substitution
    wait_state: str | None = None  # polling steps only: the Wait state between two polls
    # Polling steps: the first wait and the cap of the growing interval between polls (pipeline.jobs.next_poll),
    # chosen from how long the step's jobs take: minutes for queries, hours for trainings.
    first_wait_s: int = 0
    max_wait_s: int = 0
    # The deployed function's Handler (module.function); None: `pipeline.handlers.<key>`. Its function is the step
    # module's `handler` (pipeline.handlers); a container-image step names its own entry module.
    entry_point: str | None = None

    @property
    def python_name(self) -> str:
        """The key as a Python name: the step module's and its step function's name."""
        return f"{self.key}_" if keyword.iskeyword(self.key) else self.key

    @property
    def module(self) -> str:
        """The step's module, which exports its Lambda entry point as `handler`."""
        return f"pipeline.steps.{self.python_name}"

    @property
    def handler(self) -> str:
        """The Lambda Handler setting of the step's function (module.function)."""
        return self.entry_point or f"{HANDLERS_MODULE}.{self.python_name}"

    @property
    def polls(self) -> bool:
        return self.wait_state is not None

    @property
    def choice_state(self) -> str | None:
        """The Choice that loops a polling step back through its Wait state while the step is RUNNING."""
        return f"{self.state}Finished?" if self.polls else None

    @property
    def states(self) -> tuple[str, ...]:
        return tuple(s for s in (self.state, self.choice_state, self.wait_state) if s)


# Pipeline order. The explicit entry points are the deployed functions' Handler settings, kept as they are.
BEGIN = StepName("begin", "BeginRun", entry_point=f"{HANDLERS_MODULE}.begin_run")
PREPARE = StepName(
    "prepare",
    "Prepare",
    "WaitForPreparation",
    first_wait_s=30,
    max_wait_s=300,
    entry_point=f"{HANDLERS_MODULE}.prepare_data",
)
IMPORT = StepName(
    "import", "Import", "WaitForImport", first_wait_s=120, max_wait_s=900, entry_point=f"{HANDLERS_MODULE}.import_data"
)
TRAIN = StepName("train", "Train", "WaitForTraining", first_wait_s=300, max_wait_s=3600)
GATE = StepName("gate", "Gate")
PROMOTE = StepName("promote", "Promote", "WaitForPromotion", first_wait_s=60, max_wait_s=600)
BATCH = StepName(
    "batch",
    "Batch",
    "WaitForBatch",
    first_wait_s=300,
    max_wait_s=1800,
    entry_point=f"{HANDLERS_MODULE}.batch_inference",
)
# Its own entry module: the report step needs numpy/scipy, which only its container image carries.
REPORT = StepName(
    "report",
    "Report",
    "WaitForReport",
    first_wait_s=30,
    max_wait_s=300,
    entry_point="pipeline.report_handler.report_page",
)
# After Report, whose cold-start segment lists and page it publishes; it polls only to resume a load that took
# longer than one invocation's time budget, so it waits as little as a Wait state can.
PUBLISH = StepName("publish", "Publish", "WaitForPublish", first_wait_s=1, max_wait_s=1)
FINISH = StepName("finish", "Finish", entry_point=f"{HANDLERS_MODULE}.finish_run")
PIPELINE_STEPS: tuple[StepName, ...] = (
    BEGIN,
    PREPARE,
    IMPORT,
    TRAIN,
    GATE,
    PROMOTE,
    BATCH,
    REPORT,
    PUBLISH,
    FINISH,
)

BY_KEY = {step.key: step for step in PIPELINE_STEPS}
_STEP_OF_STATE = {state: step for step in PIPELINE_STEPS for state in step.states}


def step_of_state(state_name: str | None) -> StepName | None:
    """The step a state belongs to (its Task, Choice or Wait state), None for the fixed states (Notify, ...)."""
    return _STEP_OF_STATE.get(state_name or "")


def step_key(state_name: str) -> str:
    """The step key of a state (Train, TrainFinished?, WaitForTraining -> train); a state that is no step's
    (Notify, Announce, CountNotificationFailure) keeps its own name."""
    step = step_of_state(state_name)
    return step.key if step else state_name
