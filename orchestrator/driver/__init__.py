"""The driver: the process that runs a sweep. It plans against the store, hands the trials to
the executor (``cluster/``, imported only when a sweep runs), shows progress
(``orchestrator.progress``), and is the store's single writer.

- ``_run_plan``: what a run will do, planned against the store before Ray starts (the trials
  to run, or a tpe search's sampler rebuilt from the stored trials)
- ``_runner``: :func:`run_experiment`, the Python API behind ``orch run``
- ``_session``: :class:`WarmSession`, Ray and the trainers kept between sweeps (``orch.session``)
"""

from orchestrator.driver._run_plan import RunPlan, column_for_path, plan_run, specs_for_run
from orchestrator.driver._runner import RunSummary, files_to_ship_for, run_experiment
from orchestrator.driver._session import WarmSession

__all__ = [
    "WarmSession",
    "RunPlan",
    "plan_run",
    "column_for_path",
    "specs_for_run",
    "RunSummary",
    "run_experiment",
    "files_to_ship_for",
]
