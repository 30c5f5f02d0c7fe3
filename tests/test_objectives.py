"""training.loss and training.metrics as the config reads them (unit), and as the training
step computes them (tf): names, mappings and the user's functions; the columns they make;
every bad input one line. The values a trial reports are checked against numpy on the
trained model's own predictions, never against the code under test."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from orchestrator.config import (
    ConfigError,
    DatasetConfig,
    ModelConfig,
    OutputsConfig,
    ResourcesConfig,
    TrainingConfig,
    parse_experiment,
)
from orchestrator.trial import TrialSpec, trial_id_for

OBJECTIVES = '''
import keras


def logit_ce(y_true, logits):
    return keras.losses.sparse_categorical_crossentropy(y_true, logits, from_logits=True)


def top2(y_true, y_pred):
    return keras.metrics.sparse_top_k_categorical_accuracy(y_true, y_pred, k=2)
'''


def experiment(tmp_path: Path | None = None, **training):
    """The experiment with ``training``; relative function files are read from ``tmp_path``,
    as a file's are from its directory."""
    if tmp_path is not None:
        if ":" in str(training.get("loss", "")):
            training["loss"] = f"{tmp_path}/{training['loss']}"
        training["metrics"] = [f"{tmp_path}/{m}" if ":" in m else m for m in training.get("metrics", [])]
    return parse_experiment({"name": "t", "training": training})


# --- the config (unit) ------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("given, held", [
    ("mse", "mse"),
    ("huber", "huber"),
    ({"name": "sparse_categorical_crossentropy", "from_logits": True},
     {"name": "sparse_categorical_crossentropy", "from_logits": True}),
    ({"name": "mse"}, "mse"),  # a mapping without arguments is the name: one trial, one id
])
def test_a_loss_is_a_keras_name_or_a_mapping_with_its_arguments(given, held):
    assert experiment(loss=given).training.loss == held


@pytest.mark.unit
@pytest.mark.parametrize("training, message", [
    ({"loss": "mse2"}, "training.loss: unknown loss 'mse2'; did you mean 'mse'?"),
    ({"loss": {"from_logits": True}}, "a mapping needs name:"),
    ({"loss": {"name": "huber", "delta": [1]}}, "training.loss.delta: expected a scalar"),
    ({"loss": 3}, "training.loss: expected a Keras loss name"),
    ({"metrics": ["maee"]}, "unknown metric 'maee'; did you mean 'mae'?"),
    ({"metrics": ["accuracy"]}, "'accuracy' clashes with orch's own accuracy/val_accuracy columns"),
    ({"metrics": ["mae", "mae"]}, "'mae' is listed twice"),
    ({"metrics": ["m.py:val_x"]}, "starts with a split's prefix"),
    ({"early_stopping_monitor": "val_mae", "early_stopping_patience": 2}, "'val_mae' is not logged"),
    ({"class_weight": {0: -1}}, "training.class_weight.0: weight -1 must be a finite number >= 0"),
    ({"class_weight": {"cat": 2}}, "class 'cat' is not a class id"),
    ({"class_weight": "balance"}, "expected balanced, or a mapping of class to weight"),
    ({"precision": "float16"}, "training.precision: unknown value 'float16'; did you mean"),
])
def test_bad_loss_and_metrics_are_one_line(training, message):
    with pytest.raises(ConfigError) as error:
        experiment(**training)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.unit
def test_sweep_and_stopping_metrics_must_be_logged():
    with pytest.raises(ConfigError, match=r"sweep.metric: 'val_mae' is not logged"):
        parse_experiment({"name": "t", "sweep": {"metric": "val_mae"}})
    with pytest.raises(ConfigError, match=r"stopping.metric: 'val_mae' is not logged"):
        parse_experiment({"name": "t", "stopping": {"metric": "val_mae", "rungs": [1]}})
    ok = parse_experiment({"name": "t", "training": {"loss": "mse", "metrics": ["mae"]},
                           "sweep": {"metric": "test_mae", "goal": "min"}, "stopping": {"metric": "val_mae"}})
    assert (ok.sweep.metric, ok.stopping.metric) == ("test_mae", "val_mae")


