"""Searches on a real local Ray: tpe keeps both trainers busy, survives an interrupted
driver (the sampler rebuilt from the store, told == stored), and stopping rules reach it."""

from __future__ import annotations

import pytest

pytest.importorskip("ray")

from cluster import ray_session  # noqa: E402
from orchestrator.config import parse_experiment  # noqa: E402
from orchestrator.driver import plan_run, run_experiment  # noqa: E402
from orchestrator.progress import SweepProgress  # noqa: E402
from orchestrator.store import ParquetResultsStore  # noqa: E402

pytestmark = pytest.mark.ray

SEARCH = {
    "name": "tpe",
    "training": {"epochs": 2, "batch_size": 256},
    "outputs": {"tensorboard": False},
    "resources": {"trainers": 2, "fuse": 2},  # interrupted and resumed with fused groups too
    "stopping": {"rungs": [1], "keep": 0.5},
    "sweep": {"method": "tpe", "samples": 6, "search_seed": 1, "space": {
        "training.learning_rate": {"loguniform": [1e-4, 3e-2]},
        "model.activation": {"choice": ["relu", "tanh"]},
    }},
}


class _StopAfter(SweepProgress):
    """Interrupts the driver (as Ctrl-C does) once ``n`` results are stored."""

    def __init__(self, n: int) -> None:
        self.n, self.stored, self.running_max, self._running = n, 0, 0, 0

    def trial_started(self, spec, attempt) -> None:
        self._running += 1
        self.running_max = max(self.running_max, self._running)

    def trial_finished(self, spec, result, retrying) -> None:
        self._running -= 1
        if not retrying:
            self.stored += 1
            if self.stored >= self.n:
                raise KeyboardInterrupt


def test_an_interrupted_tpe_search_resumes_to_exactly_its_budget(fresh_ray, tmp_path):
    experiment = parse_experiment(SEARCH)
    store = ParquetResultsStore(str(tmp_path))
    stopper = _StopAfter(3)
    with ray_session():
        with pytest.raises(KeyboardInterrupt):
            run_experiment(experiment, store, progress=stopper)
        before = store.read_trials("tpe").to_pylist()
        # Every result the driver collected in the pass that was interrupted is stored (the
        # pass writes them together before it tells anyone): the third, and a fourth when it
        # came in the same pass (two trainers of fused pairs: at most four results a pass).
        assert 3 <= len(before) <= 4
        # Both trainers were busy (the next trial starts before the last result is written,
        # so the count briefly reads one more).
        assert stopper.running_max >= 2
        # The resumed search is told every stored trial before it asks for more.
        plan = plan_run(experiment, store)
        assert plan.told == len(before) and plan.to_run == 6 - len(before)
        summary = run_experiment(experiment, store)
    rows = store.read_trials("tpe").to_pylist()
    assert summary.completed + summary.stopped == 6 - len(before)
    assert len(rows) == 6 and len({r["trial_id"] for r in rows}) == 6  # none twice, none lost
    assert {r["run_id"] for r in before} <= {r["run_id"] for r in rows}
    statuses = {r["status"] for r in rows}
    assert statuses <= {"completed", "stopped"} and "stopped" in statuses  # halving works with tpe
    assert plan_run(experiment, store).to_run == 0
