"""Experiment schema and the strict YAML loader.

An experiment file has the sections ``dataset``, ``model``, ``training``, ``resources`` and
``sweep`` (plus ``name`` and ``description``). Every field has a type and a default; unknown
keys, wrong types and values outside a field's choices are rejected with a
:class:`ConfigError` naming the key and the fix, before anything runs.

Pure Python: imports neither TensorFlow nor Ray.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from orchestrator.errors import ConfigError

__all__ = [
    "ConfigError",
    "DatasetConfig",
    "ModelConfig",
    "TrainingConfig",
    "ResourcesConfig",
    "OutputsConfig",
    "SweepConfig",
    "StoppingConfig",
    "MODEL_PARAMS",
    "MODEL_DEFAULTS",
    "resolve_model",
    "Experiment",
    "SECTIONS",
    "load_experiment",
    "parse_experiment",
    "parse_override",
    "with_overrides",
]


DatasetName = Literal["mnist", "fashion_mnist", "notmnist", "mnist_sample"]
ModelName = Literal[
    "lenet5",  # conv6@5x5 same - pool - conv16@5x5 valid - pool - FC120 - FC84 - FC10 (61,706 params)
    "lenet5_wide",  # conv32@5x5 same - maxpool - conv64@5x5 same - maxpool - FC512 (dropout) - FC10
    "one_conv",  # convF@KxK same - maxpool2 - dropout - FC10
    "stride_conv",  # 2x conv16@5x5 stride 2 same - FC64 - FC10
    "stride_conv_maxpool",  # 2x (conv16@5x5 same - maxpool2) - FC64 - FC10
    "lenet5_avgpool",  # conv5x5 valid - avgpool - conv5x5 valid - avgpool - FC - FC (dropout) - FC
    "keras_lenet",  # 2x (conv, conv, maxpool, dropout) - dense (dropout) - output
    "conv_pool_relu",  # conv6@5x5 - maxpool - relu - conv16@5x5 - maxpool - relu - FC128 - FC10, same padding
]
Activation = Literal["sigmoid", "relu", "tanh"]
OptimizerName = Literal["sgd", "adam", "rmsprop"]
BatchScope = Literal["global", "per_replica"]
Schedule = Literal["constant", "exponential", "step"]
Monitor = Literal["val_loss", "val_accuracy", "loss", "accuracy"]

# The architecture parameters each model has (beyond name and activation, which all have).
# Setting one a model does not have is a config error. Defaults live in trainers/models.py.
MODEL_PARAMS: dict[str, frozenset[str]] = {
    "lenet5": frozenset({"pooling", "dropout", "initializer", "init_stddev", "bias_init"}),
    "lenet5_wide": frozenset({"filters", "kernel_size", "hidden_units", "dropout", "initializer", "init_stddev", "bias_init"}),
    "one_conv": frozenset({"filters", "kernel_size", "dropout", "initializer", "init_stddev", "bias_init"}),
    "stride_conv": frozenset({"filters", "kernel_size", "hidden_units", "initializer", "init_stddev", "bias_init"}),
    "stride_conv_maxpool": frozenset({"filters", "kernel_size", "hidden_units", "initializer", "init_stddev", "bias_init"}),
    "lenet5_avgpool": frozenset({"filters", "kernel_size", "hidden_units", "pooling", "dropout", "initializer", "init_stddev", "bias_init"}),
    "keras_lenet": frozenset({"filters", "kernel_size", "hidden_units", "pool_size", "dropout", "initializer", "init_stddev", "bias_init"}),
    "conv_pool_relu": frozenset({"filters", "kernel_size", "hidden_units", "padding", "initializer", "init_stddev", "bias_init"}),
}


@dataclass(frozen=True)
class DatasetConfig:
    """Which data a trial trains on. ``data_dir`` says where files are, not what they are,
    so it is not part of a trial's identity."""

    name: DatasetName = "mnist_sample"
    # Directory holding the dataset's IDX .gz files (or Keras' <name>.npz; notMNIST.pickle).
    # None: $ORCH_DATA_DIR/<name> (for mnist also $ORCH_DATA_DIR), then the download cache.
    data_dir: str | None = None
    # Held out from the *end* of the training images: a fraction (< 1) or a count (>= 1).
    # MNIST's customary 55,000/5,000 split is validation: 5000.
    validation: float = 0.1
    # For data that comes without a test split (the notMNIST IDX test set alone): held out
    # from the end as test, fraction or count, before validation is taken. null: the
    # dataset's own test split.
    test: float | None = None
    # Scale pixels to [0, 1]; false feeds raw 0-255 values, as some references did.
    normalize: bool = True
    # notMNIST as the course's pickle file: unpickling runs code, so it needs this flag.
    allow_pickle: bool = False