@pytest.mark.unit
def test_a_missing_user_function_is_named_before_anything_runs(tmp_path):
    (tmp_path / "objectives.py").write_text(OBJECTIVES)
    with pytest.raises(ConfigError, match=r"training.metrics\[0\]: .*defines no function 'top3'; did you mean 'top2'\?"):
        experiment(tmp_path, metrics=["objectives.py:top3"])
    with pytest.raises(ConfigError, match=r"training.loss: .*nope.py: no such file"):
        experiment(tmp_path, loss="nope.py:f")


@pytest.mark.unit
def test_the_default_loss_keeps_every_stored_id_and_another_changes_it():
    base = trial_id_for(DatasetConfig(), ModelConfig(), TrainingConfig())
    # Written down before loss and metrics existed (the quickstart-like default trial).
    assert trial_id_for(DatasetConfig(), ModelConfig(), TrainingConfig(loss="sparse_categorical_crossentropy", metrics=[])) == base
    others = {trial_id_for(DatasetConfig(), ModelConfig(), TrainingConfig(**t)) for t in (
        {"loss": "mse"}, {"metrics": ["mae"]}, {"loss": {"name": "sparse_categorical_crossentropy", "from_logits": True}})}
    assert base not in others and len(others) == 3


@pytest.mark.unit
def test_a_user_loss_enters_the_id_as_its_code(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "objectives.py").write_text(OBJECTIVES)

    def trial_id(d):
        e = experiment(tmp_path / d, loss="objectives.py:logit_ce", metrics=["objectives.py:top2"])
        return trial_id_for(e.dataset, e.model, e.training)

    first = trial_id("a")
    assert trial_id("b") == first  # the same code elsewhere: the same trial
    (tmp_path / "b" / "objectives.py").write_text(OBJECTIVES.replace("k=2", "k=3"))
    assert trial_id("b") != first  # edited: a new trial


@pytest.mark.unit
def test_the_results_columns_of_a_loss_and_metrics():
    from orchestrator.store._schema import extra_columns

    spec = TrialSpec("s", "id", DatasetConfig(), ModelConfig(), TrainingConfig(loss="mse", metrics=["mae"]), ResourcesConfig())
    params = spec.params()
    assert (params["loss_function"], params["metrics"]) == ("mse", ["mae"])
    assert extra_columns(["test_mae", "val_mae", "train_mae", "test_accuracy", "train_seconds", "model_units"]) == [
        "test_mae", "val_mae", "train_mae", "model_units"]
    assert extra_columns(["mae", "val_mae", "loss", "epoch"], "epochs") == ["mae", "val_mae"]


@pytest.mark.unit
def test_goal_of_a_metric_column():
    from orchestrator.answers._query import higher_is_better

    assert [higher_is_better(c) for c in ("test_mae", "val_top2", "mean_test_mae", "test_accuracy", "total_seconds")] == [
        False, True, False, True, False]


# --- the training step (tf) ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def device(cpu_device):
    return cpu_device


def tabular(n_train=480, n_test=160, features=20, classes=3, regression=False):
    """Standardised float32 features (negatives included); 3 classes or a float target."""
    from trainers.datasets import DatasetArrays

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n_train + n_test, features)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((features, classes))
    y = (x[:, :3].sum(axis=1) * 0.7 + 0.1).astype(np.float32) if regression else (x @ w).argmax(axis=1).astype(np.uint8)
    cut = n_train - 80
    return DatasetArrays("loader", x[:cut], y[:cut], x[cut:n_train], y[cut:n_train], x[n_train:], y[n_train:],
                         num_classes=0 if regression else classes)


_QUIET = OutputsConfig(tensorboard=False, checkpoint_every=0)


