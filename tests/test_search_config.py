"""``sweep.method/space/samples`` in experiment files: parsed against the schema, planned
deterministically (random, sobol), refused with one line when they cannot mean anything."""

from __future__ import annotations

import pytest

from orchestrator.config import ConfigError, load_experiment, sweep_size
from orchestrator.store import InMemoryResultsStore, ParquetResultsStore
from orchestrator.plan import expand_sweep, planned_points

pytestmark = pytest.mark.unit

SEARCH = """
name: s
training: {{epochs: 1}}
sweep:
  method: {method}
  samples: 6
  search_seed: 3
  seeds: [0, 1]
  grid:
    training.optimizer: [adam, sgd]
  space:
    training.learning_rate: {{loguniform: [1.0e-5, 1.0e-1]}}
    training.batch_size: {{int: [16, 256], log: true}}
    model.dropout: {{uniform: [0.0, 0.5]}}
    model.activation: {{choice: [relu, tanh]}}
"""


def write(tmp_path, text, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("method", ["random", "sobol"])
def test_deterministic_searches_plan_the_same_trial_ids_every_time(tmp_path, method):
    path = write(tmp_path, SEARCH.format(method=method))
    first = expand_sweep(load_experiment(path))
    again = expand_sweep(load_experiment(path))
    assert [s.trial_id for s in first] == [s.trial_id for s in again]
    assert len(first) == 2 * 6 * 2  # grid points x samples x seeds
    assert len({s.trial_id for s in first}) == len(first)
    for spec in first:
        assert 1e-5 <= spec.training.learning_rate < 1e-1
        assert 16 <= spec.training.batch_size <= 256 and isinstance(spec.training.batch_size, int)
        assert spec.model.activation in ("relu", "tanh")
    other_seed = expand_sweep(load_experiment(path, overrides=["sweep.search_seed=4"]))
    assert {s.trial_id for s in other_seed}.isdisjoint({s.trial_id for s in first})


def test_tpe_plans_nothing_up_front_but_counts_its_budget(tmp_path):
    e = load_experiment(write(tmp_path, SEARCH.format(method="tpe")))
    assert planned_points(e) == []
    assert sweep_size(e.sweep) == 2 * 6 * 2


def test_a_search_config_is_saved_as_plain_yaml(tmp_path):
    e = load_experiment(write(tmp_path, SEARCH.format(method="random")))
    store = ParquetResultsStore(str(tmp_path / "store"))
    path = store.save_config(e)
    text = open(path).read()
    assert "loguniform" not in text or "low" in text  # distributions are saved as their fields
    assert "relu" in text
    InMemoryResultsStore().save_config(e)


def test_existing_grid_files_keep_their_trial_ids():
    """A grid file means what it meant before search existed: same points, same ids."""
    from tests.conftest import REPO

    e = load_experiment(REPO / "configs" / "quickstart.yaml")
    assert e.sweep.method == "grid"
    assert [s.trial_id for s in expand_sweep(e)][:2] == ["93f25b4c0052c1f2", "74a4ca9f8949f65b"]


@pytest.mark.parametrize("sweep, fragment", [
    ("method: random\n  samples: 3\n  space:\n    training.learning_rate: {uniform: [0.1, 0.01]}", "sweep.space.training.learning_rate"),
    ("method: random\n  samples: 3\n  space:\n    training.learning_rate: {loguniform: [0, 0.1]}", "sweep.space.training.learning_rate"),
    ("method: random\n  samples: 3\n  space:\n    model.activation: {choice: []}", "sweep.space.model.activation"),
    ("method: random\n  samples: 3\n  space:\n    training.optimizer: {uniform: [0, 1]}", "sweep.space.training.optimizer"),
    ("method: random\n  samples: 3\n  space:\n    resources.trainers: {int: [1, 2]}", "set it once under resources:"),
    ("method: random\n  samples: 3\n  space:\n    training.learnin_rate: {uniform: [0, 1]}", "did you mean 'training.learning_rate'"),
    ("method: random\n  samples: 3\n  space:\n    training.epochs: {int: [0, 3]}", "training.epochs"),
    ("method: random\n  samples: 3\n  space:\n    training.learning_rate: {uniform: [0.1, .inf]}", "finite"),
    ("method: random\n  space:\n    training.learning_rate: {uniform: [0.01, 0.1]}", "sweep.samples"),
    ("method: random\n  samples: 0\n  space:\n    training.learning_rate: {uniform: [0.01, 0.1]}", "sweep.samples"),
    ("method: random\n  samples: 3", "sweep.space"),
    ("method: annealing", "sweep.method: unknown value 'annealing'"),
    ("samples: 3", "sweep.samples"),
    ("goal: maximize", "sweep.goal"),
    ("method: tpe\n  samples: 3\n  metric: accuracy_val\n  space:\n    training.learning_rate: {uniform: [0.01, 0.1]}", "sweep.metric"),
    ("method: random\n  samples: 20000\n  space:\n    training.learning_rate: {uniform: [0.01, 0.1]}", "sweep.max_trials"),
    ("method: random\n  samples: 3\n  grid:\n    training.learning_rate: [0.1]\n  space:\n    training.learning_rate: {uniform: [0.01, 0.1]}", "not both"),
    ("method: random\n  samples: 3\n  space:\n    training.momentum: {uniform: [0.1, 0.9]}", "adam has no momentum"),
])
def test_bad_searches_are_one_line(tmp_path, sweep, fragment):
    with pytest.raises(ConfigError) as info:
        load_experiment(write(tmp_path, f"training: {{epochs: 1}}\nsweep:\n  {sweep}\n"))
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)
