"""The trainer actor: a long-lived process that imports TensorFlow once, receives each
dataset once, and runs many trials one after another, alone or fused in groups. After each
group it reports its memory (:class:`GroupReport`), so that the executor can replace it by a
fresh actor when it has grown past its budget (orchestrator.plan.decide_trainer_renewal)."""

from __future__ import annotations

import os
import socket
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import ray

from orchestrator.plan import TrainerUsage
from orchestrator.trial import EpochRecord, TrialResult, TrialSpec, TrialStatus

__all__ = ["TrainerActor", "GroupReport", "resident_mb", "node_memory_mb"]


@dataclass(frozen=True)
class GroupReport:
    """What :meth:`_Trainer.run_trials` returns: the group's results, in order, and the
    trainer's state after it, its trials' objects released."""

    results: list[TrialResult]
    usage: TrainerUsage
    node_id: str
    node_memory_mb: float
    gpu_total_mb: float | None  # the trainer's GPU, when it has one and nvidia-smi says


def resident_mb() -> float:
    """This process's resident memory now (MiB): /proc on Linux; elsewhere the peak so far
    (``resource``), which can only overstate it."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def node_memory_mb() -> float:
    """This node's physical memory (MiB)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20


class _Trainer:
    def __init__(self, replicas: int, threads: int, events: Any, gpu_memory_mb: int | None = None) -> None:
        # Before TensorFlow loads: its C++ start-up chatter would reach the driver's log.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from trainers import import_keras_lean

        import_keras_lean()  # first: Keras without scikit-learn (~0.8 s less of start-up)
        from trainers import configure_process, run_fused_trials  # noqa: F401 - Keras loads now
        from trainers.devices import gpu_total_mb
        from trainers.release import freeze_startup_objects

        # Ray has set CUDA_VISIBLE_DEVICES to this actor's GPUs (empty on CPU-only actors).
        self._device = configure_process(replicas=replicas, threads=threads, gpu_memory_mb=gpu_memory_mb)
        self._events = events
        self._datasets: dict[str, Any] = {}
        self._node_id = ray.get_runtime_context().get_node_id()
        self._gpu_total_mb = gpu_total_mb() if self._device.kind == "GPU" else None
        self._trials_run = 0
        # TensorFlow's and Keras' import-time objects stay for the process's life: out of the
        # collector's way, the collection that releases each trial costs microseconds.
        freeze_startup_objects()

    def describe(self) -> dict[str, Any]:
        return {
            "host": socket.gethostname(),
            "node_id": self._node_id,
            "pid": os.getpid(),
            "device_kind": self._device.kind,
            "device_count": self._device.count,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
        }

    def run_trials(
        self, specs: list[TrialSpec], dataset_key: str, dataset_ref: list[ray.ObjectRef], rungs: Any = None
    ) -> GroupReport:
        """Run a group of trials that share the input pipeline as one fused model (one trial:
        a group of one); one result per spec, in order, each with ``fused_with`` set, in a
        :class:`GroupReport` with this trainer's memory after the group. An
        exception inside the group runs each trial again alone, resumed from the checkpoints
        the group saved, so one broken config does not fail its companions; an exception in
        a trial alone becomes its FAILED result (running it again would fail the same way).
        Only a dying process surfaces as an error. ``rungs``: the sweep's RungKeeper actor,
        asked at rung epochs whether a trial goes on."""
        from trainers import run_fused_trials

        # The ref arrives wrapped in a list so Ray does not resolve it on every call:
        # the dataset crosses the object store once per actor, not once per trial.
        t0 = time.perf_counter()
        if dataset_key not in self._datasets:
            self._datasets = {dataset_key: ray.get(dataset_ref[0])}
        fetch_seconds = time.perf_counter() - t0
        data = self._datasets[dataset_key]
        stopping = {s.trial_id: s.stopping for s in specs}

        def on_epoch(trial_id: str, record: EpochRecord) -> None:
            self._events.put_nowait((trial_id, record))

        def at_rung(trial_id: str, record: EpochRecord) -> str | None:
            if rungs is None or record.epoch not in stopping[trial_id].rungs:
                return None
            return ray.get(rungs.report.remote(trial_id, record)).reason

        def alone(spec: TrialSpec) -> TrialResult:
            started = datetime.now(timezone.utc)
            try:
                (result,) = run_fused_trials([spec], data, self._device, on_epoch=on_epoch, should_stop=at_rung)
                return result
            except Exception as e:  # noqa: BLE001 - every trial error is stored, not raised
                return self._failed(spec, started, e)

        if len(specs) == 1:
            results = [alone(specs[0])]
        else:
            try:
                results = run_fused_trials(specs, data, self._device, on_epoch=on_epoch, should_stop=at_rung)
                for result in results:
                    result.fused_with = len(specs)
            except Exception:  # noqa: BLE001 - which trial broke it is found by running each alone
                results = [alone(spec) for spec in specs]
        for result in results:
            result.data_seconds = fetch_seconds
            result.node_id = self._node_id
        self._trials_run += len(specs)
        return self._report(results)

    def _report(self, results: list[TrialResult]) -> GroupReport:
        from trainers.devices import gpu_peak_mb

        usage = TrainerUsage(rss_mb=resident_mb(), trials_run=self._trials_run, gpu_peak_mb=gpu_peak_mb(self._device))
        return GroupReport(results, usage, self._node_id, node_memory_mb(), self._gpu_total_mb)

    def measure_fusion(
        self, spec: TrialSpec, dataset_key: str, dataset_ref: list[ray.ObjectRef], sizes: tuple[int, ...]
    ) -> tuple[dict[int, float], dict[int, float]]:
        """Group steps per second and set-up seconds of ``spec`` fused K times, for each K
        in ``sizes`` (``resources.fuse: auto``); nothing is saved."""
        from trainers import measure_fused_rate

        if dataset_key not in self._datasets:
            self._datasets = {dataset_key: ray.get(dataset_ref[0])}
        return measure_fused_rate(spec, self._datasets[dataset_key], self._device, sizes=sizes)

    def _failed(self, spec: TrialSpec, started: datetime, e: Exception) -> TrialResult:
        last = traceback.extract_tb(e.__traceback__)[-1]
        return TrialResult(
            trial_id=spec.trial_id,
            status=TrialStatus.FAILED,
            started_at=started,
            ended_at=datetime.now(timezone.utc),
            error=f"{type(e).__name__}: {e} (at {os.path.basename(last.filename)}:{last.lineno})",
            host=socket.gethostname(),
            node_id=self._node_id,
            device_kind=self._device.kind,
            device_count=self._device.count,
        )


TrainerActor = ray.remote(_Trainer)
