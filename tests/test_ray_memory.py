"""A trainer's memory over many trials on a real local Ray (issue 23): one trainer's resident
memory stays flat over ~60 tiny trials, and trainers replaced between trials (a tiny
``resources.trials_per_trainer``) lose and repeat nothing, with one log line each."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray")

from orchestrator.config import parse_experiment  # noqa: E402
from orchestrator.driver import run_experiment  # noqa: E402
from orchestrator.progress import SweepProgress  # noqa: E402
from orchestrator.store import ParquetResultsStore  # noqa: E402
from tests.test_ray_sweep import _trainer_pids  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.skipif(not Path("/proc").exists(), reason="reads RSS from /proc (Linux)")]

BUILDER = '''import keras


def build(params, input_shape, num_classes):
    return keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(4, activation="relu"),
                             keras.layers.Dense(num_classes, activation="softmax")])
'''

# Before issue 23 a trainer grew ~1.2 MiB a tiny trial in this setting (116 MiB per 100 trials,
# benchmarks/trainer_memory.py; the issue measured ~115 MiB over 50): every trial's traced step
# stayed alive. Measured after: 805.6 -> 806.3 MiB between trials 10 and 60.
GROWTH_BOUND_MIB = 40


@pytest.fixture(scope="module")
def local_ray():
    from tests.conftest import private_ray

    with private_ray(2):
        yield


def _experiment(tmp_path: Path, name: str, trials: int, **resources: object) -> object:
    """``trials`` one-epoch trials of a 4-unit model on 200 8x8 images (default outputs:
    TensorBoard writers and checkpoints included), one trainer."""
    rng = np.random.default_rng(0)
    y = np.arange(200) % 4
    x = (rng.integers(0, 40, (200, 8, 8, 1)) + (y * 60)[:, None, None, None]).astype(np.uint8)
    np.savez(tmp_path / "data.npz", x_train=x[:160], y_train=y[:160], x_test=x[160:], y_test=y[160:])
    (tmp_path / "tiny.py").write_text(BUILDER)
    return parse_experiment({
        "name": name,
        "dataset": {"name": "npz", "path": str(tmp_path / "data.npz"), "validation": 0.2},
        "model": {"builder": f"{tmp_path / 'tiny.py'}:build"},
        "training": {"epochs": 1, "batch_size": 32},
        "resources": {"trainers": 1, **resources},
        "sweep": {"seeds": list(range(trials))},
    })


class _Watch(SweepProgress):
    """Replacement notes, and the trainer's RSS (MiB) each time a trial is stored."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.rss: list[float] = []

    def note(self, text: str) -> None:
        if text.startswith("trainer replaced"):  # not the start-up steps' lines
            self.notes.append(text)

    def trial_finished(self, spec, result, retrying: bool) -> None:
        pids = _trainer_pids(busy=False)
        self.rss.append(sum(_rss_mib(pid) for pid in pids))


def _rss_mib(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0


def test_one_trainer_stays_flat_over_60_tiny_trials(local_ray, tmp_path: Path) -> None:
    store = ParquetResultsStore(str(tmp_path / "store"))
    watch = _Watch()
    summary = run_experiment(_experiment(tmp_path, "flat", 60), store, progress=watch)
    assert summary.completed == 60 and watch.notes == []  # no replacement at default settings
    # Means over five trials each, sampled while the trainer runs its next trial.
    early, late = np.mean(watch.rss[8:13]), np.mean(watch.rss[55:60])
    print(f"trainer RSS around trial 10: {early:.1f} MiB, around trial 60: {late:.1f} MiB")  # shown with -s
    assert late - early < GROWTH_BOUND_MIB, f"trainer RSS {early:.0f} -> {late:.0f} MiB between trials 10 and 60"


def test_trainers_replaced_between_trials_lose_and_repeat_nothing(local_ray, tmp_path: Path) -> None:
    store = ParquetResultsStore(str(tmp_path / "store"))
    watch = _Watch()
    summary = run_experiment(_experiment(tmp_path, "renew", 8, trials_per_trainer=3), store, progress=watch)
    rows = store.read_trials("renew").to_pylist()
    assert (summary.completed, summary.failed, summary.retries) == (8, 0, 0)
    assert len(rows) == 8 and len({r["trial_id"] for r in rows}) == 8  # each trial stored exactly once
    assert {r["status"] for r in rows} == {"completed"} and {r["attempts"] for r in rows} == {1}
    # After trials 3 and 6; not after the last: nothing was left to run.
    assert watch.notes == ["trainer replaced by a fresh one: it ran 3 trials (resources.trials_per_trainer: 3)"] * 2
