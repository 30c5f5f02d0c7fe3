"""sweep.space YAML -> distributions: every bad space is one ConfigError line naming
sweep.space.<field> and the fix. The schema here is a small stand-in wired the way the
config loader wires its own (field_kind from the field's type hint, check_value coercing)."""

from __future__ import annotations

import difflib
import typing
from typing import Any, Literal

import pytest
import yaml

from orchestrator.errors import ConfigError
from orchestrator.search import (
    Choice,
    FieldKind,
    IntRange,
    LogUniform,
    Uniform,
    check_search,
    kind_of_hint,
    parse_space,
)

pytestmark = pytest.mark.unit

HINTS: dict[str, Any] = {
    "training.learning_rate": float,
    "training.batch_size": int,
    "training.optimizer": Literal["sgd", "adam", "rmsprop"],
    "training.nesterov": bool,
    "training.clipnorm": float | None,
    "training.early_stopping_patience": int | None,
    "model.filters": list[int] | None,
    "model.dropout": float,
    "model.params.width": Any,
}


def field_kind(path: str, key: str) -> FieldKind:
    if path not in HINTS:
        close = difflib.get_close_matches(path, list(HINTS), n=1)
        raise ConfigError(f"t.yaml: {key}: unknown field {path!r}" + (f"; did you mean {close[0]!r}?" if close else ""))
    return kind_of_hint(HINTS[path])


def check_value(path: str, value: Any, key: str) -> Any:
    hint = HINTS[path]
    if value is None and type(None) in typing.get_args(hint):
        return None
    if hint in (float, float | None) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (int, int | None) and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint == list[int] | None and isinstance(value, list):
        return value
    if hint is Any:
        return value
    if getattr(hint, "__origin__", None) is Literal and value in hint.__args__:
        return value
    raise ConfigError(f"t.yaml: {key}: expected {hint}, got {value!r}")


def parse(text: str):
    return parse_space(yaml.safe_load(text), field_kind, check_value, origin="t.yaml")


def test_each_distribution_in_file_order():
    space = parse("""
        training.learning_rate: {loguniform: [1.0e-5, 1.0e-1]}
        model.dropout: {uniform: [0, 0.5]}
        training.batch_size: {int: [32, 512], log: true}
        training.early_stopping_patience: {int: [1, 5]}
        training.optimizer: {choice: [adam, sgd]}
        model.filters: {choice: [[6, 16], [32, 64]]}
        training.clipnorm: {choice: [null, 1.0]}
        model.params.width: {uniform: [0.5, 2]}
    """)
    assert list(space) == ["training.learning_rate", "model.dropout", "training.batch_size",
                           "training.early_stopping_patience", "training.optimizer", "model.filters",
                           "training.clipnorm", "model.params.width"]
    assert space["training.learning_rate"] == LogUniform(1e-5, 1e-1)
    assert space["model.dropout"] == Uniform(0.0, 0.5) and isinstance(space["model.dropout"].low, float)
    assert space["training.batch_size"] == IntRange(32, 512, log=True)
    assert space["training.early_stopping_patience"] == IntRange(1, 5)
    assert space["training.optimizer"] == Choice(("adam", "sgd"))
    assert space["model.filters"] == Choice(([6, 16], [32, 64]))
    assert space["training.clipnorm"] == Choice((None, 1.0))
    assert parse_space(None, field_kind, check_value) == {} == parse("{}")


