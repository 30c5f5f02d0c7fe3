"""Your own loss, metrics and data through `orch run` on a real local Ray (issue 16's
"done when"): a float table with logits, a user loss and a user top2 metric; a regression
searched on val_mae; and the bad cases that only the data can tell, refused in one line
(exit 2) before any trial, nothing stored."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from orchestrator.cli import main
from orchestrator.store import ParquetResultsStore
from tests.conftest import REPO

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def local_ray():
    from tests.conftest import private_ray

    with private_ray(2):
        yield


@pytest.fixture
def example(tmp_path) -> Path:
    folder = tmp_path / "tabular"
    shutil.copytree(REPO / "examples" / "tabular", folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def _json(capsys, sweep: str, store: Path) -> list[dict]:
    capsys.readouterr()
    assert main(["results", sweep, "--store", str(store), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_float_table_with_logits_a_user_loss_and_a_user_metric(local_ray, example, tmp_path, capsys):
    store = tmp_path / "store"
    assert main(["run", str(example / "classify.yaml"), "--store", str(store), "--set", "training.epochs=3"]) == 0
    rows = _json(capsys, "tabular-classify", store)
    assert len(rows) == 4
    for row in rows:
        # top2 is at least the accuracy (the best class is among the two best) and at most 1.
        assert row["test_accuracy"] - 1e-9 <= row["test_top2"] <= 1.0
        assert row["test_accuracy"] > 0.6  # learned from logits through the user's loss (chance: 1/3)
    stored = ParquetResultsStore(str(store)).read_trials("tabular-classify").to_pylist()
    assert {r["loss_function"] for r in stored} == {"objectives.py:smoothed_logit_ce"}
    epochs = ParquetResultsStore(str(store)).read_epochs("tabular-classify").to_pylist()
    assert len(epochs) == 12 and all(0 < e["val_top2"] <= 1 for e in epochs)


def test_a_regression_searched_on_val_mae(local_ray, example, tmp_path, capsys):
    store = tmp_path / "store"
    argv = ["run", str(example / "regress.yaml"), "--store", str(store), "--set", "training.epochs=3",
            "--set", "sweep.samples=3"]
    assert main(argv) == 0
    rows = _json(capsys, "tabular-regress", store)
    assert len(rows) == 3
    assert [r["test_mae"] for r in rows] == sorted(r["test_mae"] for r in rows)  # best (smallest) first
    assert all("test_accuracy" not in r for r in rows)  # a regression shows its metrics, not empty accuracies
    assert all(0 < r["val_mae"] < 1.5 for r in rows)  # the targets' spread is ~1.3: it learned


@pytest.mark.parametrize(("settings", "message"), [
    (["--set", "training.loss=mse"], "training.loss: mse compares values, but the labels are integer class ids"),
    (["--set", "training.loss=sparse_categorical_crossentropy"], "the model's outputs are not probabilities"),
    (["--set", "training.metrics=[mae]"], "training.metrics mae: compares targets shaped like the output (3 values"),
    (["--set", "training.class_weight={7: 2.0}"], "training.class_weight: class 7 does not exist; the labels are classes 0..2"),
], ids=["regression-loss-on-classes", "logits-without-from_logits", "metric-unfit-for-outputs", "class-weight-no-such-class"])
def test_what_only_the_data_can_tell_is_refused_before_any_trial(local_ray, example, tmp_path, capsys, settings, message):
    store = tmp_path / "store"
    assert main(["run", str(example / "classify.yaml"), "--store", str(store), *settings]) == 2
    (line,) = [t for t in capsys.readouterr().err.strip().splitlines() if not t.startswith("[orch ")]
    assert message in line, line
    assert not store.exists() or ParquetResultsStore(str(store)).read_trials().num_rows == 0


def test_float_targets_given_a_classification_loss_or_class_weights_are_refused(local_ray, example, tmp_path, capsys):
    store = tmp_path / "store"
    assert main(["run", str(example / "regress.yaml"), "--store", str(store),
                 "--set", "training.loss=sparse_categorical_crossentropy", "--set", "sweep.metric=val_loss"]) == 2
    assert "takes integer class ids, but the labels are float targets" in capsys.readouterr().err
    assert main(["run", str(example / "regress.yaml"), "--store", str(store), "--set", "training.class_weight=balanced"]) == 2
    assert "training.class_weight: balanced needs classes, but the labels are float targets" in capsys.readouterr().err
    assert not store.exists() or ParquetResultsStore(str(store)).read_trials().num_rows == 0