# The value each ``null`` architecture parameter takes, per model: the reference
# architecture's. Only parameters the model has appear; list lengths here are the lengths a
# model requires (one entry per conv layer / block or hidden dense layer).
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "lenet5": {"pooling": "max"},
    "lenet5_wide": {"filters": [32, 64], "kernel_size": 5, "hidden_units": [512]},
    "one_conv": {"filters": [32], "kernel_size": 5},
    "stride_conv": {"filters": [16, 16], "kernel_size": 5, "hidden_units": [64]},
    "stride_conv_maxpool": {"filters": [16, 16], "kernel_size": 5, "hidden_units": [64]},
    "lenet5_avgpool": {"filters": [6, 16], "kernel_size": 5, "hidden_units": [120, 84], "pooling": "avg"},
    # The Keras mnist_cnn example: NUM_CONV (kernel size) 3, NUM_POOL (pool window) 2.
    "keras_lenet": {"filters": [32, 64], "kernel_size": 3, "hidden_units": [128], "pool_size": 2},
    "conv_pool_relu": {"filters": [6, 16], "kernel_size": 5, "hidden_units": [128], "padding": "same"},
}


@dataclass(frozen=True)
class ModelConfig:
    """Architecture. ``null`` parameters take the model's own default (the reference's);
    MODEL_PARAMS lists which parameters each model has."""

    name: ModelName = "lenet5"
    activation: Activation = "relu"
    filters: list[int] | None = None  # per conv layer (keras_lenet: per block)
    kernel_size: int | None = None
    hidden_units: list[int] | None = None  # hidden dense layers
    pooling: Literal["max", "avg"] | None = None
    padding: Literal["same", "valid"] | None = None
    # keras_lenet: pooling window (the Keras example's NUM_POOL; its NUM_CONV, the conv
    # kernel size, is kernel_size here).
    pool_size: int | None = None
    # Keras' rate: the fraction *dropped*. TF1 references give keep_prob (0.75 -> 0.25).
    dropout: float = 0.0
    # "keras": Keras defaults (Glorot uniform, zero bias). "truncated_normal": weights from a
    # truncated normal with init_stddev and constant bias_init, as the TF1 references did.
    initializer: Literal["keras", "truncated_normal"] = "keras"
    init_stddev: float = 0.1
    bias_init: float = 0.1


@dataclass(frozen=True)
class TrainingConfig:
    optimizer: OptimizerName = "adam"
    learning_rate: float = 1e-3
    # SGD with momentum > 0 is SGD+momentum; nesterov needs sgd and momentum > 0.
    # RMSprop accepts a momentum too; Adam does not.
    momentum: float = 0.0
    nesterov: bool = False
    batch_size: int = 128
    # "global": batch_size images per step across all replicas (each replica gets
    # batch_size / replicas). "per_replica": each replica gets batch_size.
    batch_size_scope: BatchScope = "global"
    epochs: int = 1
    seed: int = 0
    # Weight penalties on the kernels of the chosen layers (added to the loss).
    l1: float = 0.0
    l2: float = 0.0
    regularize: Literal["all", "conv", "dense"] = "all"
    # Learning rate over time. exponential: lr * decay_rate ** (t / decay_steps), t counted
    # in decay_unit (optimizer steps or epochs), floored when staircase. step: lr *
    # decay_rate ** floor(epoch / decay_steps), i.e. drop every decay_steps epochs.
    lr_schedule: Schedule = "constant"
    decay_rate: float = 0.95
    decay_steps: int = 1
    decay_unit: Literal["step", "epoch"] = "epoch"
    staircase: bool = False
    # Clip each gradient's norm (null: no clipping).
    clipnorm: float | None = None
    # Shift each training image by up to this fraction of its height and width, at random
    # per image and epoch (0: off). Validation and test images are never shifted.
    augment_shift: float = 0.0
    # Stop when the monitored metric has not improved for this many epochs (null: off).
    early_stopping_patience: int | None = None
    early_stopping_monitor: Monitor = "val_loss"
    restore_best_weights: bool = True


