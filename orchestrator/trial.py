"""What one trial is (``TrialSpec``) and what running it produced (``TrialResult``).

These plain dataclasses are the contract between the orchestrator, the trainers and the
store: the trainer receives a ``TrialSpec`` and returns a ``TrialResult``; the store writes
``TrialResult`` rows. Pure Python: imports neither TensorFlow nor Ray.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.config import (
    SECTIONS,
    DatasetConfig,
    ModelConfig,
    OutputsConfig,
    ResourcesConfig,
    StoppingConfig,
    TrainingConfig,
    is_user_function,
    loss_label,
    metric_label,
)
from orchestrator.data_identity import data_digest

__all__ = [
    "TRIAL_ID_VERSION", "IDENTITY_SECTIONS", "USER_PARAM_PREFIX", "DATASET_PARAM_PREFIX", "identity_fields", "param_column", "user_param_column",
    "dataset_param_column",
    "TrialStatus", "TrialSpec", "EpochRecord", "TrialResult", "trial_id_for",
]

# Bump when a code change alters what a given config computes (e.g. a different default
# initialiser): old results then no longer count as "already run".
TRIAL_ID_VERSION = 1

# Fields that say where or how a trial runs, not what it computes. The user's data
# (path, loader, params) is hashed by content instead: see _add_data_digest.
_NOT_IDENTITY = {"dataset": {"data_dir", "allow_pickle", "path", "loader", "params"}}
# Fields added after results were stored: while at their default (which is the behaviour
# from before they existed) they stay out of the hash, so stored trials keep their ids.
_ADDED_LATER = {"training": {"augment_shift", "loss", "metrics", "class_weight", "precision"}, "dataset": {"image_size"}, "model": {"builder", "params"}}
# Config fields that are not one column each: a builder's params become one column per key,
# model_<key> (USER_PARAM_PREFIX); no built-in column starts with it (checked below).
_NOT_A_COLUMN = {"model": {"params"}}
USER_PARAM_PREFIX = "model_"
# dataset.params.<key> (a loader's arguments) are columns dataset_<key> the same way.
DATASET_PARAM_PREFIX = "dataset_"


class TrialStatus(str, enum.Enum):
    COMPLETED = "completed"
    STOPPED = "stopped"  # ended early by a stopping rule; `stop_reason` says which and why
    FAILED = "failed"

    def is_final(self) -> bool:
        """A final result is kept; a re-run of the sweep skips it. Failed trials run again."""
        return self is not TrialStatus.FAILED


# The config sections that determine what a trial computes; resources and outputs only
# say where it runs and what it keeps.
IDENTITY_SECTIONS = ("dataset", "model", "training")


def identity_fields() -> list[tuple[str, dataclasses.Field]]:
    """(section, field) of every config field that determines a trial's result and has a
    column of its own, in the order of the params columns of the results tables."""
    return [
        (section, f)
        for section in IDENTITY_SECTIONS
        for f in dataclasses.fields(SECTIONS[section])
        if f.name not in _NOT_IDENTITY.get(section, ()) and f.name not in _NOT_A_COLUMN.get(section, ())
    ]


@functools.cache
def _identity_keys(cls: type) -> tuple[tuple[str, ...], tuple[tuple[str, Any], ...]]:
    """(fields always hashed, (field, default) pairs hashed only when not at their default)."""
    section = next(s for s, c in SECTIONS.items() if c is cls)
    defaults = cls()
    later = _ADDED_LATER.get(section, set())
    names = [f.name for f in dataclasses.fields(cls) if f.name not in _NOT_IDENTITY.get(section, ())]
    return (
        tuple(n for n in names if n not in later),
        tuple((n, getattr(defaults, n)) for n in names if n in later),
    )


def _identity(config: Any) -> dict[str, Any]:
    # Field by field rather than dataclasses.asdict, whose deep copies made planning 100,000
    # trials take 15 s; the values (scalars and lists of scalars) hash the same either way.
    always, later = _identity_keys(type(config))
    values = {name: getattr(config, name) for name in always}
    values.update((name, getattr(config, name)) for name, default in later if getattr(config, name) != default)
    return values


def _add_data_digest(values: dict[str, Any], dataset: DatasetConfig) -> None:
    """For the user's own data, add the digest of what it is (its bytes, or its loader's
    source and params; orchestrator/data_identity.py) to the dataset's identity fields.
    Built-in datasets get none, so their trials keep their ids."""
    digest = data_digest(dataset)
    if digest is not None:
        values["data"] = digest


def trial_id_for(
    dataset: DatasetConfig, model: ModelConfig, training: TrainingConfig, builder_code: str | None = None
) -> str:
    """Content hash of everything that determines a trial's result (resources excluded:
    the same trial on other hardware is the same experiment). A builder enters as its code
    (``builder_code``, from :func:`orchestrator.usercode.builder_code`; computed here when not
    given), not as its path: moving the file keeps the ids, editing it changes them."""
    configs = dict(zip(IDENTITY_SECTIONS, (dataset, model, training)))
    identity = {"version": TRIAL_ID_VERSION, **{s: _identity(c) for s, c in configs.items()}}
    _add_data_digest(identity["dataset"], dataset)
    if model.builder is not None:
        identity["model"]["builder"] = builder_code or _builder_code(model.builder)
    _functions_as_code(identity["training"])
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TrialSpec:
    sweep: str
    trial_id: str
    dataset: DatasetConfig
    model: ModelConfig
    training: TrainingConfig
    resources: ResourcesConfig
    outputs: OutputsConfig = OutputsConfig()
    stopping: StoppingConfig = StoppingConfig()
    # The grid point this trial is, as dotted field -> value (empty for a single config).
    point: dict[str, Any] = field(default_factory=dict)
    # Where trainers keep checkpoints, TensorBoard logs and models (a directory every node
    # can reach, under the results store); None: keep nothing.
    artifacts_root: str | None = None
    # Start from epoch 0 even where a checkpoint of an earlier run is kept (`orch run
    # --rerun`). Not identity: how a run starts, not what it computes. A retry after a
    # crash clears it, to go on from the crashed attempt's checkpoint.
    fresh_start: bool = False
    # The hash of the builder's source the trial id was made from (None: a built-in model):
    # a trainer checks that the code it imports is that code.
    builder_code: str | None = None

    def params(self) -> dict[str, Any]:
        """Every identity field as a flat column -> value mapping (columns are unique leaf
        names), then the builder's params as ``model_<key>`` columns."""
        values = {param_column(s, f.name): getattr(getattr(self, s), f.name) for s, f in identity_fields()}
        if self.model.builder is not None:
            values["builder"] = _builder_label(self.model.builder)
        values["loss_function"] = loss_label(self.training.loss)
        values["metrics"] = [metric_label(m) for m in self.training.metrics]
        if isinstance(self.training.class_weight, dict):  # text: a mapping is no column type
            values["class_weight"] = json.dumps({str(k): v for k, v in self.training.class_weight.items()})
        values.update((user_param_column(k), v) for k, v in self.model.params.items())
        values.update((dataset_param_column(k), v) for k, v in self.dataset.params.items())
        # What the user's data is (orchestrator/data_identity.py): tells trials on different
        # files apart; null for the built-in datasets, whose name says it.
        digest = data_digest(self.dataset)
        values["data_digest"] = digest[:16] if digest else None
        return values

    @property
    def label(self) -> str:
        """Short human name: the swept values, then the seed."""
        parts = [f"{path.split('.')[-1]}={value}" for path, value in self.point.items()]
        parts.append(f"seed={self.training.seed}")
        return " ".join(parts)


