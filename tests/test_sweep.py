from __future__ import annotations

import pytest

from orchestrator.config import parse_experiment
from orchestrator.plan import expand_sweep
from tests.conftest import REPO, grid_specs

pytestmark = pytest.mark.unit


def test_reference_grid_expands_to_16_distinct_trials():
    from orchestrator.config import load_experiment

    specs = expand_sweep(load_experiment(REPO / "configs" / "lenet5-grid.yaml"))
    assert len(specs) == 16
    assert len({s.trial_id for s in specs}) == 16
    combos = {(s.training.optimizer, s.training.learning_rate, s.model.activation, s.training.batch_size) for s in specs}
    assert len(combos) == 16


def test_order_is_file_order_last_axis_fastest_seeds_innermost():
    specs = grid_specs(grid={"training.optimizer": ["sgd", "adam"], "training.batch_size": [50, 128]}, seeds=[0, 1])
    got = [(s.training.optimizer, s.training.batch_size, s.training.seed) for s in specs]
    assert got == [
        ("sgd", 50, 0), ("sgd", 50, 1), ("sgd", 128, 0), ("sgd", 128, 1),
        ("adam", 50, 0), ("adam", 50, 1), ("adam", 128, 0), ("adam", 128, 1),
    ]


def test_ids_are_deterministic_and_depend_on_what_determines_the_result():
    base = {"name": "a", "training": {"epochs": 2}}
    one = expand_sweep(parse_experiment(base))[0]
    again = expand_sweep(parse_experiment(base))[0]
    assert one.trial_id == again.trial_id
    # Sweep name, data location and resources do not change what a trial computes.
    same = expand_sweep(parse_experiment({**base, "name": "b", "dataset": {"data_dir": "/x"},
                                          "resources": {"trainers": 4}}))[0]
    assert same.trial_id == one.trial_id
    for change in ({"training": {"epochs": 3}}, {"training": {"epochs": 2, "seed": 1}},
                   {"training": {"epochs": 2}, "model": {"activation": "tanh"}},
                   {"training": {"epochs": 2}, "dataset": {"validation": 0.2}}):
        other = expand_sweep(parse_experiment({"name": "a", **change}))[0]
        assert other.trial_id != one.trial_id, change


def test_empty_grid_is_one_trial_per_seed():
    specs = grid_specs(seeds=[3, 4, 5])
    assert [s.training.seed for s in specs] == [3, 4, 5]
    assert all(s.point == {} for s in specs)
    assert specs[0].label == "seed=3"


def test_model_defaults_are_resolved_so_leaving_one_out_is_the_same_trial():
    implicit = expand_sweep(parse_experiment({"name": "a", "model": {"name": "lenet5_wide"}}))[0]
    explicit = expand_sweep(parse_experiment(
        {"name": "a", "model": {"name": "lenet5_wide", "filters": [32, 64], "kernel_size": 5, "hidden_units": [512]}}
    ))[0]
    assert implicit.trial_id == explicit.trial_id
    assert implicit.params()["filters"] == [32, 64]  # the results show what actually ran


# Every field that determines what a trial computes, with another value it may take: changing
# any one of them must change the id. Written out field by field so that a field dropped from
# the hash (or one added to the config and forgotten here) fails below.
CHANGES = {
    "training": {"optimizer": "sgd", "learning_rate": 0.01, "momentum": 0.9, "nesterov": True, "batch_size": 50,
                 "batch_size_scope": "per_replica", "epochs": 2, "seed": 1, "l1": 1e-4, "l2": 1e-4,
                 "regularize": "dense", "lr_schedule": "exponential", "decay_rate": 0.5, "decay_steps": 2,
                 "decay_unit": "step", "staircase": True, "clipnorm": 1.0, "augment_shift": 0.1,
                 "early_stopping_patience": 3, "early_stopping_monitor": "val_accuracy",
                 "restore_best_weights": False, "loss": "mse", "metrics": ["mae"],
                 "class_weight": {0: 2.0}, "precision": "mixed_bfloat16"},
    "model": {"name": "one_conv", "activation": "tanh", "filters": [8], "kernel_size": 3, "hidden_units": [64],
              "pooling": "avg", "padding": "valid", "pool_size": 3, "dropout": 0.25,
              "initializer": "truncated_normal", "init_stddev": 0.05, "bias_init": 0.0, "params": {"width": 8}},
    "dataset": {"name": "mnist", "validation": 0.2, "test": 0.1, "normalize": False, "image_size": [32, 32]},
}
# Where the data lives and whether a pickle may be read: not what the trial computes. (The
# user's own data, path/loader/params, enters by content: tests/test_user_data.py.)
SAME = {"dataset": {"data_dir": "/elsewhere", "allow_pickle": True}}
BY_CONTENT = {"dataset": {"path", "loader", "params"}, "model": {"builder"}}


def _id_with(section: str, field: str, value) -> str:
    import dataclasses

    from orchestrator.config import DatasetConfig, ModelConfig, TrainingConfig
    from orchestrator.trial import trial_id_for

    configs = {"dataset": DatasetConfig(), "model": ModelConfig(), "training": TrainingConfig()}
    configs[section] = dataclasses.replace(configs[section], **{field: value})
    return trial_id_for(configs["dataset"], configs["model"], configs["training"])


def test_every_identity_field_is_written_down_here():
    import dataclasses

    from orchestrator.config import DatasetConfig, ModelConfig, TrainingConfig

    for section, cls in (("dataset", DatasetConfig), ("model", ModelConfig), ("training", TrainingConfig)):
        listed = set(CHANGES[section]) | set(SAME.get(section, {})) | BY_CONTENT.get(section, set())
        assert {f.name for f in dataclasses.fields(cls)} == listed, section


@pytest.mark.parametrize(("section", "field", "value"),
                         [(s, f, v) for s, fields in CHANGES.items() for f, v in fields.items()])
def test_each_field_that_determines_the_result_changes_the_id(section, field, value):
    from orchestrator.config import DatasetConfig, ModelConfig, TrainingConfig
    from orchestrator.trial import trial_id_for

    base = trial_id_for(DatasetConfig(), ModelConfig(), TrainingConfig())
    assert _id_with(section, field, value) != base


@pytest.mark.parametrize(("section", "field", "value"),
                         [(s, f, v) for s, fields in SAME.items() for f, v in fields.items()])
def test_where_the_data_lives_does_not_change_the_id(section, field, value):
    from orchestrator.config import DatasetConfig, ModelConfig, TrainingConfig
    from orchestrator.trial import trial_id_for

    assert _id_with(section, field, value) == trial_id_for(DatasetConfig(), ModelConfig(), TrainingConfig())