@dataclass(frozen=True)
class ResourcesConfig:
    """Where trials run. Not part of a trial's identity: the same trial on other hardware
    is the same experiment."""

    # Devices in each trial's MirroredStrategy: GPUs per trial on GPU hosts; on hosts
    # without GPUs the CPU is split into this many logical devices (tests the
    # multi-replica path; slower than one device).
    replicas: int = 1
    # Long-lived trainer actors. None: one per CPU core (CPU hosts) or one per
    # `replicas` GPUs (GPU hosts).
    trainers: int | None = None
    # CPU cores reserved per trainer; TensorFlow uses this many threads.
    cpus_per_trainer: int = 1
    # Times a trial whose trainer process died is re-run before it is stored as failed.
    max_retries: int = 2
    # Stop the sweep after this many trials in a row end failed (a broken config or node
    # fails them all alike); null: never.
    max_consecutive_failures: int | None = 5
    # GPU packing: trainers sharing each GPU (replicas must be 1). Each asks Ray for
    # 1/trainers_per_gpu of a GPU, and TensorFlow grows its memory as needed.
    trainers_per_gpu: int = 1
    # Cap each trainer's GPU memory (MiB) instead of growing it; with packing, keeps one
    # trainer from starving the others. null: memory growth.
    gpu_memory_mb: int | None = None


@dataclass(frozen=True)
class OutputsConfig:
    """What trials leave beside their results, under the store. Not part of a trial's identity."""

    # Save a checkpoint every N epochs (0: never); a retried trial resumes from the last one.
    checkpoint_every: int = 1
    # Keep the final model in Keras format.
    save_model: bool = False
    # Per-trial TensorBoard event files with an HParams summary.
    tensorboard: bool = True


@dataclass(frozen=True)
class StoppingConfig:
    """When the sweep stops trials before their last epoch (see orchestrator/stopping.py).
    Not part of a trial's identity: it decides how far a trial runs, not what it computes;
    a stopped trial is stored with status ``stopped`` and the reason."""

    # Stop a trial whose training or validation loss is NaN or infinite.
    diverged: bool = True
    # After this many epochs, stop a trial whose validation accuracy is still within
    # chance_margin of chance (1 / classes); null: off.
    chance_after: int | None = None
    chance_margin: float = 0.5
    # Successive halving: at each rung epoch, a trial goes on only if its metric is among
    # the best `keep` fraction of the values seen at that rung so far. Empty: off.
    rungs: list[int] = field(default_factory=list)
    keep: float = 0.5
    metric: Literal["val_accuracy", "val_loss"] = "val_accuracy"


@dataclass(frozen=True)
class SweepConfig:
    # Dotted field path (as in the YAML, e.g. "training.learning_rate") -> list of values.
    grid: dict[str, list[Any]] = field(default_factory=dict)
    # Every grid point runs once per seed. Empty: training.seed alone.
    seeds: list[int] = field(default_factory=list)


SECTIONS: dict[str, type] = {
    "dataset": DatasetConfig,
    "model": ModelConfig,
    "training": TrainingConfig,
    "resources": ResourcesConfig,
    "outputs": OutputsConfig,
    "stopping": StoppingConfig,
}


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str = ""
    dataset: DatasetConfig = DatasetConfig()
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    resources: ResourcesConfig = ResourcesConfig()
    outputs: OutputsConfig = OutputsConfig()
    stopping: StoppingConfig = StoppingConfig()
    sweep: SweepConfig = SweepConfig()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_TOP_LEVEL = ("name", "description", *SECTIONS, "sweep")
