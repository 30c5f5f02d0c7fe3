"""The driver's launch path when results come in fast (issue 19, item 5): the results of one
pass of the executor's loop reach the store together, all of them, also when the sweep stops
in the middle of that pass; trainers' epoch events reach the progress view from a background
fetch. Real local Ray with trainers that answer at once (no TensorFlow): what is checked is
what the driver does with their answers. Speed is benchmarks/driver_throughput.py's business."""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timezone
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from cluster.actor import GroupReport  # noqa: E402
from cluster._events import ProgressEvents  # noqa: E402
from orchestrator.config import parse_experiment  # noqa: E402
from orchestrator.driver import run_experiment  # noqa: E402
from orchestrator.errors import SweepAborted  # noqa: E402
from orchestrator.plan import TrainerUsage  # noqa: E402
from orchestrator.progress import SweepProgress  # noqa: E402
from orchestrator.store import ParquetResultsStore  # noqa: E402
from orchestrator.trial import EpochRecord, TrialResult, TrialStatus  # noqa: E402
from ray.util.queue import Empty  # noqa: E402

pytestmark = pytest.mark.ray


@ray.remote
class _InstantTrainer:
    """The executor's trainer contract (constructor, describe, run_trials) without training:
    each trial's result at once, COMPLETED, or FAILED when its learning rate is above 0.05;
    one epoch event per epoch posted to the progress queue, as a real trainer posts it."""

    def __init__(self, replicas: int, threads: int, events: Any, gpu_memory_mb: int | None = None) -> None:
        self._events = events
        self._node = ray.get_runtime_context().get_node_id()
        self._run = 0

    def describe(self) -> dict[str, Any]:
        return {"node_id": self._node, "pid": os.getpid(), "device_kind": "CPU", "device_count": 1}

    def run_trials(self, specs: list, dataset_key: str, dataset_ref: list, rungs: Any = None) -> GroupReport:
        results = []
        for spec in specs:
            now = datetime.now(timezone.utc)
            failed = spec.training.learning_rate > 0.05
            epochs = [EpochRecord(e, 0.5, 0.8, 0.6, 0.7 + e / 100, 0.001) for e in range(1, spec.training.epochs + 1)]
            for record in epochs:
                self._events.put_nowait((spec.trial_id, record))
            results.append(TrialResult(
                spec.trial_id, TrialStatus.FAILED if failed else TrialStatus.COMPLETED, now, now,
                error="ValueError: broken on purpose" if failed else None, epochs=[] if failed else epochs,
                test_accuracy=None if failed else 0.75, host="test", device_kind="CPU", device_count=1,
                fused_with=len(specs)))
        self._run += len(specs)
        return GroupReport(results, TrainerUsage(rss_mb=100.0, trials_run=self._run, gpu_peak_mb=None),
                           self._node, 64_000.0, None)


def _experiment(name: str, **resources: Any) -> Any:
    return parse_experiment({
        "name": name,
        "dataset": {"name": "mnist_sample", "validation": 0.1},
        "training": {"epochs": 2, "batch_size": 64},
        "resources": {"cpus_per_trainer": 1, **resources},
        "sweep": {"grid": {"training.learning_rate": [0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008,
                                                      0.009, 0.01, 0.011, 0.012]}, "seeds": [0, 1]},
    })


