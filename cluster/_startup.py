"""Trainer start-up: launching trainer actors, waiting until they are ready, replacing those
that die before they are (scheduler.decide_after_startup_failure decides, this carries it out).

A trainer is *starting* from its launch until its first ``describe`` call answers: by then it
has imported TensorFlow and configured its devices. The sweep's first trainers and the
replacements of trainers that died mid-trial start the same way, through one pool.
:func:`start_and_check` is the sweep's start: its trainers, its data and the check of its user
models, side by side; it returns once the first trainer is ready, and the others join the
sweep as each becomes ready (issue 19: the first trial starts without waiting for the last
trainer's TensorFlow import).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError, WorkerCrashedError

from cluster.data import dataset_key, put_datasets
from cluster.validation import submit_model_checks
from orchestrator.errors import SweepAborted
from orchestrator.plan import StartupAction, StartupFailures, decide_after_startup_failure
from orchestrator.progress import StartupPhases, SweepProgress
from orchestrator.trial import TrialSpec

__all__ = ["TRAINER_DIED", "TrainerPool", "PreparedSweep", "root_cause", "start_and_check"]

TRAINER_DIED = (RayActorError, ActorDiedError, ActorUnavailableError, WorkerCrashedError)

# A replacement trainer that has not started after this long (its node is gone and no other
# node has room) is given up on; the sweep goes on with the trainers it has.
REPLACEMENT_GRACE_SECONDS = 120.0
# A first trainer that has not started after this long never will: the cluster's CPUs are
# held by something else. Generous: a cold node imports TensorFlow in 2-10 s.
FIRST_TRAINER_SECONDS = 300.0


def root_cause(error: BaseException) -> str:
    """The line that names the innermost exception: Ray's errors end with the wrapped
    traceback, whose last line is 'Type: message'."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def startup_error(error: BaseException) -> str | None:
    """What a start-up failure says about the next start-up: the exception line when the
    trainer's own start-up raised (``actor_init_failed``: it may well raise again), None when
    the process just died (killed, out of memory, node lost)."""
    return root_cause(error) if getattr(error, "actor_init_failed", False) else None


@dataclass
class _Starting:
    actor: Any
    since: float


class TrainerPool:
    """Trainers still starting, keyed by the ref of their first ``describe`` call, and the
    sweep's start-up failures. ``launch`` makes one trainer actor (the executor's options)."""

    def __init__(self, launch: Callable[[], Any], trainers: int) -> None:
        self._launch = launch
        self._trainers = trainers
        self._starting: dict[ray.ObjectRef, _Starting] = {}
        self.failures = StartupFailures()
        # Where trainers still starting go when the pool is emptied (kill_all): a warm
        # session keeps them (PreparedSweep sets this), otherwise they are stopped.
        self.keep: Callable[[list[Any]], None] | None = None

    def start(self, count: int) -> None:
        for _ in range(count):
            actor = self._launch()
            self._starting[actor.describe.remote()] = _Starting(actor, time.monotonic())

    @property
    def refs(self) -> list[ray.ObjectRef]:
        return list(self._starting)

    def __contains__(self, ref: object) -> bool:
        return ref in self._starting

    def __bool__(self) -> bool:
        return bool(self._starting)

    def settle(self, ref: ray.ObjectRef) -> Any | None:
        """The trainer whose ``describe`` ``ref`` answered, ready; or None when it died
        starting, in which case a replacement is started or, when the decision is to abort,
        :class:`SweepAborted` names the error."""
        job = self._starting.pop(ref)
        try:
            ray.get(ref)
        except TRAINER_DIED as e:
            ray.kill(job.actor, no_restart=True)
            error = startup_error(e)
            self.failures = self.failures.plus(error)
            if decide_after_startup_failure(self.failures, self._trainers) is StartupAction.ABORT:
                raise SweepAborted(self._abort_message(error, e)) from e
            self.start(1)
            return None
        return job.actor

    def _abort_message(self, error: str | None, e: BaseException) -> str:
        count = len(self.failures.errors)
        if error is not None and self.failures.errors.count(error) > 1:
            return (f"trainer actors cannot start: {error} (the same error {self.failures.errors.count(error)} "
                    "times); check that orch and TensorFlow are installed on every node (pip install "
                    "tf-orchestrator) and that resources: fits the cluster")
        return (f"{count} trainers died while starting, the last with: {error or root_cause(e)}; the nodes "
                "cannot keep a trainer alive (out of memory? `ray status`, `dmesg`); stored trials are kept")

    def wait_until_ready(self, count: int, poll: float) -> list[Any]:
        """Block until ``count`` trainers are ready (replacing those that die first) and
        return them, so that the sweep starts on all of them, spread as Ray placed them. Once
        one is ready, the rest get :data:`REPLACEMENT_GRACE_SECONDS`; those still starting
        then join during the run."""
        ready: list[Any] = []
        first_ready_at: float | None = None
        started = time.monotonic()
        while len(ready) < count:
            if not self._starting:
                if ready:
                    return ready
                raise SweepAborted("no trainer could start; check the Ray cluster (ray status)")
            if first_ready_at is not None and time.monotonic() - first_ready_at > REPLACEMENT_GRACE_SECONDS:
                return ready
            if first_ready_at is None and time.monotonic() - started > FIRST_TRAINER_SECONDS:
                raise SweepAborted(
                    f"no trainer could start within {FIRST_TRAINER_SECONDS:.0f} s: the Ray cluster has no free "
                    "room for one (other actors hold its CPUs or GPUs?); check `ray status`, and run the same "
                    "command again: stored trials are kept"
                )
            done, _ = ray.wait(self.refs, num_returns=1, timeout=poll)
            for ref in done:
                actor = self.settle(ref)
                if actor is not None:
                    ready.append(actor)
                    first_ready_at = first_ready_at or time.monotonic()
        return ready

    def give_up_if_stuck(self, have_trainers: bool, waiting: bool) -> None:
        """Replacements wait for room; while other trainers work that costs nothing. With no
        trainer left and trials waiting, wait a grace period, then stop the sweep."""
        if have_trainers or not waiting:
            return
        if not self._starting:
            raise SweepAborted("every trainer died and none could be replaced; check the Ray cluster (ray status)")
        oldest = min(job.since for job in self._starting.values())
        if time.monotonic() - oldest > REPLACEMENT_GRACE_SECONDS:
            raise SweepAborted(
                f"every trainer died and no replacement could start within {REPLACEMENT_GRACE_SECONDS:.0f} s "
                "(no node has room for one); check the Ray cluster (ray status) and run the same command "
                "again: stored trials are kept"
            )

    def kill_all(self) -> None:
        """Stop every trainer still starting; a warm session's (``keep``) are kept for its next
        sweep instead, which takes them once they answer (cluster/warm.py)."""
        actors = [job.actor for job in self._starting.values()]
        self._starting.clear()
        if self.keep is not None:
            self.keep(actors)
            return
        for actor in actors:
            ray.kill(actor, no_restart=True)