@pytest.mark.parametrize("text, problem", [
    ("training.learning_rate: {uniform: [0.1, 0.01]}", "lo < hi must hold, got [0.1, 0.01]; give the smaller"),
    ("training.learning_rate: {uniform: [0.1, 0.1]}", "lo < hi must hold"),
    ("training.learning_rate: {loguniform: [0, 0.1]}", "a log scale needs 0 < lo, got lo=0"),
    ("training.batch_size: {int: [0, 512], log: true}", "a log scale needs lo >= 1, got lo=0"),
    ("training.optimizer: {choice: []}", "choice: expected a non-empty list"),
    ("training.optimizer: {choice: [adam, adam]}", "values repeat"),
    ("training.learnin_rate: {uniform: [0, 1]}", "unknown field 'training.learnin_rate'; did you mean 'training.learning_rate'?"),
    ("training.batch_size: {uniform: [16, 512]}", "uniform does not fit a field of int; use {int: [lo, hi]}"),
    ("training.learning_rate: {int: [1, 5]}", "int does not fit a field of float; use {uniform"),
    ("training.optimizer: {uniform: [0, 1]}", "does not fit a field of names; list the values to try with {choice"),
    ("model.filters: {int: [6, 16]}", "does not fit a field of names"),
    ("training.nesterov: {uniform: [0, 1]}", "does not fit a field of names"),
    ("training.optimizer: {choice: [adam, nadam]}", "sweep.space.training.optimizer.choice[1]: expected"),
    ("training.batch_size: {int: [16.5, 512]}", "lo: expected an integer, got 16.5"),
    ("training.learning_rate: {uniform: [a, 1]}", "lo: expected a number, got 'a'"),
    ("training.learning_rate: {uniform: [0, .inf]}", "hi: expected a finite number"),
    ("training.learning_rate: {uniform: [0, 1, 2]}", "expected [lo, hi] (two numbers)"),
    ("training.learning_rate: {log_uniform: [1e-5, 1e-1]}", "unknown key 'log_uniform'; did you mean 'loguniform'?"),
    ("training.learning_rate: {uniform: [0, 1], choice: [1]}", "give exactly one distribution, got uniform, choice"),
    ("training.learning_rate: {loguniform: [1.0e-5, 1.0e-1], log: true}", "log: goes with {int: [lo, hi]}"),
    ("training.batch_size: {int: [1, 8], log: yes please}", "log: expected true or false"),
    ("training.learning_rate: 0.001", "expected one distribution: {uniform: [lo, hi]}"),
    ("training.learning_rate: [0.001, 0.01]", "expected one distribution"),
    ("[training.learning_rate]", "sweep.space: expected a mapping of dotted field -> distribution"),
])
def test_a_bad_space_is_one_line_naming_the_field_and_the_fix(text, problem):
    with pytest.raises(ConfigError) as error:
        parse(text)
    message = str(error.value)
    assert "\n" not in message and message.startswith("t.yaml: sweep.space")
    assert problem in message
    field = text.split(":")[0].strip("[] ")
    assert f"sweep.space.{field}" in message or message.startswith("t.yaml: sweep.space:")


def test_kinds_of_the_schemas_type_hints():
    assert kind_of_hint(float) is kind_of_hint(float | None) is FieldKind.FLOAT
    assert kind_of_hint(int) is kind_of_hint(int | None) is FieldKind.INT
    assert kind_of_hint(Literal["a", "b"]) is kind_of_hint(bool) is kind_of_hint(list[int] | None) is FieldKind.NAMES
    assert kind_of_hint(Any) is FieldKind.ANY
    assert FieldKind.ANY.takes("loguniform") and not FieldKind.NAMES.takes("int")


@pytest.mark.parametrize("args, problem", [
    (("bayes", 8, {}), "sweep.method: unknown method 'bayes'; choose one of grid, random, sobol, tpe"),
    (("rnadom", 8, {}), "did you mean 'random'?"),
    (("grid", None, {"training.learning_rate": Uniform(0, 1)}), "sweep.space: method grid tries the grid axes only"),
    (("tpe", 8, {}), "sweep.space: method tpe draws from sweep.space, which is empty"),
    (("grid", 8, {}), "sweep.samples: method grid runs every grid point once per seed"),
    (("random", None, {"training.learning_rate": Uniform(0, 1)}), "sweep.samples: method random needs how many"),
    (("sobol", 0, {"training.learning_rate": Uniform(0, 1)}), "an integer >= 1; got 0"),
])
def test_bad_method_samples_combinations(args, problem):
    with pytest.raises(ConfigError, match=None) as error:
        check_search(*args, origin="t.yaml")
    assert problem in str(error.value) and str(error.value).startswith("t.yaml: sweep.")


def test_a_field_is_a_grid_axis_or_searched_not_both_and_goal_is_max_or_min():
    space = {"training.learning_rate": Uniform(0, 1)}
    check_search("random", 4, space, grid_paths=["training.optimizer"])
    check_search("grid", None, {}, grid_paths=["training.optimizer"])
    with pytest.raises(ConfigError, match="sweep.space.training.learning_rate: also a grid axis"):
        check_search("random", 4, space, grid_paths=["training.learning_rate"])
    with pytest.raises(ConfigError, match="sweep.goal: expected max or min, got 'maximise'"):
        check_search("tpe", 4, space, goal="maximise")
