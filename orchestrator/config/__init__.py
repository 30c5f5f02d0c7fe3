"""The experiment schema and its strict loader.

An experiment file has the sections ``dataset``, ``model``, ``training``, ``resources``,
``outputs``, ``stopping`` and ``sweep`` (plus ``name`` and ``description``). Every field has
a type, a default and, for numbers, a declared range; unknown keys, wrong types, values
outside a field's range or choices, and impossible combinations are rejected with a
:class:`ConfigError` naming the key and the fix, before anything runs.

Where things are:

- ``_sections``: the dataclasses, one per section: every field, its default, its range
- ``_models``: the built-in models' names, parameters and defaults
- ``_fields``: ranges, the type coercion every value goes through, unknown keys refused
- ``_sweep``: the ``sweep:`` section, grid points, the size limit
- ``_rules``: rules that span several fields
- ``_loader``: files and mappings in, :class:`Experiment` out
- ``_overrides``: ``--set KEY=VALUE``

``model.builder`` / ``model.params`` (the user's own model) are checked here for form; the
builder's file is read, never imported, by ``orchestrator.usercode``.

Pure Python: imports neither TensorFlow nor Ray.
"""

from orchestrator.config._fields import Range, coerce_field
from orchestrator.config._loader import load_experiment, parse_experiment
from orchestrator.config._lookup import all_fields, field_spec, field_type
from orchestrator.config._models import MODEL_DEFAULTS, MODEL_PARAMS, ModelName
from orchestrator.config._overrides import parse_override, with_overrides
from orchestrator.config._rules import check_experiment, resolve_model
from orchestrator.config._sections import (
    BUILTIN_DATASETS,
    SECTIONS,
    DatasetConfig,
    Experiment,
    ModelConfig,
    OutputsConfig,
    ResourcesConfig,
    StoppingConfig,
    SweepConfig,
    TrainingConfig,
)
from orchestrator.config._sweep import grid_points, iter_grid_points, sweep_size
from orchestrator.config._objectives import (
    DEFAULT_LOSS,
    epoch_metrics,
    from_logits,
    is_user_function,
    loss_args,
    loss_label,
    loss_name,
    metric_goal,
    metric_label,
    metric_name,
    search_metrics,
)
from orchestrator.errors import ConfigError

__all__ = [
    "BUILTIN_DATASETS",
    "ConfigError",
    "DatasetConfig",
    "ModelConfig",
    "ModelName",
    "TrainingConfig",
    "ResourcesConfig",
    "OutputsConfig",
    "SweepConfig",
    "StoppingConfig",
    "Experiment",
    "SECTIONS",
    "MODEL_PARAMS",
    "MODEL_DEFAULTS",
    "Range",
    "all_fields",
    "check_experiment",
    "coerce_field",
    "field_spec",
    "field_type",
    "grid_points",
    "iter_grid_points",
    "load_experiment",
    "parse_experiment",
    "parse_override",
    "resolve_model",
    "sweep_size",
    "with_overrides",
    "DEFAULT_LOSS",
    "epoch_metrics",
    "from_logits",
    "is_user_function",
    "loss_args",
    "loss_label",
    "loss_name",
    "metric_goal",
    "metric_label",
    "metric_name",
    "search_metrics",
]