# training.loss is the column loss_function: "loss" is the loss's value in the epochs table.
_RENAMED = {("training", "loss"): "loss_function"}


def param_column(section: str, key: str) -> str:
    """Column name of a config field in the results tables: the leaf name, except the
    sections' ``name`` fields, which become ``dataset`` and ``model``, and ``training.loss``
    (``loss_function``)."""
    return section if key == "name" else _RENAMED.get((section, key), key)


def dataset_param_column(key: str) -> str:
    """Column of ``dataset.params.<key>`` in the results tables: ``dataset_<key>``."""
    return f"{DATASET_PARAM_PREFIX}{key}"


def user_param_column(key: str) -> str:
    """Column of ``model.params.<key>`` in the results tables: ``model_<key>``."""
    return f"{USER_PARAM_PREFIX}{key}"


def _builder_code(builder: Any) -> str:
    from orchestrator.usercode import builder_code  # reads files; only for builder models

    return builder_code(builder)


def _functions_as_code(training: dict[str, Any]) -> None:
    """The user's loss and metric functions enter a trial id as their code, as builders do:
    moving the file keeps the ids, editing it changes them."""
    if "loss" in training and is_user_function(training["loss"]):
        training["loss"] = _builder_code(training["loss"])
    if "metrics" in training:
        training["metrics"] = [_builder_code(m) if is_user_function(m) else m for m in training["metrics"]]