def mlp_spec(tmp_path, training, outputs=_QUIET):
    (tmp_path / "mlp.py").write_text(
        "import keras\n\ndef mlp(params, input_shape, num_classes):\n"
        "    return keras.Sequential([keras.layers.Dense(16, activation='relu'), keras.layers.Dense(num_classes or 1)])\n")
    (tmp_path / "objectives.py").write_text(OBJECTIVES)
    training = {**training, "metrics": [f"{tmp_path}/{m}" if ":" in m else m for m in training.get("metrics", [])]}
    if isinstance(training.get("loss"), str) and ":" in training["loss"]:
        training["loss"] = f"{tmp_path}/{training['loss']}"
    e = parse_experiment({"name": "t", "model": {"builder": f"{tmp_path}/mlp.py:mlp"},
                          "training": {"epochs": 2, "batch_size": 32, "learning_rate": 0.01, **training}})
    return TrialSpec("t", trial_id_for(e.dataset, e.model, e.training), e.dataset, e.model, e.training,
                     ResourcesConfig(), outputs=outputs)


@pytest.mark.tf
def test_logits_user_loss_and_user_metric_on_a_float_table(tmp_path, device):
    from trainers import run_trial

    data = tabular()
    spec = mlp_spec(tmp_path, {"loss": "objectives.py:logit_ce", "metrics": ["objectives.py:top2", "sparse_categorical_crossentropy"]})
    spec = dataclasses.replace(spec, artifacts_root=str(tmp_path / "art"),
                               outputs=OutputsConfig(tensorboard=False, checkpoint_every=0, save_model=True))
    result = run_trial(spec, data, device)
    assert result.status.value == "completed"
    record = result.epochs[-1]
    assert set(record.metrics) == {"top2", "sparse_categorical_crossentropy", "val_top2", "val_sparse_categorical_crossentropy"}
    # Independent of orch's sums: the saved model's logits on the test split, through numpy.
    import keras

    (model_file,) = (tmp_path / "art").rglob("*.keras")
    model = keras.models.load_model(model_file, compile=False)
    logits = np.asarray(model(data.x_test, training=False))
    top2 = np.argsort(-logits, axis=1)[:, :2]
    assert result.test_metrics["top2"] == pytest.approx(np.mean([y in t for y, t in zip(data.y_test, top2)]), abs=1e-6)
    assert result.test_accuracy == pytest.approx(np.mean(logits.argmax(axis=1) == data.y_test), abs=1e-6)
    shifted = logits - logits.max(axis=1, keepdims=True)
    ce = -(shifted[np.arange(len(logits)), data.y_test] - np.log(np.exp(shifted).sum(axis=1)))
    assert result.test_loss == pytest.approx(ce.mean(), rel=1e-4)
    assert result.test_accuracy > 0.6  # it learned from logits (chance is 1/3)


@pytest.mark.tf
def test_a_regression_reports_its_metrics_and_no_accuracy(tmp_path, device):
    from trainers import run_trial

    data = tabular(regression=True)
    spec = dataclasses.replace(mlp_spec(tmp_path, {"loss": "mse", "metrics": ["mae"]}), artifacts_root=str(tmp_path / "a"),
                               outputs=OutputsConfig(tensorboard=False, checkpoint_every=0, save_model=True))
    result = run_trial(spec, data, device)
    assert result.test_accuracy is None and result.epochs[-1].val_accuracy is None
    import keras

    (model_file,) = (tmp_path / "a").rglob("*.keras")
    out = np.asarray(keras.models.load_model(model_file, compile=False)(data.x_test, training=False))[:, 0]
    assert result.test_metrics["mae"] == pytest.approx(np.abs(out - data.y_test).mean(), rel=1e-4)
    assert result.test_loss == pytest.approx(((out - data.y_test) ** 2).mean(), rel=1e-4)
    assert result.epochs[-1].metrics["val_mae"] < result.epochs[0].metrics["val_mae"]  # it learned