_SWEEP_KEYS = ("grid", "seeds")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-3`` as a float (YAML 1.1 wants ``1.0e-3``, which nobody writes)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _yaml_load(text: str, origin: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as e:
        raise ConfigError(f"{origin}: not valid YAML: {e}".replace("\n", " ")) from e


def load_experiment(
    path: str | Path, overrides: list[str] = (), name: str | None = None
) -> Experiment:
    """Read an experiment file, apply ``--set`` style overrides, validate everything.

    The sweep's name is the file's ``name``, else the file's stem; ``name`` replaces both.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such experiment file; check the path") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read experiment file: {e.strerror}") from e
    raw = _yaml_load(text, str(path))
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: expected a mapping of sections ({', '.join(_TOP_LEVEL)}), "
            f"got {type(raw).__name__}"
        )
    raw.setdefault("name", path.stem)
    for item in overrides:
        key, value = parse_override(item)
        _set_dotted(raw, key, value)
    if name is not None:
        raw["name"] = name
    return parse_experiment(raw, origin=str(path))


def parse_override(item: str) -> tuple[str, Any]:
    """``"training.epochs=1"`` -> ``("training.epochs", 1)``; the value is read as YAML."""
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(
            f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. --set training.epochs=1"
        )
    return key, _yaml_load(value, f"--set {key}")


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = raw
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise ConfigError(f"--set {key}: {where} is not a section, so it has no field {parts[i + 1]!r}")
        node = child
    node[parts[-1]] = value


def parse_experiment(raw: dict[str, Any], origin: str = "<config>") -> Experiment:
    """Validate a plain mapping (as read from YAML) into an :class:`Experiment`."""
    _reject_unknown(raw, _TOP_LEVEL, where="", origin=origin)
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError(
            f"{origin}: name: expected 1-100 letters, digits, '_', '-' or '.', got {name!r}; "
            "set name: in the file or pass --name"
        )
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{origin}: description: expected text, got {type(description).__name__}")
    sections = {
        key: _parse_section(cls, raw.get(key), key, origin) for key, cls in SECTIONS.items()
    }
    sweep = _parse_sweep(raw.get("sweep"), origin)
    experiment = Experiment(name=name, description=description, sweep=sweep, **sections)
    check_experiment(experiment, origin)
    return experiment


def _reject_unknown(raw: dict[str, Any], allowed: tuple[str, ...], where: str, origin: str) -> None:
    for key in raw:
        if key not in allowed:
            label = f"{where}.{key}" if where else str(key)
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(allowed)}"
            raise ConfigError(f"{origin}: unknown key {label!r}; {hint}")


def _parse_section(cls: type, raw: Any, where: str, origin: str) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: {where}: expected a mapping of fields, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    _reject_unknown(raw, tuple(hints), where, origin)
    values = {key: coerce_field(hints[key], value, f"{where}.{key}", origin) for key, value in raw.items()}
    return cls(**values)


def field_type(path: str) -> Any:
    """The declared type of a dotted field path such as ``training.learning_rate``."""
    section, _, leaf = path.partition(".")
    cls = SECTIONS.get(section)
    if cls is None or not leaf:
        raise KeyError(path)
    return typing.get_type_hints(cls)[leaf]


def coerce_field(hint: Any, value: Any, key: str, origin: str) -> Any:
    """Check ``value`` against a field's type; ints are accepted where floats are expected."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, _UnionType) else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise ConfigError(f"{origin}: {key}: a value is required, got null")
    for option in options:
        if option is type(None):
            continue
        if typing.get_origin(option) is Literal:
            choices = typing.get_args(option)
            if value in choices:
                return value
            close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
            choose = f"choose one of {', '.join(map(str, choices))}"
            hint_text = f"did you mean {close[0]!r}? ({choose})" if close else choose
            raise ConfigError(f"{origin}: {key}: unknown value {value!r}; {hint_text}")
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if option is str and isinstance(value, str):
            return value
        if typing.get_origin(option) is list and isinstance(value, list) and value:
            (item,) = typing.get_args(option)
            return [coerce_field(item, v, f"{key}[{i}]", origin) for i, v in enumerate(value)]
    expected = " or ".join(_type_name(o) for o in options)
    raise ConfigError(f"{origin}: {key}: expected {expected}, got {type(value).__name__} {value!r}")


_UnionType = type(int | None)


def _type_name(option: Any) -> str:
    if typing.get_origin(option) is list:
        return f"a non-empty list of {_type_name(typing.get_args(option)[0])}"
    return "null" if option is type(None) else getattr(option, "__name__", str(option))


def _parse_sweep(raw: Any, origin: str) -> SweepConfig:
    if raw is None:
        return SweepConfig()
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: sweep: expected a mapping with grid: and seeds:, got {type(raw).__name__}")
    _reject_unknown(raw, _SWEEP_KEYS, "sweep", origin)
    grid_raw = raw.get("grid") or {}
    if not isinstance(grid_raw, dict):
        raise ConfigError(f"{origin}: sweep.grid: expected a mapping of dotted field -> list of values")
    all_fields = [f"{s}.{f}" for s, cls in SECTIONS.items() for f in typing.get_type_hints(cls)]
    grid: dict[str, list[Any]] = {}
    for path, values in grid_raw.items():
        try:
            hint = field_type(str(path))
        except KeyError:
            close = difflib.get_close_matches(str(path), all_fields, n=1)
            hint_text = f"did you mean {close[0]!r}?" if close else "axes are dotted fields such as training.learning_rate"
            raise ConfigError(f"{origin}: sweep.grid: unknown field {path!r}; {hint_text}") from None
        if path.startswith(("resources.", "outputs.", "stopping.")):
            section = path.split(".")[0]
            raise ConfigError(
                f"{origin}: sweep.grid: {path!r} says where or what a trial keeps, not what it "
                f"computes; set it once under {section}:"
            )
        if path == "training.seed":
            raise ConfigError(f"{origin}: sweep.grid: sweep seeds with sweep.seeds: [0, 1, ...], not the grid")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{origin}: sweep.grid.{path}: expected a non-empty list of values, got {values!r}")
        coerced = [coerce_field(hint, v, f"sweep.grid.{path}", origin) for v in values]
        if len(set(map(repr, coerced))) != len(coerced):
            raise ConfigError(f"{origin}: sweep.grid.{path}: values repeat in {values!r}; list each once")
        grid[path] = coerced
    seeds = raw.get("seeds") or []
    if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ConfigError(f"{origin}: sweep.seeds: expected a list of integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{origin}: sweep.seeds: seeds repeat in {seeds!r}; list each once")
    return SweepConfig(grid=grid, seeds=list(seeds))


def with_overrides(experiment: Experiment, values: dict[str, Any]) -> Experiment:
    """A copy of ``experiment`` with dotted fields replaced (values already validated)."""
    by_section: dict[str, dict[str, Any]] = {}
    for path, value in values.items():
        section, _, leaf = path.partition(".")
        by_section.setdefault(section, {})[leaf] = value
    changes = {
        section: dataclasses.replace(getattr(experiment, section), **fields)
        for section, fields in by_section.items()
    }
    return dataclasses.replace(experiment, **changes)


def check_experiment(experiment: Experiment, origin: str = "<config>") -> None:
    """Rules that span fields, checked for the base config and for every grid point."""
    from orchestrator.sweep import grid_points  # local: sweep imports this module

    for point in grid_points(experiment.sweep):
        _check_point(with_overrides(experiment, point), origin, point)

    def fail(message: str) -> None:
        raise ConfigError(f"{origin}: {message}")

    _check_resources(experiment.resources, fail)
    _check_stopping(experiment.stopping, fail)
    if experiment.outputs.checkpoint_every < 0:
        fail(f"outputs.checkpoint_every: must be >= 0 (0: no checkpoints), got {experiment.outputs.checkpoint_every}")


def _check_point(e: Experiment, origin: str, point: dict[str, Any]) -> None:
    where = f" (sweep point {point})" if point else ""
    t, d = e.training, e.dataset

    def fail(message: str) -> None:
        raise ConfigError(f"{origin}: {message}{where}")

    if not t.learning_rate > 0:
        fail(f"training.learning_rate: must be > 0, got {t.learning_rate}")
    if t.batch_size < 1:
        fail(f"training.batch_size: must be >= 1, got {t.batch_size}")
    if t.epochs < 1:
        fail(f"training.epochs: must be >= 1, got {t.epochs}")
    if not 0 <= t.momentum < 1:
        fail(f"training.momentum: must be in [0, 1), got {t.momentum}")
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
        if value is not None and not (0 < value < 1 or (value >= 1 and float(value).is_integer())):
            fail(f"dataset.{key}: expected a fraction in (0, 1) or a whole count >= 1, got {value}")
    if d.test is not None and d.name != "notmnist":
        fail(f"dataset.test: {d.name} has its own test split; remove test")
    if d.allow_pickle and d.name != "notmnist":
        fail("dataset.allow_pickle: only notmnist reads a pickle; remove it")
    _check_model(e.model, fail)
    for key in ("l1", "l2"):
        if getattr(t, key) < 0:
            fail(f"training.{key}: must be >= 0, got {getattr(t, key)}")
    if not 0 < t.decay_rate <= 1:
        fail(f"training.decay_rate: must be in (0, 1], got {t.decay_rate}")
    if t.decay_steps < 1:
        fail(f"training.decay_steps: must be >= 1, got {t.decay_steps}")
    if t.lr_schedule == "step" and (t.decay_unit != "epoch" or t.staircase):
        fail("training.lr_schedule: step decay is per epoch and stepwise already; drop decay_unit/staircase")
    if t.clipnorm is not None and not t.clipnorm > 0:
        fail(f"training.clipnorm: must be > 0 or null, got {t.clipnorm}")
    if not 0 <= t.augment_shift < 0.5:
        fail(f"training.augment_shift: a fraction of the image size in [0, 0.5), got {t.augment_shift}")
    if t.early_stopping_patience is not None and t.early_stopping_patience < 0:
        fail(f"training.early_stopping_patience: must be >= 0 or null (off), got {t.early_stopping_patience}")


def _check_resources(r: ResourcesConfig, fail: Any) -> None:
    if r.replicas < 1:
        fail(f"resources.replicas: must be >= 1, got {r.replicas}")
    if r.cpus_per_trainer < 1:
        fail(f"resources.cpus_per_trainer: must be >= 1, got {r.cpus_per_trainer}")
    if r.trainers is not None and r.trainers < 1:
        fail(f"resources.trainers: must be >= 1 or null (one per core), got {r.trainers}")
    if r.max_retries < 0:
        fail(f"resources.max_retries: must be >= 0, got {r.max_retries}")
    if r.max_consecutive_failures is not None and r.max_consecutive_failures < 1:
        fail(f"resources.max_consecutive_failures: must be >= 1 or null (never stop), got {r.max_consecutive_failures}")
    if r.trainers_per_gpu < 1:
        fail(f"resources.trainers_per_gpu: must be >= 1, got {r.trainers_per_gpu}")
    if r.trainers_per_gpu > 1 and r.replicas > 1:
        fail("resources.trainers_per_gpu: packing shares one GPU between trainers; it needs replicas: 1")
    if r.gpu_memory_mb is not None and r.gpu_memory_mb < 1:
        fail(f"resources.gpu_memory_mb: must be >= 1 or null (memory growth), got {r.gpu_memory_mb}")


def _check_stopping(s: StoppingConfig, fail: Any) -> None:
    if s.chance_after is not None and s.chance_after < 1:
        fail(f"stopping.chance_after: epochs of grace, must be >= 1 or null (off), got {s.chance_after}")
    if not s.chance_margin > 0:
        fail(f"stopping.chance_margin: must be > 0, got {s.chance_margin}")
    if not 0 < s.keep < 1:
        fail(f"stopping.keep: the fraction of trials going on at each rung, in (0, 1), got {s.keep}")
    if any(r < 1 for r in s.rungs) or sorted(set(s.rungs)) != s.rungs:
        fail(f"stopping.rungs: epochs in increasing order, each >= 1, got {s.rungs}")


def resolve_model(config: ModelConfig) -> ModelConfig:
    """``config`` with every ``null`` parameter of its model set to the model's default, so
    that leaving a parameter out and writing its default are the same trial."""
    filled = {
        key: list(value) if isinstance(value, list) else value
        for key, value in MODEL_DEFAULTS[config.name].items()
        if getattr(config, key) is None
    }
    return dataclasses.replace(config, **filled)


def _check_model(m: ModelConfig, fail: Any) -> None:
    defaults = ModelConfig()
    allowed = MODEL_PARAMS[m.name]
    for f in dataclasses.fields(ModelConfig):
        if f.name in ("name", "activation") or f.name in allowed:
            continue
        if getattr(m, f.name) != getattr(defaults, f.name):
            fail(f"model.{f.name}: model {m.name!r} has no such parameter; it takes: {', '.join(sorted(allowed))}")
    if not 0 <= m.dropout < 1:
        fail(f"model.dropout: must be in [0, 1) (the fraction dropped), got {m.dropout}")
    for key in ("kernel_size", "pool_size"):
        value = getattr(m, key)
        if value is not None and value < 1:
            fail(f"model.{key}: must be >= 1, got {value}")
    for key in ("filters", "hidden_units"):
        values = getattr(m, key)
        if values is None:
            continue
        if min(values) < 1:
            fail(f"model.{key}: every entry must be >= 1, got {values}")
        default = MODEL_DEFAULTS[m.name].get(key)
        if default is not None and len(values) != len(default):
            fail(
                f"model.{key}: {m.name} needs {len(default)} entries, got {values}; "
                f"e.g. {key}: {default}"
            )
    if not m.init_stddev > 0:
        fail(f"model.init_stddev: must be > 0, got {m.init_stddev}")
