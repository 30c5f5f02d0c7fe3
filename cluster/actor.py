"""The trainer actor: a long-lived process that imports TensorFlow once, receives each
dataset once, and runs many trials one after another."""

from __future__ import annotations

import os
import socket
import time
import traceback
from datetime import datetime, timezone
from typing import Any

import ray

from orchestrator.trial import EpochRecord, TrialResult, TrialSpec, TrialStatus

__all__ = ["TrainerActor"]


class _Trainer:
    def __init__(self, replicas: int, threads: int, events: Any, gpu_memory_mb: int | None = None) -> None:
        # Before TensorFlow loads: its C++ start-up chatter would reach the driver's log.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from trainers import configure_process

        # Ray has set CUDA_VISIBLE_DEVICES to this actor's GPUs (empty on CPU-only actors).
        self._device = configure_process(replicas=replicas, threads=threads, gpu_memory_mb=gpu_memory_mb)
        self._events = events
        self._datasets: dict[str, Any] = {}
        self._node_id = ray.get_runtime_context().get_node_id()

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

    def run_trial(
        self, spec: TrialSpec, dataset_key: str, dataset_ref: list[ray.ObjectRef], rungs: Any = None
    ) -> TrialResult:
        """Run one trial. An exception inside the trial becomes a FAILED result (running it
        again would fail the same way); only a dying process surfaces as an error.
        ``rungs``: the sweep's RungKeeper actor, asked at rung epochs whether to go on."""
        from trainers import run_trial

        # The ref arrives wrapped in a list so Ray does not resolve it on every call:
        # the dataset crosses the object store once per actor, not once per trial.
        started = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        if dataset_key not in self._datasets:
            self._datasets = {dataset_key: ray.get(dataset_ref[0])}
        fetch_seconds = time.perf_counter() - t0

        def on_epoch(record: EpochRecord) -> None:
            self._events.put_nowait((spec.trial_id, record))

        def at_rung(record: EpochRecord) -> str | None:
            if rungs is None or record.epoch not in spec.stopping.rungs:
                return None
            return ray.get(rungs.report.remote(spec.trial_id, record)).reason

        try:
            result = run_trial(
                spec, self._datasets[dataset_key], self._device, on_epoch=on_epoch, should_stop=at_rung
            )
            result.data_seconds = fetch_seconds
            result.node_id = self._node_id
            return result
        except Exception as e:  # noqa: BLE001 - every trial error is stored, not raised
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
