"""Moved to :mod:`drconsole.runs.state`; this re-export goes once every importer is updated."""

from drconsole.runs.state import (
    DONE_OK,
    FINISHED,
    RunResult,
    RunState,
    StepState,
    StepStatus,
    apply,
    replay,
)

__all__ = ["DONE_OK", "FINISHED", "RunResult", "RunState", "StepState", "StepStatus"]
__all__ += ["apply", "replay"]
