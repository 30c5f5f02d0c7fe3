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
        ("training:\n  epochs: 0\n", "training.epochs: must be in [1, 100000], got 0"),
        ("training:\n  optimizer: adam\n  momentum: 0.9\n", "adam has no momentum"),
        ("training:\n  nesterov: true\n", "nesterov: needs optimizer: sgd"),
        ("sweep:\n  grid:\n    training.learnin_rate: [0.1]\n", "did you mean 'training.learning_rate'"),
        ("sweep:\n  grid:\n    training.batch_size: []\n", "non-empty list"),
        ("sweep:\n  grid:\n    training.batch_size: [64, x]\n", "sweep.grid.training.batch_size: expected int"),
        ("sweep:\n  grid:\n    training.epochs: [1, 0]\n", "sweep.grid.training.epochs: must be in [1, 100000], got 0"),
        ("sweep:\n  seeds: [1, 1]\n", "seeds repeat"),
        ("sweep:\n  grid:\n    resources.replicas: [1, 2]\n", "set it once under resources:"),
        ("sweep:\n  grid:\n    outputs.save_model: [true, false]\n", "set it once under outputs:"),
        ("model:\n  name: lenet5\n  filters: [6, 16]\n", "'lenet5' has no such parameter; it takes: bias_init, dropout"),
        ("model:\n  name: one_conv\n  filters: [0]\n", "model.filters[0]: must be in [1, 65536], got 0"),
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
        ("name: 'has space'\ntraining: {epochs: 1}\n", "name: expected"),
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


# --- every value a field can take is declared in the schema (issue 11, class 1) -------------

def test_every_numeric_field_declares_its_range():
    """One place covers every field: a number without a declared range would let values no
    experiment can mean (negative epochs, a zero divisor) through to a trainer."""
    import dataclasses
    import typing

    from orchestrator.config import SECTIONS
    from orchestrator.config._fields import field_range

    missing = []
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            hint = typing.get_type_hints(cls)[f.name]
            # Literal choices (precision: "float32", ...) are names, not numbers.
            text = str(hint) if typing.get_origin(hint) is not typing.Literal else ""
            if ("int" in text or "float" in text) and field_range(f) is None:
                missing.append(f"{section}.{f.name}")
    assert missing == []


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("training:\n  learning_rate: .inf\n", "training.learning_rate: expected a finite number, got inf"),
        ("training:\n  learning_rate: .nan\n", "expected a finite number, got nan"),
        ("model:\n  bias_init: -.inf\n", "model.bias_init: expected a finite number"),
        ("sweep:\n  grid:\n    training.learning_rate: [0.1, .inf]\n", "sweep.grid.training.learning_rate: expected a finite number"),
        ("training:\n  epochs: 1000000000000000000000000000000\n", "too large to store"),
        ("training:\n  learning_rate: 1e400\n", "expected a finite number"),
        ("training:\n  seed: -1\n", "training.seed: must be in [0, 4294967295], got -1"),
        ("sweep:\n  seeds: []\n", "sweep.seeds: the list is empty"),
        ("sweep:\n  seeds: [0, -3]\n", "sweep.seeds[1]: each seed, must be in [0, 4294967295]"),
        ("sweep:\n  seeds: 3\n", "sweep.seeds: expected a non-empty list of int"),
        ("resources:\n  trainers_per_gpu: 0\ntraining: {}\n", "resources.trainers_per_gpu: must be in [1, 64], got 0"),
        ("resources:\n  replicas: 0\ntraining: {}\n", "resources.replicas: must be in [1, 1024], got 0"),
        ("resources:\n  cpus_per_trainer: 0\ntraining: {}\n", "resources.cpus_per_trainer"),
        ("resources:\n  gpu_memory_mb: 0\ntraining: {}\n", "or null (memory growth)"),
        ("dataset:\n  data_dir: ''\n", "dataset.data_dir: expected text, got an empty string"),
        ("training:\n  optimizer: [adam]\n", "training.optimizer: unknown value ['adam']"),
        ("training:\n  batch_size: 128.0\n", "training.batch_size: expected int, got float"),
        ("", "has no experiment in it"),
        ("# only a comment\n", "has no experiment in it"),
        ("{}\n", "has no experiment in it"),
        ("name: x\ndescription: nothing else\n", "no experiment in it (only name, description)"),
        ("sweep:\n  max_trials: 0\n", "sweep.max_trials: the most trials a sweep may plan, must be >= 1"),
    ],
)
def test_values_no_experiment_can_mean_are_refused(tmp_path, text, fragment):
    with pytest.raises(ConfigError) as info:
        load_experiment(write(tmp_path, text))
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("item, fragment", [
    ("training.learning_rate=.inf", "expected a finite number"),
    ("training.epochs=-2", "training.epochs: must be in [1, 100000], got -2"),
    ("sweep.seeds=[]", "sweep.seeds: the list is empty"),
    ("resources.trainers_per_gpu=0", "resources.trainers_per_gpu"),
    (".epochs=1", "expected KEY=VALUE with a dotted key"),
    ("training..epochs=1", "expected KEY=VALUE with a dotted key"),
])
def test_overrides_go_through_the_same_ranges(tmp_path, item, fragment):
    path = write(tmp_path, "training:\n  epochs: 2\n")
    with pytest.raises(ConfigError, match=None) as info:
        load_experiment(path, overrides=[item])
    assert fragment in str(info.value)


