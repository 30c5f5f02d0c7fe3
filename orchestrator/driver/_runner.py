"""``run_experiment``: expand, plan against the store, execute. The Python API behind ``orch run``."""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from dataclasses import dataclass

from orchestrator.config import Experiment
from orchestrator.progress import StartupPhases, SweepProgress
from orchestrator.driver._claimed import ClaimedTrials, search_peers
from orchestrator.driver._run_plan import plan_run
from orchestrator.driver._session import WarmSession
from orchestrator.plan import SearchTrials, TrialSource
from orchestrator.store import ResultsStore, StoreError, StoreWarning
from orchestrator.usercode import files_to_ship

__all__ = ["RunSummary", "run_experiment", "files_to_ship_for"]


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
    wall_seconds: float  # what the caller waited: planning, Ray and trainers starting, checks, the sweep
    sweep_seconds: float = 0.0  # of which running trials (from the first launch to the last result)


class _Compaction:
    """Merge the sweep's one-file-per-pass results into one file, so that later queries read
    one file instead of thousands (measured: 22 s -> 0.035 s to list 10,000 trials). Also
    after an interrupted run: what is stored stays as fast to read.

    It runs on a thread while an embedded Ray stops: ``ray.shutdown`` mostly waits for Ray's
    processes to exit (1.4 s measured on 2 cores), and compaction took 0.8 s of its own after
    200 tiny trials; one after the other they were ~10% of such a sweep. :meth:`wait` joins
    it in the caller's thread. Another compaction running at the same time (a second driver)
    is left to finish the job; the results are stored either way, so a compaction that fails
    is a warning, not a failed sweep."""

    def __init__(self, store: ResultsStore, sweep: str) -> None:
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(store, sweep), name="orch-compaction")
        self._thread.start()

    def _run(self, store: ResultsStore, sweep: str) -> None:
        try:
            store.compact(sweep)
        except BaseException as e:  # handed to the caller's thread by wait()
            self._failure = e

    def wait(self) -> None:
        self._thread.join()
        if isinstance(self._failure, StoreError):
            warnings.warn(f"results stored, but not compacted: {self._failure}", StoreWarning, stacklevel=3)
        elif self._failure is not None:
            raise self._failure


def run_experiment(
    experiment: Experiment,
    store: ResultsStore,
    *,
    rerun: bool = False,
    address: str | None = None,
    progress: SweepProgress | None = None,
    verbose: bool = False,
    phases: StartupPhases | None = None,
    session: WarmSession | None = None,
    trainer: object = None,
) -> RunSummary:
    """Run every trial of ``experiment`` not yet in ``store`` on Ray (embedded local Ray
    unless ``address`` names a cluster) and store each result as it finishes.

    ``phases`` times the start-up (the CLI's counts from its process's start); by default it
    counts from this call, and ``verbose`` shows one line per phase. ``session``: a warm
    session (orch.session) whose Ray, trainers and datasets the sweep uses and leaves.
    ``trainer``: the trainer actor class (default ``cluster.actor.TrainerActor``);
    benchmarks/driver_throughput.py passes one that answers at once, to measure the driver."""
    started = time.monotonic()
    progress = progress or SweepProgress()
    if phases is None:
        phases = StartupPhases(progress.note if verbose else None, origin=started)
    with progress.step(f"planning sweep {experiment.name}..."), phases.phase("planning"):
        plan = plan_run(experiment, store, rerun=rerun)
    if plan.nothing_to_run:
        progress.start(experiment.name, to_run=0, skipped=plan.skipped, trainers=0)
        progress.close()
        return RunSummary(experiment.name, plan.trials, plan.skipped, 0, 0, 0, 0, 0, time.monotonic() - started)

    # Imported here: Ray (and its start-up cost) only when there is something to run.
    with phases.phase("importing Ray"):
        _import_cluster(verbose)
        from cluster import RayExecutor, ray_session

    address = session.address if session is not None else address
    compaction: _Compaction | None = None
    try:
        with contextlib.ExitStack() as stack:
            with (progress.step("starting Ray..." if address is None else f"connecting to the Ray cluster at {address}..."),
                  phases.phase("starting Ray" if address is None else "connecting to Ray")):
                # User files (a builder's, a loader's) travel to every node of a cluster joined by address.
                if session is None:
                    stack.enter_context(ray_session(address, ship=files_to_ship_for(experiment), verbose=verbose))
                    warm = None
                else:
                    warm = session.enter(files_to_ship_for(experiment))
            # The trainer class only when one is given: executors scripted by tests take warm= alone.
            executor = RayExecutor(warm=warm) if trainer is None else RayExecutor(warm=warm, trainer=trainer)
            # Every check first (resources against the cluster, data, trainers start, user
            # models build); nothing is written under the store before they have all passed.
            prepared = executor.prepare(plan.check, progress, trials=plan.to_run, phases=phases)
            store_phase = time.monotonic()
            try:
                store.save_config(experiment)
            except BaseException:
                prepared.release()
                raise
            try:
                source = _claimed(plan.source, experiment, store, rerun, progress)
                phases.record("store: config and claims", time.monotonic() - store_phase)
                done = executor.run(prepared, store, progress, skipped=plan.skipped, source=source, own_ids=plan.own_ids)
            finally:
                compaction = _Compaction(store, experiment.name)
            # Leaving the stack stops an embedded Ray, while the store compacts.
    finally:
        if compaction is not None:
            compaction.wait()
    return RunSummary(
        sweep=experiment.name,
        trials=plan.trials,
        skipped=plan.skipped,
        completed=done.completed,
        stopped=done.stopped,
        failed=done.failed,
        retries=done.retries,
        trainers=done.trainers,
        wall_seconds=time.monotonic() - started,
        sweep_seconds=done.wall_seconds,
    )


def _claimed(source: TrialSource, experiment: Experiment, store: ResultsStore, rerun: bool,
             progress: SweepProgress) -> TrialSource:
    """``source`` with each trial claimed in the store first, so that drivers sharing the
    sweep split its trials (a store no other driver sees, in memory, needs no claims)."""
    book = store.claims(experiment.name, experiment.resources.claim_expiry_seconds, rerun=rerun)
    if book is None:
        return source

    def stored(trial_id: str) -> bool:
        return trial_id in store.finished_trial_ids(experiment.name)

    if isinstance(source, SearchTrials):
        source.peers = search_peers(experiment, store, book)
    return ClaimedTrials(source, book, stored, note=progress.note)


def _import_cluster(verbose: bool) -> None:
    """Import Ray (through ``cluster``) without its import-time chatter unless ``verbose``:
    in a notebook it warns that ipywidgets is missing (tqdm's IProgress warning and Ray's
    "Missing packages" INFO line), which says nothing about the sweep."""
    import logging
    import sys

    if verbose or "cluster" in sys.modules:
        import cluster  # noqa: F401
        return
    widgets = logging.getLogger("ray.widgets.util")
    level = widgets.level
    widgets.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import cluster  # noqa: F401
    finally:
        widgets.setLevel(level)


def files_to_ship_for(experiment: Experiment) -> list[str]:
    """User files every node needs: the model builder's file, the data loader's, and those
    of a loss or metric functions given as files or modules."""
    from orchestrator.config import is_user_function

    files = files_to_ship(experiment.model.builder)
    training = experiment.training
    refs = [experiment.dataset.loader, *(f for f in (training.loss, *training.metrics) if is_user_function(f))]
    for ref in refs:
        if ref is not None:
            files += [f for f in files_to_ship(ref) if f not in files]
    return files
