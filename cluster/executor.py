"""The one place with Ray side effects: runs planned trials on trainer actors and hands
every result to the store, which only this driver process writes.

Contract (every executor keeps it): each spec passed to :meth:`RayExecutor.execute` ends up
stored exactly once, COMPLETED or FAILED, unless the driver itself is interrupted, in which
case every trial already finished is stored and the rest can be run by calling again.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import ray
from ray.exceptions import RayTaskError
from ray.util.queue import Empty, Queue
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from cluster._startup import TRAINER_DIED, TrainerPool
from cluster.actor import TrainerActor
from cluster.rungs import RungKeeper
from cluster.validation import validate_models
from orchestrator.config import DatasetConfig, ResourcesConfig
from orchestrator.errors import InputError, SweepAborted
from orchestrator.progress import SweepProgress
from orchestrator.scheduler import FailureAction, FailureStreak, decide_after_crash, trainer_count
from orchestrator.store import ResultsStore
from orchestrator.trial import TrialResult, TrialSpec, TrialStatus

__all__ = ["RayExecutor", "ExecutionSummary", "PreparedSweep"]


@dataclass
class ExecutionSummary:
    completed: int = 0
    stopped: int = 0
    failed: int = 0
    retries: int = 0
    trainers: int = 0
    wall_seconds: float = 0.0


# num_cpus=0: the trainers, started at the same time, hold every CPU for the whole sweep;
# this short task must not wait for one of them.
@ray.remote(num_cpus=0, num_returns=2)
def _load_dataset(config: DatasetConfig) -> tuple[dict[str, Any], Any]:
    # Runs in a Ray worker: the driver never imports `trainers` (DESIGN.md dependency rule).
    from trainers.datasets import load_dataset

    data = load_dataset(config)
    return {"train": len(data.y_train), "val": len(data.y_val), "test": len(data.y_test)}, data


def _dataset_key(config: DatasetConfig) -> str:
    return json.dumps(dataclasses.asdict(config), sort_keys=True)


def _check_fits(resources: ResourcesConfig, use_gpus: bool, nodes: list[dict[str, float]]) -> None:
    """A trainer that asks for more than any single node has would wait forever for a place."""
    cpus = resources.cpus_per_trainer
    gpus = _gpus_per_trainer(resources) if use_gpus else 0
    if any(n.get("CPU", 0) >= cpus and n.get("GPU", 0) >= gpus for n in nodes):
        return
    most_cpus = max((n.get("CPU", 0) for n in nodes), default=0)
    most_gpus = max((n.get("GPU", 0) for n in nodes), default=0)
    if cpus > most_cpus:
        raise InputError(
            f"resources.cpus_per_trainer={cpus} but no node of the Ray cluster has more than "
            f"{most_cpus:g} CPUs; set it to {max(int(most_cpus), 1)} or less"
        )
    raise InputError(
        f"resources.replicas={resources.replicas} GPUs per trainer but no node of the Ray cluster "
        f"has more than {most_gpus:g} GPUs (with {cpus} CPUs free beside them); set replicas to "
        f"{max(int(most_gpus), 1)} or less, or lower cpus_per_trainer"
    )


def _gpus_per_trainer(resources: ResourcesConfig) -> float:
    """Ray GPUs each trainer asks for: its replicas, or a share of one GPU when packing."""
    return resources.replicas / resources.trainers_per_gpu


def _on_driver_node() -> NodeAffinitySchedulingStrategy:
    """Pin the sweep's helper actors (progress queue, rungs) to the driver's node: anywhere
    else, losing that node would take the sweep down with it, though it lost no trial."""
    return NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)


def _alive_node_resources() -> list[dict[str, float]]:
    return [n["Resources"] for n in ray.nodes() if n.get("Alive")]


@dataclass
class _Running:
    spec: TrialSpec
    actor: Any
    attempt: int


@dataclass
class PreparedSweep:
    """What :meth:`RayExecutor.prepare` checked and started, for :meth:`RayExecutor.run`."""

    specs: list[TrialSpec]
    trainers: int  # planned; `idle` plus those still starting
    pool: TrainerPool
    idle: list[Any]
    datasets: dict[str, ray.ObjectRef]
    events: Any

    def release(self) -> None:
        """Stop every trainer (a prepare that is not followed by a run)."""
        self.pool.kill_all()
        for actor in self.idle:
            ray.kill(actor, no_restart=True)
        self.idle.clear()
        self.events.shutdown()


class RayExecutor:
    """Runs trials on long-lived trainer actors of the Ray cluster this process is connected to.

    Two phases, so that a sweep is refused before anything is written: :meth:`prepare` checks
    what can be checked (resources against the cluster, every dataset loaded and checked, a
    trainer started) and writes nothing; :meth:`run` runs the trials and writes the store.
    """

    def __init__(self, poll_seconds: float = 0.25) -> None:
        self._poll = poll_seconds

    def execute(self, specs: list[TrialSpec], store: ResultsStore, progress: SweepProgress, skipped: int = 0) -> ExecutionSummary:
        if not specs:
            return ExecutionSummary()
        return self.run(self.prepare(specs, progress), store, progress, skipped=skipped)

    def prepare(self, specs: list[TrialSpec], progress: SweepProgress) -> PreparedSweep:
        """Check the sweep against the cluster and start its trainers; raise InputError (bad
        resources or data) or SweepAborted (trainers cannot start) before any write."""
        resources = specs[0].resources
        cluster = ray.cluster_resources()
        use_gpus = cluster.get("GPU", 0) >= 1
        n = trainer_count(
            cluster_cpus=cluster.get("CPU", 0),
            cluster_gpus=cluster.get("GPU", 0),
            replicas=resources.replicas,
            cpus_per_trainer=resources.cpus_per_trainer,
            requested=resources.trainers,
            trials=len(specs),
            trainers_per_gpu=resources.trainers_per_gpu,
        )
        _check_fits(resources, use_gpus, _alive_node_resources())
        events = Queue(actor_options={"num_cpus": 0, "scheduling_strategy": _on_driver_node()})
        actor_options = dict(
            num_cpus=resources.cpus_per_trainer,
            num_gpus=_gpus_per_trainer(resources) if use_gpus else 0,
        )

        def launch() -> Any:
            return TrainerActor.options(**actor_options).remote(
                replicas=resources.replicas,
                threads=resources.cpus_per_trainer,
                events=events,
                gpu_memory_mb=resources.gpu_memory_mb,
            )

        pool = TrainerPool(launch, trainers=n)
        idle: list[Any] = []
        prepared = PreparedSweep(specs, n, pool, idle, {}, events)
        try:
            with progress.step(f"starting {n} trainer{'s' if n != 1 else ''} (TensorFlow loads in each) "
                               "and loading the data..."):
                pool.start(n)
                # Trainers import TensorFlow (seconds) while the datasets load.
                prepared.datasets = self._put_datasets(specs)
                # Start-up works on this cluster (a broken install aborts here, with its error).
                idle.extend(pool.wait_until_ready(n, self._poll))
            with progress.step("building each user model once on a sample batch..."):
                # User code that cannot build fails here, before the store is written.
                validate_models(specs, prepared.datasets, _dataset_key)
        except BaseException:
            prepared.release()
            raise
        return prepared

    def run(self, prepared: PreparedSweep, store: ResultsStore, progress: SweepProgress, skipped: int = 0) -> ExecutionSummary:
        """Run every prepared trial; each is stored exactly once (see the module docstring)."""
        t0 = time.monotonic()
        specs, pool, idle, datasets, events = (
            prepared.specs, prepared.pool, prepared.idle, prepared.datasets, prepared.events)
        resources = specs[0].resources
        summary = ExecutionSummary(trainers=prepared.trainers)
        try:
            rungs = self._rung_keeper(specs, store)
            progress.start(specs[0].sweep, to_run=len(specs), skipped=skipped, trainers=prepared.trainers)
            pending = [(spec, 1) for spec in specs]
            pending.reverse()  # pop() from the end keeps sweep order
            running: dict[ray.ObjectRef, _Running] = {}
            by_id = {s.trial_id: s for s in specs}
            streak = FailureStreak(resources.max_consecutive_failures)

            def launch_pending() -> None:
                while idle and pending:
                    spec, attempt = pending.pop()
                    actor = idle.pop()
                    key = _dataset_key(spec.dataset)
                    ref = actor.run_trial.remote(spec, key, [datasets[key]], rungs)
                    running[ref] = _Running(spec, actor, attempt)
                    progress.trial_started(spec, attempt)

            while pending or running:
                launch_pending()
                done, _ = ray.wait([*running, *pool.refs], num_returns=1, timeout=self._poll)
                self._drain_events(events, by_id, progress)
                finished: list[tuple[_Running, TrialResult]] = []
                for ref in done:
                    if ref in pool:
                        actor = pool.settle(ref)
                        if actor is not None:
                            idle.append(actor)
                        continue
                    job = running.pop(ref)
                    result, crashed = self._collect(ref, job)
                    if crashed:
                        # The process (or its node) is gone: start a replacement so the sweep
                        # keeps its width, without waiting for it; a lost node's share may
                        # have no room left anywhere.
                        ray.kill(job.actor, no_restart=True)
                        pool.start(1)
                        if decide_after_crash(job.attempt, resources.max_retries) is FailureAction.RETRY:
                            summary.retries += 1
                            # Goes on from this attempt's checkpoint, also under --rerun.
                            pending.append((dataclasses.replace(job.spec, fresh_start=False), job.attempt + 1))
                            progress.trial_finished(job.spec, result, retrying=True)
                            continue
                    else:
                        idle.append(job.actor)
                    finished.append((job, result))
                # The next trials go out before this driver writes: a trainer never waits
                # for the store (the single writer; each result is still written once).
                launch_pending()
                for job, result in finished:
                    result.attempts = job.attempt
                    self._drain_events(events, by_id, progress)
                    store.append(job.spec, result)
                    self._count(summary, result)
                    progress.trial_finished(job.spec, result, retrying=False)
                    if streak.record(result.status):
                        raise SweepAborted(
                            f"{streak.count} trials in a row failed, the last with: {result.error}; "
                            "fix the cause and run the same command again (stored trials are kept), "
                            "or raise resources.max_consecutive_failures"
                        )
                pool.give_up_if_stuck(have_trainers=bool(idle or running), waiting=bool(pending))
        finally:
            # Trials still running when the driver stops (Ctrl-C) are not stored; the actors
            # die with the driver's Ray session, and the next run picks those trials up.
            progress.close()
            pool.kill_all()
        summary.wall_seconds = time.monotonic() - t0
        return summary

    @staticmethod
    def _count(summary: ExecutionSummary, result: TrialResult) -> None:
        if result.status is TrialStatus.COMPLETED:
            summary.completed += 1
        elif result.status is TrialStatus.STOPPED:
            summary.stopped += 1
        else:
            summary.failed += 1

    @staticmethod
    def _rung_keeper(specs: list[TrialSpec], store: ResultsStore) -> Any:
        """The sweep's successive-halving state, or None when the sweep has no rungs. Rung
        values of trials already in the store count, so a resumed sweep judges alike."""
        stopping = specs[0].stopping
        if not stopping.rungs:
            return None
        keeper = RungKeeper.options(scheduling_strategy=_on_driver_node()).remote(
            stopping.rungs, stopping.keep, stopping.metric
        )
        stored = store.read_epochs(specs[0].sweep)
        if stored.num_rows:
            rows = stored.select(["trial_id", "epoch", stopping.metric]).to_pylist()
            ray.get(keeper.record_many.remote([(r["trial_id"], r["epoch"], r[stopping.metric]) for r in rows]))
        return keeper

    def _put_datasets(self, specs: list[TrialSpec]) -> dict[str, ray.ObjectRef]:
        """Load each distinct dataset once, in a worker, into the object store. Bad or
        missing data fails here, before any trial launches."""
        configs = {_dataset_key(s.dataset): s.dataset for s in specs}
        loads = {key: _load_dataset.remote(config) for key, config in configs.items()}  # all at once
        for key, (summary_ref, _) in loads.items():
            try:
                # Only the small summary comes to the driver; the arrays stay in the store.
                ray.get(summary_ref)
            except RayTaskError as e:
                cause = e.cause if e.cause is not None else e
                raise InputError(f"dataset {configs[key].name!r}: {cause}") from e
        return {key: arrays_ref for key, (_, arrays_ref) in loads.items()}

    @staticmethod
    def _collect(ref: ray.ObjectRef, job: _Running) -> tuple[TrialResult, bool]:
        try:
            return ray.get(ref), False
        except TRAINER_DIED as e:
            now = datetime.now(timezone.utc)
            message = f"trainer process died: {type(e).__name__}: {str(e).splitlines()[0]}"
            return TrialResult(job.spec.trial_id, TrialStatus.FAILED, now, now, error=message), True

    @staticmethod
    def _drain_events(events: Queue, by_id: dict[str, TrialSpec], progress: SweepProgress) -> None:
        while True:
            try:
                trial_id, record = events.get_nowait()
            except Empty:
                return
            except TRAINER_DIED:
                return  # progress lines only: results come back with the trials themselves
            progress.epoch_done(by_id[trial_id], record)