def start_and_check(pool: TrainerPool, count: int, specs: list[TrialSpec], idle: list[Any], progress: SweepProgress,
                    phases: StartupPhases, poll: float, warm: Any = None) -> tuple[dict[str, ray.ObjectRef], dict[str, int]]:
    """Start ``count`` trainers and, while they import TensorFlow, load each dataset into the
    object store and build each user model once on it. Returns once the checks passed and one
    trainer is ready (in ``idle``, or ``idle`` had one already: a warm session's): the
    others stay in ``pool`` and join the sweep as each becomes ready (RayExecutor.run settles
    them), so that the first trial does not wait for the last trainer's TensorFlow import. A
    check that fails stops them all (the caller's release). Returns the datasets' refs and
    their training image counts, by dataset key. ``warm`` (cluster/warm.py): datasets and
    passed checks of the session's earlier sweeps."""
    trainers = f"{count} trainer{'s' if count != 1 else ''}"
    with progress.step(f"starting {trainers} (TensorFlow loads in each) and loading the data..."):
        started = time.monotonic()
        pool.start(count)
        # Trainers import TensorFlow (seconds) while the datasets load.
        with phases.phase("loading the data", alongside=f"{trainers} starting"):
            datasets, train_images = put_datasets(specs, cache=warm.datasets if warm is not None else None)
        # Each user model is built once on a sample batch while the trainers start; in a
        # warm session, not again when every one of them passed already.
        check_keys = {_check_key(s) for s in specs} if warm is not None else set()
        skip = warm is not None and check_keys <= warm.checked
        checks = submit_model_checks([] if skip else specs, datasets, dataset_key)
        # Start-up works on this cluster (a broken install aborts here, with its error): one
        # trainer ready says so; the sweep starts on it.
        if count and not idle:
            idle.extend(pool.wait_until_ready(1, poll))
            first = "the first of " + trainers if count > 1 else trainers
            phases.record(f"starting {first} (TensorFlow loads in each)", time.monotonic() - started)
    # Built-in models are not checked: no line for them. The checks ran alongside the
    # trainers' start; this phase is the wait left once the trainers were ready.
    checking = (phases.phase("checking user models, after the trainers were ready")
                if any(s.model.builder is not None for s in specs) else contextlib.nullcontext())
    with progress.step("building each user model once on a sample batch..."), checking:
        # User code that cannot build fails here, before the store is written.
        checks.result()
    if warm is not None:
        warm.checked |= check_keys
    return datasets, train_images


def _check_key(spec: TrialSpec) -> str:
    """What a model check covered: the model, its code, loss and metrics, on what data."""
    from cluster.warm import data_cache_key

    t = spec.training
    return repr((data_cache_key(dataset_key(spec.dataset), spec.dataset), spec.model, spec.builder_code,
                 t.loss, t.metrics, t.class_weight))


@dataclass
class PreparedSweep:
    """What :meth:`RayExecutor.prepare` checked and started, for :meth:`RayExecutor.run`."""

    specs: list[TrialSpec]
    trainers: int  # planned; `idle` plus those still starting
    pool: TrainerPool
    idle: list[Any]
    datasets: dict[str, ray.ObjectRef]
    events: Any
    fuse: int = 1  # trials per fused group (resources.fuse, or what `auto` measured)
    # For `auto`: the measured group steps per second by K, and the K chosen from them.
    fuse_rates: dict[int, float] | None = None
    train_images: dict[str, int] = field(default_factory=dict)  # per dataset key
    # The start-up's timings; :meth:`RayExecutor.run` ends them at the first launch.
    phases: StartupPhases = field(default_factory=StartupPhases)
    # A warm session's pool (cluster/warm.py) and the trainers' shape in it; None: no session.
    warm: Any = None
    shape: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.warm is not None:  # trainers still starting when the sweep ends are the session's too
            warm, shape = self.warm, self.shape
            self.pool.keep = lambda actors: warm.give(shape, actors)

    def release(self) -> None:
        """Stop every trainer (a prepare that is not followed by a run); in a warm session
        the ready ones are kept for its next sweep."""
        self.pool.kill_all()
        self.settle_idle()
        if self.warm is None:
            self.events.shutdown()

    def settle_idle(self) -> None:
        """The idle trainers at the end: kept by a warm session, else stopped."""
        if self.warm is not None:
            self.warm.give(self.shape, list(self.idle))
        else:
            for actor in self.idle:
                ray.kill(actor, no_restart=True)
        self.idle.clear()
