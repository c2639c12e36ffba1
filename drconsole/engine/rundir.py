"""Moved to :mod:`drconsole.runs.rundir`; this re-export goes once every importer is updated."""

from drconsole.runs.rundir import (
    PLAN_COPY,
    TARGETS_COPY,
    RunSummary,
    default_runs_dir,
    list_runs,
    load_state,
    new_run_dir,
)

__all__ = ["PLAN_COPY", "TARGETS_COPY", "RunSummary", "default_runs_dir", "list_runs"]
__all__ += ["load_state", "new_run_dir"]
