"""The one place with Ray side effects: runs planned trials on trainer actors and hands
every result to the store, which only this driver process writes.

Contract (every executor keeps it): each spec passed to :meth:`RayExecutor.execute` ends up
stored exactly once, COMPLETED or FAILED, unless the driver itself is interrupted, in which
case every trial already finished is stored and the rest can be run by calling again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import ray
from ray.util.queue import Queue
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from cluster._events import ProgressEvents
from cluster._startup import TRAINER_DIED, PreparedSweep, TrainerPool, start_and_check
from cluster.autofuse import choose_fusion
from cluster.actor import GroupReport, TrainerActor
from cluster.data import dataset_key
from cluster.rungs import RungKeeper
from orchestrator.config import ResourcesConfig
from orchestrator.errors import InputError, SweepAborted
from orchestrator.progress import StartupPhases, SweepProgress
from orchestrator.plan import (
    FailureAction,
    FailureStreak,
    TrainerLimits,
    decide_after_crash,
    decide_trainer_renewal,
    default_trainer_memory_mb,
    trainer_count,
    GroupTaker,
    PlannedTrials,
    TrialSource,
    result_metric,
)
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
    specs: tuple[TrialSpec, ...]  # a fused group (one trial: a group of one)
    actor: Any
    attempts: tuple[int, ...]  # each trial's run, counting retries


class _Renewals:
    """Carries out orchestrator.plan.decide_trainer_renewal for a sweep's trainers: knows on
    which node each trainer reported from, to share a node's memory among its trainers when
    ``resources.trainer_memory_mb`` is null, and each trainer's share of its GPU."""

    def __init__(self, resources: ResourcesConfig) -> None:
        self._resources = resources
        self._node_of: dict[Any, str] = {}  # actor handle -> node id, from the trainers' reports

    def reason(self, actor: Any, report: GroupReport) -> str | None:
        self._node_of[actor] = report.node_id
        r = self._resources
        memory = r.trainer_memory_mb
        if memory is None:
            on_node = sum(1 for node in self._node_of.values() if node == report.node_id)
            memory = default_trainer_memory_mb(report.node_memory_mb, on_node)
        # A fixed per-trainer GPU limit keeps TensorFlow inside it; with memory growth the
        # share is the GPU's memory over the trainers packed on it.
        gpu_share = None
        if r.gpu_memory_mb is None and report.gpu_total_mb is not None:
            gpu_share = report.gpu_total_mb / r.trainers_per_gpu
        limits = TrainerLimits(memory_mb=memory, trials=r.trials_per_trainer, gpu_share_mb=gpu_share)
        return decide_trainer_renewal(report.usage, limits)

    def forget(self, actor: Any) -> None:
        self._node_of.pop(actor, None)