@pytest.mark.tf
def test_a_branch_with_its_own_metrics_fuses_with_one_without(tmp_path, device):
    from trainers import run_fused_trials, run_trial

    data = tabular()
    with_metrics = mlp_spec(tmp_path, {"loss": {"name": "sparse_categorical_crossentropy", "from_logits": True},
                                       "metrics": ["objectives.py:top2", "sparse_categorical_accuracy"]})
    without = mlp_spec(tmp_path, {"loss": {"name": "sparse_categorical_crossentropy", "from_logits": True}, "seed": 1})
    fused = run_fused_trials([with_metrics, without], data, device)
    alone = [run_trial(s, data, device) for s in (with_metrics, without)]
    for f, a in zip(fused, alone):
        assert (f.test_loss, f.test_accuracy, f.test_metrics) == (a.test_loss, a.test_accuracy, a.test_metrics)
        assert [e.metrics for e in f.epochs] == [e.metrics for e in a.epochs]
    assert fused[1].test_metrics == {}
    # Keras' sparse_categorical_accuracy on logits is the argmax accuracy orch logs.
    assert fused[0].test_metrics["sparse_categorical_accuracy"] == pytest.approx(fused[0].test_accuracy, abs=1e-6)


@pytest.mark.tf
def test_every_keras_name_orch_accepts_resolves_in_keras():
    import keras

    from orchestrator.config._objectives import (
        KERAS_LOSSES,
        KERAS_METRICS,
        LOSS_ALIASES,
    )

    for name in KERAS_LOSSES:
        assert callable(getattr(keras.losses, name)), name
    for name in KERAS_METRICS:
        assert callable(getattr(keras.metrics, name)), name
    for alias, full in LOSS_ALIASES.items():
        assert keras.losses.get(alias).__name__ == full


@pytest.mark.unit
def test_halving_on_a_metric_keeps_the_smaller_error_and_the_larger_score():
    from orchestrator.plan import SuccessiveHalving
    from orchestrator.trial import EpochRecord

    def record(**metrics):
        return EpochRecord(2, 1.0, None, 1.0, None, 1.0, metrics=metrics)

    errors = SuccessiveHalving(rungs=[2], keep=0.5, metric="val_mae")
    assert errors.report("a", record(val_mae=0.3)).go_on
    assert not errors.report("b", record(val_mae=0.5)).go_on  # larger error: out
    assert errors.report("c", record(val_mae=0.1)).go_on
    scores = SuccessiveHalving(rungs=[2], keep=0.5, metric="val_top2")
    assert scores.report("a", record(val_top2=0.8)).go_on
    assert not scores.report("b", record(val_top2=0.6)).go_on  # smaller score: out
    assert not scores.report("c", record()).go_on  # not logged: cannot go on


# --- class weights and precision (tf) -------------------------------------------------------------


@pytest.mark.tf
def test_balanced_class_weights_are_n_over_classes_times_count():
    from trainers.objectives import class_weight_vector

    assert class_weight_vector("balanced", [0, 0, 0, 1, 2, 2], 3) == pytest.approx([6 / 9, 6 / 3, 6 / 6])
    assert class_weight_vector({2: 5.0}, [0, 1, 2], 3) == [1.0, 1.0, 5.0]
    assert class_weight_vector(None, [0, 1], 2) is None


@pytest.mark.tf
def test_class_weights_weigh_the_training_loss_and_nothing_else(tmp_path, device):
    """Every class weighing 2 with half the SGD learning rate is the same descent: the same
    weights, so the same validation and test figures, and a training loss twice as large."""
    from trainers import run_trial

    data = tabular()
    base = {"optimizer": "sgd", "learning_rate": 0.05, "loss": {"name": "sparse_categorical_crossentropy", "from_logits": True}}
    plain = run_trial(mlp_spec(tmp_path, base), data, device)
    doubled = run_trial(mlp_spec(tmp_path, {**base, "learning_rate": 0.025, "class_weight": {0: 2, 1: 2, 2: 2}}), data, device)
    assert (doubled.test_loss, doubled.test_accuracy) == (plain.test_loss, plain.test_accuracy)
    assert [e.val_loss for e in doubled.epochs] == [e.val_loss for e in plain.epochs]
    assert [e.loss for e in doubled.epochs] == pytest.approx([2 * e.loss for e in plain.epochs], rel=1e-6)
    uneven = run_trial(mlp_spec(tmp_path, {**base, "class_weight": {0: 5}}), data, device)
    assert uneven.test_loss != plain.test_loss