# --- a sweep too large to mean is refused before it is planned (issue 11, class 4) ----------

def test_a_grid_over_the_limit_is_refused_with_its_count_and_the_fix(tmp_path):
    axes = "\n".join(f"    {path}: [{', '.join(str(v) for v in values)}]" for path, values in {
        "training.learning_rate": [round(0.001 * (i + 1), 6) for i in range(100)],
        "training.epochs": list(range(1, 101)),
        "training.batch_size": list(range(1, 101)),
    }.items())
    path = write(tmp_path, f"sweep:\n  grid:\n{axes}\n")
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    message = str(info.value)
    assert "1,000,000 trials (100 training.learning_rate x 100 training.epochs x 100 training.batch_size)" in message
    assert "--set sweep.max_trials=1000000" in message
    raised = load_experiment(path, overrides=["sweep.max_trials=1000000"])
    from orchestrator.config import sweep_size

    assert sweep_size(raised.sweep) == 1_000_000


def test_seeds_count_towards_the_limit(tmp_path):
    path = write(tmp_path, "sweep:\n  max_trials: 5\n  seeds: [0, 1, 2]\n  grid:\n    model.activation: [relu, tanh]\n")
    with pytest.raises(ConfigError, match="6 trials .* x 3 seeds"):
        load_experiment(path)


@pytest.mark.parametrize(
    "text, fragment, point",
    [
        # The third of four points breaks the rule; the axis before it does not matter to any rule.
        ("training:\n  momentum: 0.9\nsweep:\n  grid:\n    training.optimizer: [sgd, adam]\n"
         "    training.learning_rate: [0.01, 0.001]\n",
         "adam has no momentum", "'training.optimizer': 'adam'"),
        ("training:\n  optimizer: sgd\n  nesterov: true\nsweep:\n  grid:\n    training.momentum: [0.9, 0.0]\n",
         "nesterov: needs optimizer: sgd", "'training.momentum': 0.0"),
        ("sweep:\n  grid:\n    training.batch_size: [48, 50]\nresources:\n  replicas: 3\n",
         "does not split evenly", "'training.batch_size': 50"),
        # A random sweep: every drawn point is checked, not only the first.
        ("training:\n  momentum: 0.9\nsweep:\n  method: random\n  samples: 8\n  search_seed: 1\n  space:\n"
         "    training.optimizer: {choice: [sgd, adam]}\n    training.learning_rate: {loguniform: [1.0e-4, 1.0e-1]}\n",
         "adam has no momentum", "'training.optimizer': 'adam'"),
    ],
)
def test_a_later_sweep_point_that_breaks_a_cross_field_rule_is_refused(tmp_path, text, fragment, point):
    with pytest.raises(ConfigError) as info:
        load_experiment(write(tmp_path, text))
    message = str(info.value)
    assert fragment in message and point in message and "(sweep point {" in message
    assert "\n" not in message
