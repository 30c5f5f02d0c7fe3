"""The executor's launch path (real local Ray): a free trainer gets its next trial before
the driver writes the previous result to the store."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray")

from cluster import ray_session  # noqa: E402
from orchestrator.config import parse_experiment  # noqa: E402
from orchestrator.progress import SweepProgress  # noqa: E402
from orchestrator.driver import run_experiment  # noqa: E402
from orchestrator.store import InMemoryResultsStore  # noqa: E402
from orchestrator.plan import expand_sweep  # noqa: E402

pytestmark = pytest.mark.ray


def test_the_next_trial_is_launched_before_the_previous_result_is_written(tmp_path):
    """The store write is off the launch path: with one trainer, trial k+1 starts before
    trial k is stored; each trial is still stored exactly once."""
    events: list[tuple[str, str]] = []

    class Store(InMemoryResultsStore):
        def append_many(self, runs):
            runs = list(runs)
            events.extend(("stored", spec.trial_id) for spec, _ in runs)
            return super().append_many(runs)

    class Progress(SweepProgress):
        def trial_started(self, spec, attempt) -> None:
            events.append(("started", spec.trial_id))

    experiment = parse_experiment({"name": "order", "training": {"epochs": 1, "batch_size": 512},
                                   "resources": {"trainers": 1}, "sweep": {"seeds": [0, 1, 2]}})
    if ray.is_initialized():
        ray.shutdown()
    store = Store()
    with ray_session():
        summary = run_experiment(experiment, store, progress=Progress())
    assert summary.completed == 3
    ids = [s.trial_id for s in expand_sweep(experiment)]
    assert events == [("started", ids[0]), ("started", ids[1]), ("stored", ids[0]),
                      ("started", ids[2]), ("stored", ids[1]), ("stored", ids[2])]
    assert store.read_trials("order").num_rows == 3
