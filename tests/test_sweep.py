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
