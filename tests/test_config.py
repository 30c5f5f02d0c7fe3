from __future__ import annotations

import pytest

from orchestrator.config import ConfigError, load_experiment, parse_override

pytestmark = pytest.mark.unit


def write(tmp_path, text: str):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_defaults_and_name_from_file_stem(tmp_path):
    e = load_experiment(write(tmp_path, "training:\n  epochs: 3\n"))
    assert e.name == "exp"
    assert e.training.epochs == 3
    assert e.model.name == "lenet5"


def test_scientific_notation_reads_as_float(tmp_path):
    e = load_experiment(write(tmp_path, "training:\n  learning_rate: 1e-4\n"))
    assert e.training.learning_rate == pytest.approx(1e-4)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("trainig:\n  epochs: 1\n", "did you mean 'training'"),
        ("training:\n  epoch: 1\n", "did you mean 'epochs'"),
        ("training:\n  epochs: one\n", "training.epochs: expected int, got str"),
        ("training:\n  epochs: true\n", "expected int, got bool"),
        ("training:\n  optimizer: adamw\n", "did you mean 'adam'"),
        ("model:\n  activation: gelu\n", "choose one of sigmoid, relu, tanh"),
        ("training:\n  epochs: 0\n", "training.epochs: must be >= 1"),
        ("training:\n  optimizer: adam\n  momentum: 0.9\n", "adam has no momentum"),
        ("training:\n  nesterov: true\n", "nesterov: needs optimizer: sgd"),
        ("sweep:\n  grid:\n    training.learnin_rate: [0.1]\n", "did you mean 'training.learning_rate'"),
        ("sweep:\n  grid:\n    training.batch_size: []\n", "non-empty list"),
        ("sweep:\n  grid:\n    training.batch_size: [64, x]\n", "sweep.grid.training.batch_size: expected int"),
        ("sweep:\n  grid:\n    training.epochs: [1, 0]\n", "sweep point {'training.epochs': 0}"),
        ("sweep:\n  seeds: [1, 1]\n", "seeds repeat"),
        ("sweep:\n  grid:\n    resources.replicas: [1, 2]\n", "set it once under resources:"),
        ("sweep:\n  grid:\n    outputs.save_model: [true, false]\n", "set it once under outputs:"),
        ("model:\n  name: lenet5\n  filters: [6, 16]\n", "'lenet5' has no such parameter; it takes: bias_init, dropout"),
        ("model:\n  name: one_conv\n  filters: [0]\n", "model.filters: every entry must be >= 1"),
        ("model:\n  name: one_conv\n  filters: 32\n", "expected a non-empty list of int"),
        ("model:\n  dropout: 1.0\n", "the fraction dropped"),
        ("model:\n  name: lenet5_avgpool\n  hidden_units: [120]\n", "lenet5_avgpool needs 2 entries, got [120]; e.g. hidden_units: [120, 84]"),
        ("training:\n  lr_schedule: step\n  staircase: true\n", "step decay is per epoch"),
        ("training:\n  l2: -1\n", "training.l2: must be >= 0"),
        ("dataset:\n  allow_pickle: true\n", "only notmnist reads a pickle"),
        ("dataset:\n  name: mnist\n  test: 0.2\n", "dataset.test: mnist has its own test split"),
        ("outputs:\n  checkpoint_every: -1\n", "outputs.checkpoint_every"),
        ("resources:\n  replicas: 3\ntraining:\n  batch_size: 128\n", "does not split evenly"),
        ("dataset:\n  validation: 1.5\n", "dataset.validation"),
        ("training:\n  augment_shift: 0.5\n", "training.augment_shift: a fraction of the image size"),
        ("stopping:\n  keep: 1.5\n", "stopping.keep: the fraction of trials going on"),
        ("stopping:\n  rungs: [5, 2]\n", "stopping.rungs: epochs in increasing order"),
        ("stopping:\n  chance_after: 0\n", "stopping.chance_after"),
        ("stopping:\n  rung: [2]\n", "did you mean 'rungs'"),
        ("sweep:\n  grid:\n    stopping.keep: [0.5, 0.3]\n", "set it once under stopping:"),
        ("resources:\n  replicas: 2\n  trainers_per_gpu: 2\n", "packing shares one GPU between trainers; it needs replicas: 1"),
        ("resources:\n  max_consecutive_failures: 0\n", "resources.max_consecutive_failures"),
        ("- a\n- b\n", "expected a mapping of sections"),
        ("training: [1\n", "not valid YAML"),
        ("name: 'has space'\n", "name: expected"),
    ],
)
def test_bad_files_are_rejected_with_the_key_and_a_fix(tmp_path, text, fragment):
    with pytest.raises(ConfigError) as info:
        load_experiment(write(tmp_path, text))
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such experiment file"):
        load_experiment(tmp_path / "nope.yaml")


def test_overrides_follow_yaml_paths_and_are_validated(tmp_path):
    path = write(tmp_path, "name: base\ntraining:\n  epochs: 5\n")
    e = load_experiment(path, overrides=["training.epochs=1", "dataset.data_dir=/data"], name="other")
    assert (e.training.epochs, e.dataset.data_dir, e.name) == (1, "/data", "other")
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        load_experiment(path, overrides=["training.epoch=1"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_experiment(path, overrides=["training.epochs"])
    with pytest.raises(ConfigError, match="training.epochs is not a section"):
        load_experiment(path, overrides=["training.epochs.x=1"])


def test_override_values_parse_as_yaml():
    assert parse_override("training.learning_rate=1e-3") == ("training.learning_rate", 1e-3)
    assert parse_override("sweep.seeds=[0, 1]") == ("sweep.seeds", [0, 1])


def test_shipped_configs_load():
    from tests.conftest import REPO

    paths = sorted((REPO / "configs").glob("*.yaml"))
    assert {p.name for p in paths} >= {"quickstart.yaml", "lenet5-grid.yaml"}
    for path in paths:
        load_experiment(path)