class _CountingStore(ParquetResultsStore):
    """Records the trial ids of each write the executor makes."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        self.writes: list[list[str]] = []

    def append_many(self, runs):
        runs = list(runs)
        self.writes.append([spec.trial_id for spec, _ in runs])
        return super().append_many(runs)


class _Epochs(SweepProgress):
    def __init__(self) -> None:
        self.epochs: list[tuple[str, int]] = []
        self.finished: list[str] = []

    def epoch_done(self, spec, record) -> None:
        self.epochs.append((spec.trial_id, record.epoch))

    def trial_finished(self, spec, result, retrying) -> None:
        self.finished.append(spec.trial_id)


@pytest.fixture
def four_cpus(fresh_ray):
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    yield


def test_many_fast_results_are_each_stored_once_with_their_epochs_and_every_epoch_shown(tmp_path, four_cpus):
    """24 trials on 4 trainers that answer at once: every trial stored exactly once (trial
    row and both epoch rows), every write holds distinct trials, and each of the 48 epoch
    events the trainers posted reached the progress view (the background fetch lost none)."""
    store = _CountingStore(str(tmp_path / "store"))
    progress = _Epochs()
    summary = run_experiment(_experiment("fast", trainers=4), store, progress=progress, trainer=_InstantTrainer)
    assert summary.completed == 24 and summary.failed == 0
    trials = store.read_trials("fast")
    ids = trials["trial_id"].to_pylist()
    assert len(ids) == 24 and len(set(ids)) == 24
    epochs = store.read_epochs("fast").to_pylist()
    assert sorted((r["trial_id"], r["epoch"]) for r in epochs) == sorted((i, e) for i in ids for e in (1, 2))
    written = [i for write in store.writes for i in write]
    assert sorted(written) == sorted(ids)  # no trial written twice, none left out
    assert sorted(progress.epochs) == sorted((i, e) for i in ids for e in (1, 2))
    assert sorted(progress.finished) == sorted(ids)


def test_a_sweep_stopped_by_its_failure_streak_has_stored_every_result_of_that_pass(tmp_path, four_cpus):
    """A fused group of 4 failing trials comes back as one answer: the streak limit (1) trips
    on its first result, and all four are stored, not only that first one (before
    batching, the three after it were dropped and had to run again)."""
    store = _CountingStore(str(tmp_path / "store"))
    experiment = parse_experiment({
        "name": "streak",
        "dataset": {"name": "mnist_sample", "validation": 0.1},
        "training": {"epochs": 1, "batch_size": 64},
        "resources": {"cpus_per_trainer": 1, "trainers": 1, "fuse": 4, "max_consecutive_failures": 1,
                      "max_retries": 0},
        "sweep": {"grid": {"training.learning_rate": [0.06, 0.07, 0.08, 0.09, 0.1, 0.2, 0.3, 0.4]}},
    })
    with pytest.raises(SweepAborted, match="1 trials in a row failed"):
        run_experiment(experiment, store, progress=SweepProgress(), trainer=_InstantTrainer)
    rows = store.read_trials("streak").to_pylist()
    assert len(rows) == 4 and {r["status"] for r in rows} == {"failed"}
    assert len({r["trial_id"] for r in rows}) == 4
    assert len(store.writes) == 1 and sorted(store.writes[0]) == sorted(r["trial_id"] for r in rows)

def test_a_sweep_interrupted_while_showing_a_pass_has_stored_all_of_it_and_a_rerun_finishes_the_rest(
        tmp_path, four_cpus):
    """Ctrl-C arrives while the first pass's results are being shown (a fused group of 4,
    so the pass holds 4): all 4 are stored, and running the sweep again runs only the
    other 4, storing each trial exactly once in all."""

    class Interrupt(SweepProgress):
        def trial_finished(self, spec, result, retrying) -> None:
            raise KeyboardInterrupt

    store = ParquetResultsStore(str(tmp_path / "store"))
    experiment = parse_experiment({
        "name": "ctrlc",
        "dataset": {"name": "mnist_sample", "validation": 0.1},
        "training": {"epochs": 1, "batch_size": 64},
        "resources": {"cpus_per_trainer": 1, "trainers": 1, "fuse": 4},
        "sweep": {"grid": {"training.learning_rate": [0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008]}},
    })
    with pytest.raises(KeyboardInterrupt):
        run_experiment(experiment, store, progress=Interrupt(), trainer=_InstantTrainer)
    first = store.read_trials("ctrlc")["trial_id"].to_pylist()
    assert len(first) == 4 and len(set(first)) == 4
    summary = run_experiment(experiment, store, progress=SweepProgress(), trainer=_InstantTrainer)
    assert (summary.skipped, summary.completed) == (4, 4)
    ids = store.read_trials("ctrlc")["trial_id"].to_pylist()
    assert len(ids) == 8 and len(set(ids)) == 8


class _FakeQueue:
    """ray.util.queue.Queue's calls that _ProgressEvents makes, in this process."""

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._lock = threading.Lock()

    def put(self, item: Any) -> None:
        with self._lock:
            self._items.append(item)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        deadline = time.monotonic() + (timeout or 0)
        while True:
            with self._lock:
                if self._items:
                    return self._items.pop(0)
            if time.monotonic() > deadline:
                raise Empty
            time.sleep(0.001)

    def qsize(self) -> int:
        with self._lock:
            return len(self._items)

    def get_nowait_batch(self, n: int) -> list[Any]:
        with self._lock:
            if n > len(self._items):
                raise Empty
            taken, self._items = self._items[:n], self._items[n:]
            return taken


def test_progress_events_arrive_in_order_and_none_is_left_behind_at_close():
    """Events put while the fetch runs arrive in order; close() takes whatever the fetch had
    not taken yet; after close nothing is fetched any more (a warm session's next sweep
    reads the same queue)."""
    events = _FakeQueue()
    shown = ProgressEvents(events, poll=0.05)
    for i in range(50):
        events.put(("t", i))
    deadline = time.monotonic() + 10
    got: list[Any] = []
    while len(got) < 50 and time.monotonic() < deadline:
        got += shown.arrived()
        time.sleep(0.01)
    assert got == [("t", i) for i in range(50)]
    for i in range(50, 100):
        events.put(("t", i))
    shown.close()  # at once: most of these are still in the queue
    assert shown.arrived() == [("t", i) for i in range(50, 100)]
    events.put(("next sweep", 0))
    time.sleep(0.2)
    assert shown.arrived() == [] and events.qsize() == 1