def _builder_label(builder: Any) -> str:
    from orchestrator.usercode import builder_label

    return builder_label(builder)


def _check_columns_unique() -> None:
    seen: dict[str, str] = {}
    for section, f in identity_fields():
        column = param_column(section, f.name)
        if column.startswith((USER_PARAM_PREFIX, DATASET_PARAM_PREFIX)):  # model.params / dataset.params keys own those
            raise RuntimeError(f"config field {section}.{f.name} has column {column!r}, which could clash with model.params")
        if column in seen:
            raise RuntimeError(f"config fields {seen[column]} and {section}.{f.name} share column {column!r}")
        seen[column] = f"{section}.{f.name}"


_check_columns_unique()


@dataclass
class EpochRecord:
    epoch: int  # 1-based
    loss: float
    accuracy: float | None  # None where the task has no accuracy (a regression)
    val_loss: float
    val_accuracy: float | None
    seconds: float
    # training.metrics on the epoch's training batches (<name>) and validation data (val_<name>).
    metrics: dict[str, float] = field(default_factory=dict)

    def value(self, name: str) -> float | None:
        """The epoch's ``loss``, ``val_accuracy``, ``mae``, ``val_mae`` ... (None: not logged)."""
        if name in ("loss", "accuracy", "val_loss", "val_accuracy"):
            return getattr(self, name)
        return self.metrics.get(name)


@dataclass
class TrialResult:
    """Everything one run of a trial produced. Times are seconds; timestamps are UTC."""

    trial_id: str
    status: TrialStatus
    started_at: datetime
    ended_at: datetime
    error: str | None = None
    stop_reason: str | None = None  # set when status is STOPPED
    epochs: list[EpochRecord] = field(default_factory=list)
    test_loss: float | None = None
    test_accuracy: float | None = None
    test_metrics: dict[str, float] = field(default_factory=dict)  # training.metrics on test data, by name
    param_count: int | None = None
    global_batch_size: int | None = None
    # Timings
    # Getting the dataset into the trainer (object-store fetch; 0 when the trainer already
    # holds it from an earlier trial). Set by the process that hosts the trainer.
    data_seconds: float | None = None
    build_seconds: float | None = None  # model + optimizer construction
    first_epoch_seconds: float | None = None  # includes tracing
    steady_epoch_seconds: float | None = None  # mean of epochs after the first
    eval_seconds: float | None = None
    train_seconds: float | None = None  # all epochs
    total_seconds: float | None = None  # whole trial, in the trainer
    images_per_second: float | None = None  # training images/s over steady epochs (first if only one)
    # Where it ran
    host: str = ""
    node_id: str = ""  # Ray node: tells apart several nodes on one host
    device_kind: str = ""  # "GPU" or "CPU"
    device_count: int = 0  # replicas in the strategy
    tensorflow_version: str = ""
    keras_version: str = ""
    attempts: int = 1  # set by the executor: runs including retries
    # Epochs restored from the checkpoint of an earlier run that died (0: started afresh).
    resumed_epochs: int = 0
    # Trials of the fused group it trained in (itself included; 1: alone). A resource choice:
    # the trial's result is the same in any group (trainers/fused.py).
    fused_with: int = 1
    # With resources.fuse: auto, the measurement K was chosen from: JSON {K: group steps/s}.
    fusion_rates: str | None = None

    @property
    def final_epoch(self) -> EpochRecord | None:
        return self.epochs[-1] if self.epochs else None
