"""Nothing is written under the store before every check has passed: a refused run leaves a
fresh store path non-existent and an existing store byte-identical (orchestrator/driver/_runner.py
runs RayExecutor.prepare before the first write)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import parse_experiment
from orchestrator.errors import InputError
from orchestrator.progress import SweepProgress
from orchestrator.store import ParquetResultsStore
from tests.conftest import finished, grid_specs


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root``: files with their bytes, directories as None."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.fixture
def existing_store(tmp_path) -> Path:
    root = tmp_path / "existing"
    store = ParquetResultsStore(str(root))
    for spec in grid_specs(seeds=[0, 1]):
        store.append(spec, finished(spec))
    return root


@pytest.mark.unit
def test_a_store_opened_and_read_on_a_fresh_path_creates_nothing(tmp_path):
    root = tmp_path / "fresh"
    store = ParquetResultsStore(str(root))
    assert store.read_trials().num_rows == 0 and store.read_epochs("x").num_rows == 0
    assert store.finished_trial_ids("x") == set() and store.sweeps() == []
    store.compact()
    assert store.artifacts_root == str(root)
    assert not root.exists()


class _Notes(SweepProgress):
    note_after_seconds = 0  # every step noted, however quick

    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(text)


def _run(experiment: dict, root: Path, progress: SweepProgress | None = None) -> None:
    pytest.importorskip("ray")
    from orchestrator.driver import run_experiment

    run_experiment(parse_experiment(experiment), ParquetResultsStore(str(root)), progress=progress)


@pytest.fixture
def two_cpu_ray():
    pytest.importorskip("ray")
    from tests.conftest import private_ray

    with private_ray(2):
        yield


BAD_DATA = {"name": "baddata", "dataset": {"name": "mnist", "data_dir": "/nonexistent/orch-test-data"}}
UNFIT = {"name": "unfit", "resources": {"cpus_per_trainer": 3}}


@pytest.mark.ray
@pytest.mark.parametrize("experiment, message", [(BAD_DATA, "dataset 'mnist'"), (UNFIT, "cpus_per_trainer=3")])
def test_a_refused_run_leaves_the_store_as_it_was(experiment, message, two_cpu_ray, existing_store, tmp_path,
                                                 monkeypatch):
    monkeypatch.setenv("ORCH_MNIST_URL", "http://127.0.0.1:9/")  # nothing listens there: no download
    monkeypatch.setenv("ORCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ORCH_DATA_DIR", raising=False)
    before = snapshot(existing_store)
    with pytest.raises(InputError, match=message):
        _run(experiment, existing_store)
    assert snapshot(existing_store) == before
    fresh = tmp_path / "fresh"
    progress = _Notes()
    with pytest.raises(InputError, match=message):
        _run(experiment, fresh, progress)
    assert not fresh.exists()
    # And the user saw what it was doing before each slow step.
    assert progress.notes[:2] == [f"planning sweep {experiment['name']}...", "starting Ray..."]
    if experiment is BAD_DATA:
        assert progress.notes[2].startswith("starting 1 trainer (TensorFlow")