class RayExecutor:
    """Runs trials on long-lived trainer actors of the Ray cluster this process is connected to.

    Two phases, so that a sweep is refused before anything is written: :meth:`prepare` checks
    what can be checked (resources against the cluster, every dataset loaded and checked, a
    trainer started) and writes nothing; :meth:`run` runs the trials and writes the store.
    """

    def __init__(self, poll_seconds: float = 0.25, warm: Any = None, trainer: Any = None) -> None:
        self._poll = poll_seconds
        self._warm = warm  # a warm session's pool (cluster/warm.py): trainers, data, checks kept
        # The trainer actor class (default TrainerActor); benchmarks/driver_throughput.py
        # passes one that answers at once, to measure the driver alone.
        self._trainer = trainer if trainer is not None else TrainerActor

    def execute(self, specs: list[TrialSpec], store: ResultsStore, progress: SweepProgress, skipped: int = 0) -> ExecutionSummary:
        if not specs:
            return ExecutionSummary()
        return self.run(self.prepare(specs, progress), store, progress, skipped=skipped)

    def prepare(self, specs: list[TrialSpec], progress: SweepProgress, trials: int | None = None,
                phases: StartupPhases | None = None) -> PreparedSweep:
        """Check the sweep against the cluster and start its trainers; raise InputError (bad
        resources or data) or SweepAborted (trainers cannot start) before any write.

        ``specs``: the planned trials, or for a search (whose trials are asked as it runs)
        one trial per dataset it uses; ``trials``: how many will run (default: the specs).
        ``phases``: where each start-up phase's seconds go (``--verbose`` shows them)."""
        phases = phases if phases is not None else StartupPhases()
        t_cluster = time.monotonic()
        resources = specs[0].resources
        trials = len(specs) if trials is None else trials
        cluster = ray.cluster_resources()
        use_gpus = cluster.get("GPU", 0) >= 1
        groups = trials if resources.fuse == "auto" else math.ceil(trials / resources.fuse)
        n = trainer_count(
            cluster_cpus=cluster.get("CPU", 0),
            cluster_gpus=cluster.get("GPU", 0),
            replicas=resources.replicas,
            cpus_per_trainer=resources.cpus_per_trainer,
            requested=resources.trainers,
            trials=groups,
            trainers_per_gpu=resources.trainers_per_gpu,
        )
        _check_fits(resources, use_gpus, _alive_node_resources())
        def queue() -> Any:
            return Queue(actor_options={"num_cpus": 0, "scheduling_strategy": _on_driver_node()})

        # Kept trainers post to the queue they were made with: a session keeps one.
        events = self._warm.progress_queue(queue) if self._warm is not None else queue()
        actor_options = dict(
            num_cpus=resources.cpus_per_trainer,
            num_gpus=_gpus_per_trainer(resources) if use_gpus else 0,
        )
        shape = (resources.replicas, resources.cpus_per_trainer, actor_options["num_gpus"], resources.gpu_memory_mb)

        def launch() -> Any:
            return self._trainer.options(**actor_options).remote(
                replicas=resources.replicas,
                threads=resources.cpus_per_trainer,
                events=events,
                gpu_memory_mb=resources.gpu_memory_mb,
            )

        pool = TrainerPool(launch, trainers=n)
        idle: list[Any] = self._warm.take(shape, n) if self._warm is not None else []
        prepared = PreparedSweep(specs, n, pool, idle, {}, events, phases=phases, warm=self._warm, shape=shape)
        # Resources read, the fit checked, the progress queue actor started.
        phases.record("cluster checks", time.monotonic() - t_cluster)
        try:
            prepared.datasets, prepared.train_images = start_and_check(
                pool, n - len(idle), specs, idle, progress, phases, self._poll, warm=self._warm)
            measuring = phases.phase("fuse: auto measurement") if resources.fuse == "auto" else contextlib.nullcontext()
            with measuring:
                prepared.fuse, prepared.fuse_rates = choose_fusion(
                    specs[0], trials, idle[0], prepared.datasets, prepared.train_images, progress)
        except BaseException:
            prepared.release()
            raise
        return prepared

    def run(
        self,
        prepared: PreparedSweep,
        store: ResultsStore,
        progress: SweepProgress,
        skipped: int = 0,
        source: TrialSource | None = None,
        own_ids: frozenset[str] | None = None,
    ) -> ExecutionSummary:
        """Run the sweep's trials, each stored exactly once (see the module docstring).

        ``source`` says what runs next (default: the prepared specs, in order); a search asks
        its sampler there whenever a trainer is free, and is told each stored result. Trials
        go out in fused groups of up to ``prepared.fuse`` (1: alone)."""
        t0 = time.monotonic()
        pool, idle, datasets, events = prepared.pool, prepared.idle, prepared.datasets, prepared.events
        resources = prepared.specs[0].resources
        source = source if source is not None else PlannedTrials(prepared.specs)
        # A planned sweep looks ahead freely for full groups; a search asks no more points
        # than one group's worth, so the sampler learns from as many results as it can.
        taker = GroupTaker(source, prepared.fuse, lookahead=None if isinstance(source, PlannedTrials) else prepared.fuse)
        summary = ExecutionSummary(trainers=prepared.trainers)
        running: dict[ray.ObjectRef, _Running] = {}
        shown = ProgressEvents(events, self._poll)
        try:
            rungs = self._rung_keeper(prepared.specs, store, own_ids)
            progress.start(prepared.specs[0].sweep, to_run=source.total, skipped=skipped, trainers=prepared.trainers)
            # Crashed trials to run again: alone, resumed from their checkpoints.
            retries: list[tuple[TrialSpec, int]] = []
            by_id: dict[str, TrialSpec] = {}
            streak = FailureStreak(resources.max_consecutive_failures)
            fusion_rates = json.dumps(prepared.fuse_rates) if prepared.fuse_rates else None
            best: float | None = None
            renewals = _Renewals(resources)

            def launch_pending() -> None:
                while idle:
                    if retries:
                        spec, attempt = retries.pop(0)
                        group, attempts = (spec,), (attempt,)
                    else:
                        taken = taker.next_group()
                        if taken is None:
                            return
                        group, attempts = taken, (1,) * len(taken)
                    actor = idle.pop()
                    key = dataset_key(group[0].dataset)
                    prepared.phases.finish()  # the start-up ends at the first launch (once)
                    ref = actor.run_trials.remote(list(group), key, [datasets[key]], rungs)
                    running[ref] = _Running(group, actor, attempts)
                    for spec, attempt in zip(group, attempts):
                        by_id[spec.trial_id] = spec
                        progress.trial_started(spec, attempt)

            while retries or running or not taker.exhausted:
                launch_pending()
                if not (retries or running or not taker.exhausted):
                    break
                refs = [*running, *pool.refs]
                if refs:
                    # Every answer that is in, at once: when trainers outpace the driver, one
                    # pass of the loop launches, writes and shows them together.
                    done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
                    if not done:
                        done, _ = ray.wait(refs, num_returns=1, timeout=self._poll)
                else:  # nothing runs here: other drivers hold the trials left; look again soon
                    done = []
                    time.sleep(self._poll)
                self._show_events(shown, by_id, progress)
                self._stop_lost(source, running, pool, progress)
                finished: list[tuple[TrialSpec, int, TrialResult]] = []
                for ref in done:
                    if ref in pool:
                        actor = pool.settle(ref)
                        if actor is not None:
                            idle.append(actor)
                        continue
                    job = running.pop(ref)
                    results, report = self._collect(ref, job)
                    if report is not None:
                        finished.extend(zip(job.specs, job.attempts, results))
                        more = bool(retries) or not taker.exhausted
                        reason = renewals.reason(job.actor, report) if more else None
                        if reason is None:
                            idle.append(job.actor)
                            continue
                        # Between trials: its group is collected and nothing else is on it, so
                        # nothing is lost or run twice. The fresh actor joins when it is ready.
                        ray.kill(job.actor, no_restart=True)
                        renewals.forget(job.actor)
                        pool.start(1)
                        progress.note(f"trainer replaced by a fresh one: {reason}")
                        continue
                    # The process (or its node) is gone: start a replacement so the sweep keeps
                    # its width, without waiting for it; a lost node's share may have no room
                    # left anywhere. Each trial of the group is retried on its own count.
                    ray.kill(job.actor, no_restart=True)
                    renewals.forget(job.actor)
                    pool.start(1)
                    for spec, attempt, result in zip(job.specs, job.attempts, results):
                        if decide_after_crash(attempt, resources.max_retries) is FailureAction.RETRY:
                            summary.retries += 1
                            # Goes on from this attempt's checkpoint, also under --rerun.
                            retries.append((dataclasses.replace(spec, fresh_start=False), attempt + 1))
                            progress.trial_finished(spec, result, retrying=True)
                        else:
                            finished.append((spec, attempt, result))
                # The next trials go out before this driver writes: a trainer never waits
                # for the store (the single writer; each result is still written once).
                launch_pending()
                lost = source.lost
                finished = [(spec, attempt, result) for spec, attempt, result in finished
                            if spec.trial_id not in lost]  # another driver took it over: that driver stores it
                for spec, attempt, result in finished:
                    result.attempts = attempt
                    result.fusion_rates = fusion_rates
                # All of this pass's results in one write (one file, not two per trial): they
                # are stored before any is told, counted or shown, so a sweep that stops below
                # (failure streak, Ctrl-C) has stored every result it collected.
                if finished:
                    store.append_many([(spec, result) for spec, _, result in finished])
                    self._show_events(shown, by_id, progress)  # epoch lines that came meanwhile, before the trials' own
                for spec, attempt, result in finished:
                    source.finished(spec, result)
                    best = self._track_best(best, source, spec, result, progress)
                    self._count(summary, result)
                    progress.trial_finished(spec, result, retrying=False)
                    if streak.record(result.status):
                        raise SweepAborted(
                            f"{streak.count} trials in a row failed, the last with: {result.error}; "
                            "fix the cause and run the same command again (stored trials are kept), "
                            "or raise resources.max_consecutive_failures"
                        )
                pool.give_up_if_stuck(have_trainers=bool(idle or running), waiting=bool(retries) or not taker.exhausted)
            shown.close()
            self._show_events(shown, by_id, progress)  # the last epochs' lines
        finally:
            # Trials still running when the driver stops (Ctrl-C) are not stored; the next
            # run picks them up. Every trainer goes now, not when Ray's session ends: in a
            # session that lives on (a notebook, a benchmark, orch.run twice) they would
            # hold their CPUs, and the next sweep's trainers would wait for them forever.
            shown.close()
            source.close()
            progress.close()
            pool.kill_all()
            for actor in [job.actor for job in running.values()]:
                ray.kill(actor, no_restart=True)
            prepared.settle_idle()
        summary.wall_seconds = time.monotonic() - t0
        return summary

    @staticmethod
    def _stop_lost(source: TrialSource, running: dict[ray.ObjectRef, _Running], pool: TrainerPool,
                   progress: SweepProgress) -> None:
        """Stop each running group whose every trial another driver took over (one writer per
        trial: its checkpoints are that driver's now); a fresh trainer takes its place."""
        lost = source.lost
        if not lost:
            return
        for ref, job in list(running.items()):
            if all(spec.trial_id in lost for spec in job.specs):
                del running[ref]
                ray.kill(job.actor, no_restart=True)
                pool.start(1)
                for spec in job.specs:
                    progress.note(f"stopped {spec.trial_id}: another driver runs it now")

    @staticmethod
    def _track_best(
        best: float | None, source: TrialSource, spec: TrialSpec, result: TrialResult, progress: SweepProgress
    ) -> float | None:
        """Show the sweep's best value of its metric so far when a stored trial improves it."""
        if result.status is TrialStatus.FAILED:
            return best
        value = result_metric(result, source.metric)
        if value is None or (best is not None and (value <= best if source.goal == "max" else value >= best)):
            return best
        progress.best_so_far(source.metric, value, spec)
        return value

    @staticmethod
    def _count(summary: ExecutionSummary, result: TrialResult) -> None:
        if result.status is TrialStatus.COMPLETED:
            summary.completed += 1
        elif result.status is TrialStatus.STOPPED:
            summary.stopped += 1
        else:
            summary.failed += 1

    @staticmethod
    def _rung_keeper(specs: list[TrialSpec], store: ResultsStore, own_ids: frozenset[str] | None = None) -> Any:
        """The sweep's successive-halving state, or None when the sweep has no rungs. Rung
        values of trials already in the store count, so a resumed sweep judges alike; only
        this experiment's (``own_ids``): a trial stored under other fixed settings is not."""
        stopping = specs[0].stopping
        if not stopping.rungs:
            return None
        keeper = RungKeeper.options(scheduling_strategy=_on_driver_node()).remote(
            stopping.rungs, stopping.keep, stopping.metric
        )
        stored = store.read_epochs(specs[0].sweep, trial_ids=sorted(own_ids) if own_ids is not None else None)
        if stored.num_rows:
            ray.get(keeper.record_stored.remote(stored.select(["trial_id", "epoch", stopping.metric]).to_pylist()))
        return keeper

    @staticmethod
    def _collect(ref: ray.ObjectRef, job: _Running) -> tuple[list[TrialResult], GroupReport | None]:
        """The group's results and its trainer's report; no report when the trainer died
        (then each result is FAILED)."""
        try:
            report: GroupReport = ray.get(ref)
            return report.results, report
        except TRAINER_DIED as e:
            now = datetime.now(timezone.utc)
            message = f"trainer process died: {type(e).__name__}: {str(e).splitlines()[0]}"
            return [TrialResult(s.trial_id, TrialStatus.FAILED, now, now, error=message, fused_with=len(job.specs))
                    for s in job.specs], None

    @staticmethod
    def _show_events(shown: ProgressEvents, by_id: dict[str, TrialSpec], progress: SweepProgress) -> None:
        for trial_id, record in shown.arrived():
            spec = by_id.get(trial_id)
            if spec is not None:
                progress.epoch_done(spec, record)