@pytest.mark.tf
def test_mixed_precision_branches_keep_their_own_policy(tmp_path, device):
    from trainers import run_fused_trials, run_trial

    data = tabular()
    full = mlp_spec(tmp_path, {"loss": {"name": "sparse_categorical_crossentropy", "from_logits": True}})
    half = mlp_spec(tmp_path, {"loss": {"name": "sparse_categorical_crossentropy", "from_logits": True},
                               "precision": "mixed_bfloat16"})
    scaled = mlp_spec(tmp_path, {"loss": {"name": "sparse_categorical_crossentropy", "from_logits": True},
                                 "precision": "mixed_float16"})
    assert len({full.trial_id, half.trial_id, scaled.trial_id}) == 3  # the policy is part of the id
    fused = run_fused_trials([full, half], data, device)
    alone = run_trial(full, data, device)
    assert (fused[0].test_loss, fused[0].test_accuracy) == (alone.test_loss, alone.test_accuracy)
    assert fused[1].test_loss != alone.test_loss and fused[1].test_accuracy > 0.5  # bfloat16 learns, differently
    loss_scaled = run_trial(scaled, data, device)  # a LossScaleOptimizer under float16
    assert np.isfinite(loss_scaled.test_loss) and loss_scaled.test_accuracy > 0.5
    import keras

    assert keras.mixed_precision.dtype_policy().name == "float32"  # restored for whatever comes next


# --- the loader's params as a sweep axis (unit) ---------------------------------------------------

LOADER = '''
import numpy as np


def load(noise=0.1, n=60):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x.sum(axis=1) + noise * rng.standard_normal(n)).astype(np.float32)
    return {"x_train": x[:40], "y_train": y[:40], "x_test": x[40:], "y_test": y[40:]}
'''


@pytest.mark.unit
def test_a_loader_param_is_a_sweep_axis_with_a_column_of_its_own(tmp_path):
    from orchestrator.plan import expand_sweep

    (tmp_path / "data.py").write_text(LOADER)
    e = parse_experiment({"name": "t", "dataset": {"name": "loader", "loader": f"{tmp_path}/data.py:load"},
                          "sweep": {"grid": {"dataset.params.noise": [0.1, 1.0]}}})
    specs = expand_sweep(e)
    assert [s.dataset.params for s in specs] == [{"noise": 0.1}, {"noise": 1.0}]
    assert len({s.trial_id for s in specs}) == 2
    params = [s.params() for s in specs]
    assert [p["dataset_noise"] for p in params] == [0.1, 1.0]
    digests = [p["data_digest"] for p in params]
    assert len(set(digests)) == 2 and all(len(d) == 16 for d in digests)  # the data differ: so do their digests
    builtin = expand_sweep(parse_experiment({"name": "t"}))[0].params()
    assert builtin["data_digest"] is None


@pytest.mark.unit
def test_a_loader_param_the_loader_does_not_take_is_refused_with_a_did_you_mean(tmp_path):
    from trainers.datasets import DatasetError, load_dataset

    (tmp_path / "data.py").write_text(LOADER)
    config = DatasetConfig(name="loader", loader=f"{tmp_path}/data.py:load", params={"nosie": 0.3})
    with pytest.raises(DatasetError, match=r"dataset.params.nosie: the loader takes no argument 'nosie'; did you mean 'noise'\?"):
        load_dataset(config)
    data = load_dataset(dataclasses.replace(config, params={"noise": 0.3}))
    assert (data.num_classes, data.classification, data.x_train.dtype) == (0, False, np.float32)


