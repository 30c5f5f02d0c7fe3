"""What a trial minimises and what it reports: ``training.loss`` and ``training.metrics``.

A loss is a Keras loss name (``mse``), a mapping with its arguments (``{name:
sparse_categorical_crossentropy, from_logits: true}``) or the user's function
(``"file.py:fn"``, ``"package.module:fn"``, or the function object from Python). A metric is a
Keras metric name or the user's function. Both are checked for form here, without Keras:
the core never imports it (the names below are Keras 3's own; tests/test_objectives.py checks
each resolves in the Keras installed). Whether they fit the model and the data is checked
once on a sample batch before any trial runs (cluster/validation.py).

Every metric becomes columns: ``<name>``/``val_<name>`` per epoch and ``train_<name>``,
``val_<name>``, ``test_<name>`` per trial, ``<name>`` being the name as written (``mae``) or
the user function's name (``top2``).

Pure Python: imports neither TensorFlow nor Ray.
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Any

from orchestrator.errors import ConfigError

__all__ = [
    "BUILTIN_SEARCH_METRICS",
    "DEFAULT_LOSS",
    "KERAS_LOSSES",
    "KERAS_METRICS",
    "LOSS_ALIASES",
    "REGRESSION_LOSSES",
    "RESERVED_METRIC_NAMES",
    "SPARSE_LOSSES",
    "ClassWeight",
    "LossSpec",
    "MetricSpec",
    "coerce_class_weight",
    "coerce_function_ref",
    "coerce_loss",
    "coerce_metric",
    "epoch_metrics",
    "from_logits",
    "is_user_function",
    "loss_args",
    "loss_label",
    "loss_name",
    "metric_columns",
    "metric_goal",
    "metric_label",
    "metric_name",
    "metric_name_problem",
    "search_metrics",
]


class LossSpec:
    """Type marker of ``training.loss``."""


class MetricSpec:
    """Type marker of one ``training.metrics`` entry."""


class ClassWeight:
    """Type marker of ``training.class_weight``: null, "balanced" or {class: weight}."""


def coerce_class_weight(value: Any, key: str, origin: str) -> Any:
    """``balanced`` or a mapping of class id (an integer >= 0) to a weight (a finite number
    >= 0), as Keras' ``fit(class_weight=...)``; classes left out weigh 1. Whether the classes
    exist is the data's to say (checked on it before any trial runs)."""
    if value == "balanced":
        return value
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{origin}: {key}: expected balanced, or a mapping of class to weight such as "
                          f"{{0: 1.0, 1: 5.0}}, got {type(value).__name__} {value!r}"[:300])
    weights = {}
    for cls, weight in value.items():
        if isinstance(cls, str) and cls.strip().isdigit():
            cls = int(cls)  # from --set or JSON, where keys are text
        if not isinstance(cls, int) or isinstance(cls, bool) or cls < 0:
            raise ConfigError(f"{origin}: {key}: class {cls!r} is not a class id; keys are the integer labels 0, 1, ...")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"{origin}: {key}.{cls}: weight {weight!r} must be a finite number >= 0")
        weights[cls] = float(weight)
    return dict(sorted(weights.items()))


DEFAULT_LOSS = "sparse_categorical_crossentropy"
# Keras 3's loss functions (keras.losses.<name>) that take (y_true, y_pred) per example.
KERAS_LOSSES = (
    "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
    "categorical_focal_crossentropy", "categorical_hinge", "cosine_similarity", "hinge", "huber",
    "kl_divergence", "log_cosh", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_error", "mean_squared_logarithmic_error", "poisson", "sparse_categorical_crossentropy",
    "squared_hinge",
)
# Keras' short names, accepted as written (and kept as the column name for metrics).
LOSS_ALIASES = {
    "mse": "mean_squared_error", "mae": "mean_absolute_error", "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error", "kld": "kl_divergence",
}
# keras.metrics' per-example functions. Stateful metrics (AUC, precision) are not among them:
# orch averages a metric's per-example values over a split, which those are not.
KERAS_METRICS = (
    "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy", "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy", "mean_absolute_error", "mean_squared_error",
    "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "hinge", "squared_hinge",
    "categorical_hinge", "kl_divergence", "log_cosh", "poisson", "binary_crossentropy",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "huber",
)
# Losses that take integer class labels; the others take float targets of the output's shape.
SPARSE_LOSSES = ("sparse_categorical_crossentropy",)
# Losses that compare values, not classes: integer class labels given to one are a mistake.
REGRESSION_LOSSES = ("mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
                     "mean_squared_logarithmic_error", "huber", "log_cosh", "poisson", "cosine_similarity")
_ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FUNCTION_REF = re.compile(r"^(?P<where>.+):(?P<function>[A-Za-z_][A-Za-z0-9_]*)$")
# Metric names whose smaller values are better (Keras' error metrics, losses); others: larger.
_SMALLER_IS_BETTER = ("loss", "error", "mae", "mse", "mape", "msle", "hinge", "crossentropy", "divergence",
                      "cosh", "poisson", "huber", "kld")


def is_user_function(value: Any) -> bool:
    """The user's own function: a reference ``where:function`` or a function object."""
    return callable(value) or (isinstance(value, str) and ":" in value)


def _keras_name(value: str, names: tuple[str, ...], key: str, origin: str, what: str) -> str:
    full = LOSS_ALIASES.get(value, value)
    if full in names:
        return value
    choices = sorted([*names, *LOSS_ALIASES])
    close = difflib.get_close_matches(value, choices, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ConfigError(f"{origin}: {key}: unknown {what} {value!r}; {hint}give a Keras {what} name "
                      f"({', '.join(choices[:6])}, ...) or your own function as 'file.py:function'")


def coerce_function_ref(value: Any, key: str, origin: str) -> Any:
    """A reference to the user's function (``model.builder``, a loss, a metric): a function
    object from the Python API (its source is read in orchestrator.usercode), or
    ``"file.py:function"`` / ``"package.module:function"``, checked for form here."""
    if callable(value) and not isinstance(value, type):
        return value
    if not isinstance(value, str) or not _FUNCTION_REF.match(value.strip()):
        raise ConfigError(f"{origin}: {key}: expected 'file.py:function' or 'package.module:function', "
                          f"got {value!r}"[:300])
    return value.strip()


def coerce_loss(value: Any, key: str, origin: str) -> Any:
    """A loss as the config holds it: a name, ``{name: ..., <argument>: <scalar>}``, or a
    function reference / object. ConfigError with the fix otherwise."""
    if callable(value) and not isinstance(value, type):
        return value
    if isinstance(value, str):
        if ":" in value:
            return coerce_function_ref(value, key, origin)
        return _keras_name(value.strip(), KERAS_LOSSES, key, origin, "loss")
    if isinstance(value, dict):
        name = value.get("name")
        if not isinstance(name, str):
            raise ConfigError(f"{origin}: {key}: a mapping needs name: (a Keras loss), e.g. "
                              "{name: sparse_categorical_crossentropy, from_logits: true}")
        _keras_name(name, KERAS_LOSSES, f"{key}.name", origin, "loss")
        for arg, item in value.items():
            if not isinstance(arg, str) or not _ARG_NAME.match(arg):
                raise ConfigError(f"{origin}: {key}: argument names must be Python names, got {arg!r}")
            if item is not None and not isinstance(item, (bool, int, float, str)):
                raise ConfigError(f"{origin}: {key}.{arg}: expected a scalar (number, text, true/false), "
                                  f"got {type(item).__name__}")
        if len(value) == 1:
            return name  # {name: mse} is the name alone: one trial, one id
        return dict(value)
    raise ConfigError(f"{origin}: {key}: expected a Keras loss name, a mapping with name: and its arguments, "
                      f"or 'file.py:function', got {type(value).__name__} {value!r}"[:300])


def coerce_metric(value: Any, key: str, origin: str) -> Any:
    if callable(value) and not isinstance(value, type):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{origin}: {key}: expected a Keras metric name or 'file.py:function', "
                          f"got {type(value).__name__} {value!r}"[:300])
    if ":" in value:
        return coerce_function_ref(value, key, origin)
    if value.strip() in RESERVED_METRIC_NAMES:
        raise ConfigError(f"{origin}: {key}: {metric_name_problem(value.strip())}")
    return _keras_name(value.strip(), KERAS_METRICS, key, origin, "metric")


