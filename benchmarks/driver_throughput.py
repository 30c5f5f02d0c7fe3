"""Benchmark: how many trial results per second one driver launches and records.

What it isolates: the DRIVER (issue 19, item 5), i.e. everything `orch run` does between a
trainer's answer and the next launch: the executor loop (``cluster/executor.py``), the store
writes (Parquet, ``orchestrator/store``), the claims a driver writes per trial so that other
drivers can share the sweep, the progress view, and the trial source's take/finished
(ask/tell for a search). It runs the real ``run_experiment`` (the Python API behind
``orch run``) on a real local Ray started with logical CPUs (``ray.init(num_cpus=N)``), one
CPU per trainer (``resources.cpus_per_trainer: 1``), into a fresh Parquet store. Only the
trainer actor is replaced: :class:`InstantTrainer`, defined here, answers ``run_trials``
at once with well-formed results (one epoch record per epoch, posted to the progress queue
as a real trainer does, and a full :class:`GroupReport`), instead of importing TensorFlow
(~4 s and ~400 MB per trainer: 64 real trainers do not fit a 2-core machine). So the figure
is an upper bound on trials per second set by the driver, not by training.

For each trainer count it prints the results per second recorded (trials whose rows are in
the store, counted by reading the store back, over the sweep's time from first launch to
last result) and where the driver's time went, from timers wrapped around the store write,
the claims, progress, the trial source, the progress-event drain and Ray's wait/get.

    python benchmarks/driver_throughput.py                       # 16 and 64 trainers, 2000 trials
    python benchmarks/driver_throughput.py --trainers 16 --trials 500
    python benchmarks/driver_throughput.py --progress live       # the terminal view's cost
    python benchmarks/driver_throughput.py --method tpe          # a search: ask/tell per trial
    python benchmarks/driver_throughput.py --profile             # also cProfile's top functions
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import functools
import io
import os
import pstats
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402

from cluster.actor import GroupReport, node_memory_mb, resident_mb  # noqa: E402
from orchestrator.api import experiment_of  # noqa: E402
from orchestrator.driver import run_experiment  # noqa: E402
from orchestrator.plan import TrainerUsage  # noqa: E402
from orchestrator.progress import LiveProgress, LogProgress, SweepProgress  # noqa: E402
from orchestrator.store import ParquetResultsStore  # noqa: E402
from orchestrator.trial import EpochRecord, TrialResult, TrialStatus  # noqa: E402


@ray.remote
class InstantTrainer:
    """Stands in for cluster.actor.TrainerActor (same constructor, same methods the executor
    calls) but trains nothing: each trial's result is made at once, as a real trainer would
    return it, and each epoch is posted to the progress queue as a real one posts it."""

    def __init__(self, replicas: int, threads: int, events: Any, gpu_memory_mb: int | None = None) -> None:
        self._events = events
        self._node_id = ray.get_runtime_context().get_node_id()
        self._trials_run = 0

    def describe(self) -> dict[str, Any]:
        return {"host": "bench", "node_id": self._node_id, "pid": os.getpid(), "device_kind": "CPU",
                "device_count": 1, "cuda_visible_devices": None, "gpu_ids": []}

    def run_trials(self, specs: list, dataset_key: str, dataset_ref: list, rungs: Any = None) -> GroupReport:
        results = []
        for spec in specs:
            started = datetime.now(timezone.utc)
            lr = float(spec.training.learning_rate)
            epochs = []
            for e in range(1, spec.training.epochs + 1):
                acc = 0.5 + 0.4 * min(lr * 10, 1.0) * e / spec.training.epochs
                record = EpochRecord(e, 1.0 - acc, acc, 1.05 - acc, acc - 0.01, 0.001)
                self._events.put_nowait((spec.trial_id, record))
                epochs.append(record)
            results.append(TrialResult(
                trial_id=spec.trial_id, status=TrialStatus.COMPLETED, started_at=started,
                ended_at=datetime.now(timezone.utc), epochs=epochs, test_loss=epochs[-1].val_loss,
                test_accuracy=epochs[-1].val_accuracy, param_count=260, global_batch_size=spec.training.batch_size,
                data_seconds=0.0, build_seconds=0.0, first_epoch_seconds=0.001, eval_seconds=0.0,
                train_seconds=0.001, total_seconds=0.001, images_per_second=1e5, host="bench",
                node_id=self._node_id, device_kind="CPU", device_count=1, fused_with=len(specs),
            ))
        self._trials_run += len(specs)
        usage = TrainerUsage(rss_mb=resident_mb(), trials_run=self._trials_run, gpu_peak_mb=None)
        return GroupReport(results, usage, self._node_id, node_memory_mb(), None)


def experiment(data: Path, trials: int, trainers: int, method: str) -> Any:
    return experiment_of({
        "name": f"throughput{trainers}",
        "dataset": {"name": "npz", "path": str(data), "validation": 0.2},
        "model": {"name": "lenet5"},
        "training": {"epochs": 1, "batch_size": 32},
        "resources": {"trainers": trainers, "cpus_per_trainer": 1},
        "sweep": {"method": method, "samples": trials, "search_seed": 0,
                  "space": {"training.learning_rate": {"loguniform": [1e-4, 1e-1]}}},
    })


# Where the driver's time goes: (label, owner, attribute). Timed cumulatively, wherever
# they run (the launch loop or a background thread: the label says which it was on). Those
# the code at hand lacks are left out (so the same script measures before and after a change).
_TIMED = [
    ("store writes (Parquet)", "orchestrator.store._parquet:ParquetResultsStore", "_write"),
    ("claims: claim", "orchestrator.store._claims:ClaimBook", "claim"),
    ("claims: mark done", "orchestrator.store._claims:ClaimBook", "mark_done"),
    ("claims: heartbeat", "orchestrator.store._claims:ClaimBook", "heartbeat"),
    ("trial source take (ask)", "orchestrator.plan._source:PlannedTrials", "take"),
    ("trial source take (ask)", "orchestrator.plan._source:SearchTrials", "take"),
    ("trial source finished (tell)", "orchestrator.plan._source:SearchTrials", "finished"),
    ("progress events drained (Ray round trips)", "cluster.executor:RayExecutor", "_drain_events"),  # before
    ("progress events shown", "cluster.executor:RayExecutor", "_show_events"),
    ("store writes (Parquet)", "orchestrator.store._memory:InMemoryResultsStore", "_write"),
    ("progress: trial_started", "orchestrator.progress._log:LogProgress", "trial_started"),
    ("progress: trial_finished", "orchestrator.progress._log:LogProgress", "trial_finished"),
    ("progress: epoch_done", "orchestrator.progress._log:LogProgress", "epoch_done"),
    ("progress: trial_started", "orchestrator.progress._live:LiveProgress", "trial_started"),
    ("progress: trial_finished", "orchestrator.progress._live:LiveProgress", "trial_finished"),
    ("progress: epoch_done", "orchestrator.progress._live:LiveProgress", "epoch_done"),
    ("ray.wait", "ray:", "wait"),
    ("ray.get", "ray:", "get"),
]


class Timers:
    """Cumulative seconds per label, by thread (launch loop or background)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = collections.defaultdict(float)
        self.calls: dict[str, int] = collections.defaultdict(int)
        self.on = False

    def reset(self) -> None:
        """Count from here: the sweep starts (start-up's waits are not the driver's loop)."""
        self.seconds.clear()
        self.calls.clear()
        self.on = True

    def stop(self) -> None:
        self.on = False

    def install(self) -> None:
        import threading

        main = threading.main_thread()
        for label, target, attr, original in _timed_targets():
            if isinstance(original, staticmethod):
                original = original.__func__
                wrap_static = True
            else:
                wrap_static = False

            def timed(*args: Any, _f: Any = original, _label: str = label, **kwargs: Any) -> Any:
                t = time.perf_counter()
                try:
                    return _f(*args, **kwargs)
                finally:
                    if self.on:  # inside the sweep only
                        where = "" if threading.current_thread() is main else " [background]"
                        self.seconds[_label + where] += time.perf_counter() - t
                        self.calls[_label + where] += 1

            functools.update_wrapper(timed, original)
            setattr(target, attr, staticmethod(timed) if wrap_static else timed)

    @staticmethod
    def restore(saved: list[tuple[Any, str, Any]]) -> None:
        for target, attr, original in saved:
            setattr(target, attr, original)