def _halved_mse(y_true, y_pred):
    import keras

    return 0.5 * keras.losses.mean_squared_error(y_true, y_pred)


def _abs_error(y_true, y_pred):
    import keras

    return keras.ops.abs(keras.ops.reshape(y_true, [-1]) - keras.ops.reshape(y_pred, [-1]))


@pytest.mark.unit
def test_function_objects_from_python_are_hashed_by_source_and_stored_as_labels():
    import yaml

    e = parse_experiment({"name": "t", "training": {"loss": _halved_mse, "metrics": [_abs_error, "mae"]}})
    written = yaml.safe_load(yaml.safe_dump(e.to_dict()))["training"]
    assert written["loss"].endswith(":_halved_mse") and written["metrics"][0].endswith(":_abs_error")
    assert written["metrics"][1] == "mae"
    one = trial_id_for(e.dataset, e.model, e.training)
    other = parse_experiment({"name": "t", "training": {"loss": _abs_error, "metrics": [_abs_error, "mae"]}})
    assert trial_id_for(other.dataset, other.model, other.training) != one


@pytest.mark.tf
def test_function_objects_train_as_files_do(tmp_path, device):
    from trainers import run_trial

    data = tabular(regression=True)
    spec = mlp_spec(tmp_path, {"metrics": ["mse"]})
    spec = dataclasses.replace(spec, training=dataclasses.replace(spec.training, loss=_halved_mse, metrics=["mse", _abs_error]))
    result = run_trial(spec, data, device)
    # Keras' mse (a metric) is twice the halved loss on the test split, whatever was learned.
    assert result.test_loss == pytest.approx(result.test_metrics["mse"] / 2, rel=1e-5)
    assert set(result.test_metrics) == {"mse", "_abs_error"}


# --- the metrics' columns in the store and the answers (unit) -------------------------------------

REGRESSION = {"name": "reg", "training": {"epochs": 3, "loss": "mse", "metrics": ["mae"]},
              "sweep": {"grid": {"training.learning_rate": [0.001, 0.01, 0.1]}, "metric": "val_mae", "goal": "min"}}


def _regression_result(spec, index):
    from datetime import datetime, timedelta, timezone

    from orchestrator.trial import EpochRecord, TrialResult, TrialStatus

    level = [0.9, 0.3, 0.6][index]  # the middle learning rate is best
    records = [EpochRecord(e, level / e, None, level / e + 0.1, None, 1.0, metrics={"mae": level / e, "val_mae": level / e + 0.05})
               for e in (1, 2, 3)]
    start = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=index)
    return TrialResult(trial_id=spec.trial_id, status=TrialStatus.COMPLETED, started_at=start, ended_at=start + timedelta(seconds=5),
                       epochs=records, test_loss=level / 3, test_accuracy=None, test_metrics={"mae": level / 3 + 0.01},
                       train_seconds=3.0, total_seconds=4.0)


@pytest.mark.unit
def test_a_regression_in_the_store_results_and_report(tmp_path):
    from orchestrator.answers import build_report, results_table
    from orchestrator.answers._where import Where
    from orchestrator.plan import expand_sweep
    from orchestrator.store import ParquetResultsStore

    store = ParquetResultsStore(str(tmp_path / "store"))
    e = parse_experiment(REGRESSION)
    store.save_config(e)
    specs = expand_sweep(e)
    store.append_many([(s, _regression_result(s, i)) for i, s in enumerate(specs)])

    trials = store.read_trials("reg").to_pylist()
    assert sorted(round(t["test_mae"], 3) for t in trials) == [0.11, 0.21, 0.31]
    assert {round(t["val_mae"], 3) for t in trials} == {0.35, 0.15, 0.25}  # the last epoch's
    epochs = store.read_epochs("reg", columns=["trial_id", "epoch", "mae", "val_mae"]).to_pylist()
    assert len(epochs) == 9 and all(r["val_mae"] == pytest.approx(r["mae"] + 0.05) for r in epochs)

    table = results_table(store, Where(sweeps=("reg",)))
    assert "test_accuracy" not in table.column_names and table["learning_rate"].to_pylist()[0] == 0.01  # smallest mae first
    from orchestrator.answers._report_data import gather_report

    data = gather_report(store, ["reg"])
    assert (data.metric, data.goal, data.curve_metric) == ("val_mae", "min", "val_mae")
    assert [c["mean"][-1] for c in data.curves] == pytest.approx([0.15, 0.25, 0.35])  # one curve per config, best first
    assert build_report(store, ["reg"]).html  # the page is drawn