def _function_name(value: Any) -> str:
    if callable(value):
        return getattr(value, "__name__", type(value).__name__)
    return value.rpartition(":")[2]


def loss_name(loss: Any) -> str:
    """The loss's name: the Keras name (aliases resolved) or the user function's."""
    if isinstance(loss, dict):
        loss = loss["name"]
    if is_user_function(loss):
        return _function_name(loss)
    return LOSS_ALIASES.get(loss, loss)


def loss_args(loss: Any) -> dict[str, Any]:
    """The arguments a mapping gives its Keras loss (``from_logits`` ...); {} otherwise."""
    return {k: v for k, v in loss.items() if k != "name"} if isinstance(loss, dict) else {}


def from_logits(loss: Any) -> bool:
    return bool(loss_args(loss).get("from_logits", False))


def loss_label(loss: Any) -> str:
    """How the results tables show a loss: ``mse``, ``sparse_categorical_crossentropy(from_logits=True)``,
    ``losses.py:focal``."""
    if isinstance(loss, dict):
        args = ",".join(f"{k}={v}" for k, v in sorted(loss_args(loss).items()))
        return f"{loss['name']}({args})"
    if callable(loss):
        return f"{getattr(loss, '__module__', '')}:{_function_name(loss)}"
    return loss.rpartition("/")[2] if ":" in loss else loss


def metric_name(metric: Any) -> str:
    """The metric's name in column names: as written (``mae``) or the function's (``top2``)."""
    return _function_name(metric) if is_user_function(metric) else metric


def metric_label(metric: Any) -> str:
    return loss_label(metric)


def metric_goal(name: str) -> str:
    """"min" for metrics where smaller is better (losses, errors), else "max"."""
    base = name.removeprefix("val_").removeprefix("train_").removeprefix("test_").lower()
    return "min" if base.endswith(_SMALLER_IS_BETTER) else "max"


# Names whose columns orch writes already (epochs: loss, accuracy, seconds, epoch; trials:
# train_loss, val_accuracy, train_seconds ...): a metric may not take them
# (orchestrator/store/_schema.py checks at import that this covers every such column).
RESERVED_METRIC_NAMES = ("loss", "accuracy", "seconds", "epoch")
_SPLIT_PREFIXES = ("train_", "val_", "test_")
BUILTIN_SEARCH_METRICS = ("val_accuracy", "val_loss", "train_accuracy", "train_loss", "test_accuracy", "test_loss",
                          "total_seconds", "train_seconds")


def metric_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a metric's column name, or None."""
    if not _ARG_NAME.match(name):
        return f"{name!r} is not usable as a column name (letters, digits and '_')"
    if name in RESERVED_METRIC_NAMES:
        return (f"{name!r} clashes with orch's own {name}/val_{name} columns"
                + ("; loss is always logged" if name == "loss" else "; accuracy is logged for classifiers already"
                   if name == "accuracy" else ""))
    if name.startswith(_SPLIT_PREFIXES):
        return f"{name!r} starts with a split's prefix (train_, val_, test_), which orch adds to its columns; rename it"
    return None


def search_metrics(metrics: list[Any]) -> tuple[str, ...]:
    """What ``sweep.metric`` may name: orch's own, then train_/val_/test_<name> of each metric."""
    return (*BUILTIN_SEARCH_METRICS, *metric_columns([metric_name(m) for m in metrics]))


def epoch_metrics(metrics: list[Any]) -> tuple[str, ...]:
    """The epochs columns a trial logs (early stopping's and halving's choices)."""
    names = [metric_name(m) for m in metrics]
    return ("loss", "accuracy", "val_loss", "val_accuracy", *names, *(f"val_{n}" for n in names))


def metric_columns(names: list[str]) -> list[str]:
    return [f"{prefix}{n}" for n in names for prefix in ("train_", "val_", "test_")]

