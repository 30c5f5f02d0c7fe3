"""``run_experiment``: expand, plan against the store, execute. The Python API behind ``orch run``."""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from dataclasses import dataclass

from orchestrator.config import Experiment
from orchestrator.progress import SweepProgress
from orchestrator.scheduler import plan_sweep
from orchestrator.store import ResultsStore, StoreError, StoreWarning
from orchestrator.sweep import expand_sweep
from orchestrator.trial import TrialSpec
from orchestrator.usercode import files_to_ship

__all__ = ["RunSummary", "run_experiment", "specs_for_run"]


@dataclass(frozen=True)
class RunSummary:
    sweep: str
    trials: int  # in the sweep
    skipped: int  # already in the store
    completed: int
    stopped: int  # ended early by a stopping rule (stopping: in the config)
    failed: int
    retries: int
    trainers: int
    wall_seconds: float


def _compact(store: ResultsStore, sweep: str) -> None:
    """Merge the sweep's one-file-per-trial results into one file, so that later queries read
    one file instead of thousands (measured: 22 s -> 0.035 s to list 10,000 trials). Also
    after an interrupted run: what is stored stays as fast to read. Another compaction
    running at the same time (a second driver) is left to finish the job; the results are
    stored either way, so a compaction that fails is a warning, not a failed sweep."""
    try:
        store.compact(sweep)
    except StoreError as e:
        warnings.warn(f"results stored, but not compacted: {e}", StoreWarning, stacklevel=2)


def specs_for_run(specs: list[TrialSpec], artifacts_root: str | None, rerun: bool) -> list[TrialSpec]:
    """The specs as trainers get them: where artifacts go, and under ``--rerun`` a fresh
    start, so a checkpoint left by an earlier run is deleted instead of resumed from."""
    return [dataclasses.replace(s, artifacts_root=artifacts_root, fresh_start=rerun) for s in specs]


def run_experiment(
    experiment: Experiment,
    store: ResultsStore,
    *,
    rerun: bool = False,
    address: str | None = None,
    progress: SweepProgress | None = None,
) -> RunSummary:
    """Run every trial of ``experiment`` not yet in ``store`` on Ray (embedded local Ray
    unless ``address`` names a cluster) and store each result as it finishes."""
    progress = progress or SweepProgress()
    with progress.step(f"planning sweep {experiment.name}..."):
        specs = expand_sweep(experiment)
        plan = plan_sweep(specs, store.finished_trial_ids(experiment.name), rerun=rerun)
    if not plan.to_run:
        progress.start(experiment.name, to_run=0, skipped=len(plan.skipped), trainers=0)
        progress.close()
        return RunSummary(experiment.name, len(specs), len(plan.skipped), 0, 0, 0, 0, 0, 0.0)

    # Imported here: Ray (and its start-up cost) only when there is something to run.
    from cluster import RayExecutor, ray_session

    with contextlib.ExitStack() as session:
        with progress.step("starting Ray..." if address is None else f"connecting to the Ray cluster at {address}..."):
            # User files (a builder's) travel to every node of a cluster joined by address.
            session.enter_context(ray_session(address, ship=files_to_ship(experiment.model.builder)))
        specs_to_run = specs_for_run(plan.to_run, store.artifacts_root, rerun=rerun)
        executor = RayExecutor()
        # Every check first (resources against the cluster, data, trainers start); nothing
        # is written under the store before they have all passed.
        prepared = executor.prepare(specs_to_run, progress)
        try:
            store.save_config(experiment)
        except BaseException:
            prepared.release()
            raise
        try:
            done = executor.run(prepared, store, progress, skipped=len(plan.skipped))
        finally:
            _compact(store, experiment.name)
    return RunSummary(
        sweep=experiment.name,
        trials=len(specs),
        skipped=len(plan.skipped),
        completed=done.completed,
        stopped=done.stopped,
        failed=done.failed,
        retries=done.retries,
        trainers=done.trainers,
        wall_seconds=done.wall_seconds,
    )
