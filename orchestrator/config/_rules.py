"""Rules that span several fields (a single field's type and range are checked as it is
read, in ``_fields``). Checked for the base experiment and for every distinct sweep point
that could break one."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from orchestrator.config._models import MODEL_DEFAULTS, MODEL_PARAMS
from orchestrator.config._objectives import epoch_metrics, metric_name, metric_name_problem, search_metrics
from orchestrator.config._overrides import with_overrides
from orchestrator.config._sections import (
    BUILTIN_DATASETS,
    DatasetConfig,
    Experiment,
    ModelConfig,
    ResourcesConfig,
    StoppingConfig,
    TrainingConfig,
)
from orchestrator.config._sweep import iter_grid_points, sweep_points
from orchestrator.errors import ConfigError
from orchestrator.usercode import builder_problem

__all__ = ["check_experiment", "check_point", "resolve_model"]

Fail = Callable[[str], None]

# The fields the per-point rules read. A sweep axis outside this set cannot make a point
# break a rule, so points that differ only there are checked once: a 100,000-point grid over
# learning rates and seeds costs one check, not 100,000.
_POINT_RULE_FIELDS = frozenset({
    "training.optimizer", "training.momentum", "training.nesterov", "training.batch_size",
    "training.batch_size_scope", "training.lr_schedule", "training.decay_unit", "training.staircase",
    "dataset.name", "dataset.validation", "dataset.test", "dataset.allow_pickle", "dataset.data_dir",
    "dataset.path", "dataset.image_size", "dataset.loader", "dataset.params",
    "training.loss", "training.metrics", "training.early_stopping_monitor",
    *(f"model.{f.name}" for f in dataclasses.fields(ModelConfig)),
})


def check_experiment(experiment: Experiment, origin: str = "<config>") -> None:
    """Every cross-field rule, for the base config and each sweep point that matters."""
    sweep = experiment.sweep
    axes = [*sweep.grid, *sweep.space]
    relevant = [path for path in axes if path in _POINT_RULE_FIELDS]
    seen: set[tuple[Any, ...]] = set()
    # tpe points are not known yet: the executor checks each one as it is asked.
    points = iter_grid_points(sweep) if sweep.method in ("grid", "tpe") else sweep_points(sweep)
    for point in points:
        key = tuple(repr(point.get(path)) for path in relevant)
        if key in seen:
            continue
        seen.add(key)
        shown = {path: point[path] for path in relevant if path in point}
        _check_point(with_overrides(experiment, point), origin, shown)

    def fail(message: str) -> None:
        raise ConfigError(f"{origin}: {message}")

    _check_resources(experiment.resources, fail)
    _check_stopping(experiment.stopping, fail)
    _check_metric_choices(experiment, fail)


def check_point(experiment: Experiment, point: dict[str, Any], origin: str = "<config>") -> None:
    """The cross-field rules for one point asked while the sweep runs (tpe)."""
    _check_point(with_overrides(experiment, point), origin, point)


def _check_point(e: Experiment, origin: str, point: dict[str, Any]) -> None:
    where = f" (sweep point {point})" if point else ""
    t, d = e.training, e.dataset

    def fail(message: str) -> None:
        raise ConfigError(f"{origin}: {message}{where}")

    if t.momentum and t.optimizer == "adam":
        fail("training.momentum: adam has no momentum setting; use optimizer: sgd or rmsprop, or momentum: 0")
    if t.nesterov and not (t.optimizer == "sgd" and t.momentum > 0):
        fail("training.nesterov: needs optimizer: sgd with momentum > 0 (e.g. momentum: 0.9)")
    if t.batch_size_scope == "global" and t.batch_size % e.resources.replicas:
        fail(
            f"training.batch_size: a global batch of {t.batch_size} does not split evenly over "
            f"resources.replicas={e.resources.replicas}; use a multiple of {e.resources.replicas} "
            "or batch_size_scope: per_replica"
        )
    for key in ("validation", "test"):
        value = getattr(d, key)
        if value is not None and value >= 1 and not float(value).is_integer():
            fail(f"dataset.{key}: expected a fraction in (0, 1) or a whole count >= 1, got {value}")
    _check_dataset(d, fail)
    _check_model(e.model, fail)
    _check_objectives(t, fail)
    if t.lr_schedule == "step" and (t.decay_unit != "epoch" or t.staircase):
        fail("training.lr_schedule: step decay is per epoch and stepwise already; drop decay_unit/staircase")


def _check_dataset(d: DatasetConfig, fail: Fail) -> None:
    """Which fields each kind of dataset takes. The data itself is checked where it is
    loaded (trainers/data), before any trial starts."""
    if d.test is not None and d.name not in ("notmnist", "image_folder"):
        fail(f"dataset.test: {d.name} has its own test split; remove test")
    if d.test is None and d.name == "image_folder":
        fail("dataset.test: an image folder has no test split; hold some images out, e.g. test: 0.2 (fraction) or test: 500 (count)")
    if d.allow_pickle and d.name != "notmnist":
        fail("dataset.allow_pickle: only notmnist reads a pickle; remove it")
    user = d.name not in BUILTIN_DATASETS
    if user and d.data_dir is not None:
        fail(f"dataset.data_dir: is for the built-in datasets; {d.name} data is named by dataset.{'loader' if d.name == 'loader' else 'path'}")
    wants_path = d.name in ("npz", "image_folder")
    if wants_path and d.path is None:
        example = "data.npz" if d.name == "npz" else "images/  (one sub-folder per class)"
        fail(f"dataset.path: name: {d.name} needs the data's path, e.g. path: {example}")
    if d.path is not None and not wants_path:
        fail("dataset.path: only name: npz or image_folder reads a path; remove it or set name")
    if d.name == "loader" and d.loader is None:
        fail('dataset.loader: name: loader needs a function, e.g. loader: "my_data.py:load"')
    if d.loader is not None and d.name != "loader":
        fail(f"dataset.loader: a loader is its own dataset; remove name: {d.name} (or set name: loader)")
    if d.params and d.loader is None:
        fail("dataset.params: are the loader function's arguments; set dataset.loader or remove params")
    if d.image_size is not None and (d.name != "image_folder" or len(d.image_size) != 2):
        fail(f"dataset.image_size: [height, width] for name: image_folder only, got {d.image_size}")


def _check_objectives(t: TrainingConfig, fail: Fail) -> None:
    """The user's loss and metric functions can be found; metric names that can be columns,
    once each; early stopping on a logged metric."""
    seen: set[str] = set()
    for metric in t.metrics:
        name = metric_name(metric)
        problem = metric_name_problem(name)
        if problem is not None:
            fail(f"training.metrics: {problem}")
        if name in seen:
            fail(f"training.metrics: {name!r} is listed twice; each metric's columns are named after it, list it once")
        seen.add(name)
    from orchestrator.config._objectives import is_user_function

    for key, value in [("training.loss", t.loss), *((f"training.metrics[{i}]", m) for i, m in enumerate(t.metrics))]:
        if is_user_function(value):
            problem = builder_problem(value)
            if problem is not None:
                fail(f"{key}: {problem}")
    logged = epoch_metrics(t.metrics)
    if t.early_stopping_monitor not in logged:
        _unknown_choice("training.early_stopping_monitor", t.early_stopping_monitor, logged, fail)


def _unknown_choice(key: str, value: str, choices: tuple[str, ...], fail: Fail) -> None:
    import difflib

    close = difflib.get_close_matches(value, choices, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    fail(f"{key}: {value!r} is not logged by these trials; {hint}choose one of {', '.join(choices)} "
         "(a metric's columns exist once it is listed in training.metrics)")


def _check_metric_choices(e: Experiment, fail: Fail) -> None:
    """sweep.metric and stopping.metric name what the trials log (their training.metrics)."""
    metrics = e.training.metrics
    if e.sweep.metric not in search_metrics(metrics):
        _unknown_choice("sweep.metric", e.sweep.metric, search_metrics(metrics), fail)
    names = [metric_name(m) for m in metrics]
    halving = ("val_accuracy", "val_loss", *(f"val_{n}" for n in names))
    if e.stopping.metric not in halving:
        _unknown_choice("stopping.metric", e.stopping.metric, halving, fail)


def _check_resources(r: ResourcesConfig, fail: Fail) -> None:
    if r.trainers_per_gpu > 1 and r.replicas > 1:
        fail("resources.trainers_per_gpu: packing shares one GPU between trainers; it needs replicas: 1")


def _check_stopping(s: StoppingConfig, fail: Fail) -> None:
    if sorted(set(s.rungs)) != s.rungs:
        fail(f"stopping.rungs: epochs in increasing order, each listed once, got {s.rungs}")


def _check_model(m: ModelConfig, fail: Fail) -> None:
    if m.builder is not None:
        _check_builder(m, fail)
        return
    if m.name is None:
        fail("model: give name: (a built-in model such as lenet5) or builder: 'file.py:function' (your own)")
    if m.params:
        fail(f"model.params: only a builder takes params; model {m.name!r} takes its own fields "
             f"({', '.join(sorted(MODEL_PARAMS[m.name]))}), or set builder: 'file.py:function'")
    defaults = ModelConfig()
    allowed = MODEL_PARAMS[m.name]
    for f in dataclasses.fields(ModelConfig):
        if f.name in ("name", "activation") or f.name in allowed:
            continue
        if getattr(m, f.name) != getattr(defaults, f.name):
            fail(f"model.{f.name}: model {m.name!r} has no such parameter; it takes: {', '.join(sorted(allowed))}")
    for key in ("filters", "hidden_units"):
        values = getattr(m, key)
        default = MODEL_DEFAULTS[m.name].get(key)
        if values is not None and default is not None and len(values) != len(default):
            fail(f"model.{key}: {m.name} needs {len(default)} entries, got {values}; e.g. {key}: {default}")


def _check_builder(m: ModelConfig, fail: Fail) -> None:
    """A builder model: no built-in name, no built-in fields, a builder that can be found."""
    if m.name is not None:
        fail(
            f"model: name: {m.name} and builder: both given; name picks a built-in model, builder your own: "
            "keep one (with --set model.builder=..., also --set model.name=null)"
        )
    defaults = ModelConfig()
    for f in dataclasses.fields(ModelConfig):
        if f.name not in ("name", "builder", "params") and getattr(m, f.name) != getattr(defaults, f.name):
            fail(f"model.{f.name}: applies to the built-in models; a builder takes its settings from "
                 f"model.params (e.g. params: {{{f.name}: ...}})")
    problem = builder_problem(m.builder)
    if problem is not None:
        fail(f"model.builder: {problem}")


def resolve_model(config: ModelConfig) -> ModelConfig:
    """``config`` with every ``null`` parameter of its model set to the model's default, so
    that leaving a parameter out and writing its default are the same trial. A builder's
    model is returned as it is: its params are the builder's to default."""
    if config.builder is not None:
        return config
    filled = {
        key: list(value) if isinstance(value, list) else value
        for key, value in MODEL_DEFAULTS[config.name].items()
        if getattr(config, key) is None
    }
    return dataclasses.replace(config, **filled)