def _timed_targets() -> list[tuple[str, Any, str, Any]]:
    """(label, owner object, attribute, its current value) for each entry of _TIMED that exists."""
    import importlib

    found = []
    for label, owner, attr in _TIMED:
        module, _, cls = owner.partition(":")
        target = importlib.import_module(module)
        target = getattr(target, cls) if cls else target
        if cls and attr not in target.__dict__:
            continue
        found.append((label, target, attr, target.__dict__[attr] if cls else getattr(target, attr)))
    return found


def originals() -> list[tuple[Any, str, Any]]:
    return [(target, attr, original) for _, target, attr, original in _timed_targets()]


def progress_view(kind: str, log: io.TextIOBase) -> SweepProgress:
    if kind == "log":
        return LogProgress(log)
    if kind == "live":
        return LiveProgress(log)
    return SweepProgress()


def run_once(trainers: int, trials: int, method: str, progress: str, profile: bool, tmp: Path,
             data: Path) -> dict[str, Any]:
    ray.init(num_cpus=trainers, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    saved = originals()
    timers = Timers()
    timers.install()
    profiler = cProfile.Profile() if profile else None
    try:
        store = ParquetResultsStore(str(tmp / f"store{trainers}"))
        exp = experiment(data, trials, trainers, method)
        with open(tmp / f"progress{trainers}.log", "w") as log:
            view = progress_view(progress, log)
            start = view.start

            def started(*a: Any, **k: Any) -> None:  # the sweep's first launch comes next
                timers.reset()
                if profiler:
                    profiler.enable()
                start(*a, **k)

            close = view.close

            def closed() -> None:  # the sweep is over (compaction and shutdown are not timed)
                timers.stop()
                if profiler:
                    profiler.disable()
                close()

            view.start = started  # type: ignore[method-assign]
            view.close = closed  # type: ignore[method-assign]
            summary = run_experiment(exp, store, progress=view, trainer=InstantTrainer)
        stored = ParquetResultsStore(str(tmp / f"store{trainers}")).read_trials(exp.name, columns=["trial_id"])
    finally:
        timers.restore(saved)
        ray.shutdown()
    row = {"trainers": trainers, "trials": trials, "stored": stored.num_rows,
           "distinct": len(set(stored["trial_id"].to_pylist())), "sweep_s": summary.sweep_seconds,
           "wall_s": summary.wall_seconds, "timers": dict(timers.seconds), "calls": dict(timers.calls)}
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
        row["profile"] = text.getvalue()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainers", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--method", choices=["random", "tpe"], default="random")
    parser.add_argument("--progress", choices=["log", "live", "none"], default="log",
                        help="log: orch run's view in a pipe or file (default); live: the terminal view")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions by own time")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        rng = np.random.default_rng(0)
        data = tmp / "data.npz"
        np.savez(data, x_train=rng.integers(0, 256, (200, 28, 28, 1), dtype=np.uint8),
                 y_train=rng.integers(0, 4, 200), x_test=rng.integers(0, 256, (50, 28, 28, 1), dtype=np.uint8),
                 y_test=rng.integers(0, 4, 50))
        for n in args.trainers:
            row = run_once(n, args.trials, args.method, args.progress, args.profile, tmp, data)
            rows.append(row)
            print(f"{n} trainers: {row['stored']} rows stored ({row['distinct']} distinct trials) "
                  f"in {row['sweep_s']:.1f} s of sweep, {row['wall_s']:.1f} s in all", flush=True)
    print()
    print(f"method {args.method}, progress {args.progress}, {args.trials} one-epoch trials, instant trainers")
    print(f"{'trainers':>8} {'stored':>7} {'sweep s':>8} {'results/s':>10}")
    for row in rows:
        print(f"{row['trainers']:>8} {row['stored']:>7} {row['sweep_s']:>8.2f} {row['stored'] / row['sweep_s']:>10.1f}")
    for row in rows:
        print()
        print(f"where the driver's time went, {row['trainers']} trainers ({row['sweep_s']:.2f} s of sweep; "
              "timers overlap: ray.get includes the calls the others make):")
        for label, seconds in sorted(row["timers"].items(), key=lambda kv: -kv[1]):
            calls = row["calls"][label]
            print(f"  {label:<44} {seconds:8.2f} s  {calls:>7} calls  {1000 * seconds / max(calls, 1):7.2f} ms/call")
        if "profile" in row:
            print(row["profile"])


if __name__ == "__main__":
    main()