@pytest.mark.tf
def test_a_regression_resumes_with_its_metrics_logs_them_to_tensorboard_and_stops_early_on_them(tmp_path, device):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from trainers import run_trial
    from trainers.artifacts import TrialArtifacts
    from trainers.trial_model import compiled_model

    data = tabular(regression=True)
    outputs = OutputsConfig(checkpoint_every=1, tensorboard=True)
    spec = dataclasses.replace(mlp_spec(tmp_path, {"loss": "mse", "metrics": ["mae"], "epochs": 3}, outputs=outputs),
                               artifacts_root=str(tmp_path / "art"))
    first = run_trial(dataclasses.replace(spec, training=dataclasses.replace(spec.training, epochs=2)), data, device)
    TrialArtifacts(spec).save_checkpoint(compiled_model(spec, data, 10, 1), first.epochs)  # a run that died after epoch 2
    resumed = run_trial(spec, data, device)
    assert resumed.resumed_epochs == 2 and resumed.epochs[:2] == first.epochs  # metrics came back from the checkpoint
    assert set(resumed.epochs[2].metrics) == {"mae", "val_mae"}
    test_run = next((tmp_path / "art" / "tensorboard").rglob("test"))
    acc = EventAccumulator(str(test_run))
    acc.Reload()
    tags = set(acc.Tags().get("tensors", [])) | set(acc.Tags().get("scalars", []))
    assert {"test_mae", "test_loss"} <= tags and "test_accuracy" not in tags

    # Early stopping on val_mae: a learning rate so large that it gets worse at once stops after patience.
    bad = mlp_spec(tmp_path, {"loss": "mse", "metrics": ["mae"], "epochs": 8, "learning_rate": 5.0,
                              "early_stopping_patience": 1, "early_stopping_monitor": "val_mae"})
    stopped = run_trial(bad, data, device)
    maes = [e.metrics["val_mae"] for e in stopped.epochs]
    best = int(np.argmin(maes))
    assert len(stopped.epochs) == best + 2  # one epoch of patience after the best, then it stopped


@pytest.mark.tf
def test_binary_classification_with_one_sigmoid_output(tmp_path, device):
    from trainers import run_trial

    data = tabular(classes=2)
    (tmp_path / "sig.py").write_text("import keras\n\ndef b(params, input_shape, num_classes):\n"
                                     "    return keras.Sequential([keras.layers.Dense(8, activation='relu'),"
                                     " keras.layers.Dense(1, activation='sigmoid')])\n")
    e = parse_experiment({"name": "t", "model": {"builder": f"{tmp_path}/sig.py:b"},
                          "training": {"epochs": 3, "batch_size": 32, "learning_rate": 0.01, "loss": "binary_crossentropy",
                                       "metrics": ["binary_accuracy"]}})
    spec = TrialSpec("t", trial_id_for(e.dataset, e.model, e.training), e.dataset, e.model, e.training, ResourcesConfig(),
                     outputs=_QUIET)
    result = run_trial(spec, data, device)
    # orch's accuracy (above 0.5 is class 1) is Keras' binary_accuracy.
    assert result.test_accuracy == pytest.approx(result.test_metrics["binary_accuracy"], abs=1e-6)
    assert result.test_accuracy > 0.7
