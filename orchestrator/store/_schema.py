"""Explicit Arrow schemas of the two results tables, and rows built from trial results.

``trials``: one row per run of a trial (params as typed columns, status, final metrics,
timings, where it ran). ``epochs``: one row per epoch of a run. Rows of the two tables join
on ``run_id``; a trial exists once its ``trials`` row is written.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Literal

import pyarrow as pa

from orchestrator._version import __version__
from orchestrator.config import SECTIONS
from orchestrator.config._fields import Builder
from orchestrator.config._objectives import RESERVED_METRIC_NAMES, ClassWeight, LossSpec, MetricSpec
from orchestrator.trial import (
    IDENTITY_SECTIONS,
    DATASET_PARAM_PREFIX,
    USER_PARAM_PREFIX,
    TrialResult,
    TrialSpec,
    identity_fields,
    param_column,
)

__all__ = [
    "SCHEMA_VERSION", "TRIALS_SCHEMA", "EPOCHS_SCHEMA", "PARAM_COLUMNS", "METRIC_COLUMNS", "TIMING_COLUMNS",
    "trial_row", "epoch_rows", "trials_table", "epochs_table", "user_param_columns", "param_columns", "extra_columns",
]

# Written into every file's metadata; bump when a column changes meaning.
SCHEMA_VERSION = "1"

# model.builder is stored as its label (orchestrator.usercode.builder_label): text.
_SCALARS = {str: pa.string(), float: pa.float64(), int: pa.int64(), bool: pa.bool_(), Builder: pa.string(),
            LossSpec: pa.string(), MetricSpec: pa.string(), ClassWeight: pa.string()}


def _arrow_type(hint: Any) -> pa.DataType:
    if typing.get_origin(hint) in (Literal, list):
        option = hint
    else:  # T | None
        (option,) = [o for o in typing.get_args(hint) or (hint,) if o is not type(None)]
    if typing.get_origin(option) is Literal:
        return pa.string()
    if typing.get_origin(option) is list:
        return pa.list_(_arrow_type(typing.get_args(option)[0]))
    return _SCALARS[option]


def _param_fields() -> list[pa.Field]:
    hints = {section: typing.get_type_hints(SECTIONS[section]) for section in IDENTITY_SECTIONS}
    return [
        pa.field(param_column(section, f.name), _arrow_type(hints[section][f.name]))
        for section, f in identity_fields()
    ]


# The user's data by content (first 16 hex digits of its digest); null for built-in datasets.
_PARAMS = [*_param_fields(), pa.field("data_digest", pa.string())]
PARAM_COLUMNS: tuple[str, ...] = tuple(f.name for f in _PARAMS)

METRIC_COLUMNS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy")
TIMING_COLUMNS = (
    "data_seconds", "build_seconds", "first_epoch_seconds", "steady_epoch_seconds",
    "eval_seconds", "train_seconds", "total_seconds", "images_per_second",
)

_UTC = pa.timestamp("us", tz="UTC")
_META = {b"orch.schema_version": SCHEMA_VERSION.encode()}

TRIALS_SCHEMA = pa.schema(
    [
        pa.field("sweep", pa.string(), nullable=False),
        pa.field("trial_id", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        *_PARAMS,
        pa.field("epochs_run", pa.int64()),
        *(pa.field(c, pa.float64()) for c in METRIC_COLUMNS),
        pa.field("param_count", pa.int64()),
        pa.field("global_batch_size", pa.int64()),
        *(pa.field(c, pa.float64()) for c in TIMING_COLUMNS),
        pa.field("host", pa.string()),
        pa.field("node_id", pa.string()),
        pa.field("device_kind", pa.string()),
        pa.field("device_count", pa.int64()),
        pa.field("attempts", pa.int64()),
        pa.field("resumed_epochs", pa.int64()),
        # Trials trained together as one fused model (resources.fuse); 1: alone. Rows written
        # before fusion existed read it as null.
        pa.field("fused_with", pa.int64()),
        pa.field("fusion_rates", pa.string()),
        pa.field("tensorflow_version", pa.string()),
        pa.field("keras_version", pa.string()),
        pa.field("orch_version", pa.string()),
        pa.field("started_at", _UTC),
        pa.field("ended_at", _UTC),
        pa.field("error", pa.string()),
        pa.field("stop_reason", pa.string()),
    ],
    metadata=_META,
)

EPOCHS_SCHEMA = pa.schema(
    [
        pa.field("sweep", pa.string(), nullable=False),
        pa.field("trial_id", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("epoch", pa.int32(), nullable=False),
        pa.field("loss", pa.float64()),
        pa.field("accuracy", pa.float64()),
        pa.field("val_loss", pa.float64()),
        pa.field("val_accuracy", pa.float64()),
        pa.field("seconds", pa.float64()),
    ],
    metadata=_META,
)


def trial_row(spec: TrialSpec, result: TrialResult, run_id: str) -> dict[str, Any]:
    last = result.final_epoch
    row: dict[str, Any] = {
        "sweep": spec.sweep,
        "trial_id": spec.trial_id,
        "run_id": run_id,
        "status": result.status.value,
        **spec.params(),
        "epochs_run": len(result.epochs),
        "train_loss": last.loss if last else None,
        "train_accuracy": last.accuracy if last else None,
        "val_loss": last.val_loss if last else None,
        "val_accuracy": last.val_accuracy if last else None,
        "orch_version": __version__,
    }
    # training.metrics: the last epoch's on train and validation data, and on test.
    for name, value in (last.metrics if last else {}).items():
        row[name if name.startswith("val_") else f"train_{name}"] = value
    for name, value in result.test_metrics.items():
        row[f"test_{name}"] = value
    for name in TRIALS_SCHEMA.names:
        if name not in row:
            row[name] = getattr(result, name)
    return row


def epoch_rows(spec: TrialSpec, result: TrialResult, run_id: str) -> list[dict[str, Any]]:
    return [
        {"sweep": spec.sweep, "trial_id": spec.trial_id, "run_id": run_id, **dataclasses.asdict(e)}
        for e in result.epochs
    ]


Run = tuple[TrialSpec, TrialResult, str]  # one run of a trial: spec, result, run id


def trials_table(runs: list[Run]) -> pa.Table:
    """The ``trials`` rows of several runs, in ``TRIALS_SCHEMA``, then one column per key of
    the builders' ``model.params`` (``model_<key>``, typed from the values; null in rows
    without that key). Readers see those columns beside the fixed ones."""
    rows = [trial_row(*run) for run in runs]
    table = pa.Table.from_pylist(rows, schema=TRIALS_SCHEMA)
    extra = list(dict.fromkeys(k for row in rows for k in extra_columns(list(row))))
    for name in extra:
        array = _user_array([row.get(name) for row in rows])
        table = table.append_column(pa.field(name, array.type), array)
    return table


def _user_array(values: list[Any]) -> pa.Array:
    # Ints and floats in one column (a grid of [1, 0.5]) are floats.
    if any(isinstance(v, float) for v in values) and all(v is None or isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        values = [None if v is None else float(v) for v in values]
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed kinds (text and numbers): stored as their text
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    return array.cast(pa.string()) if pa.types.is_null(array.type) else array


_SPLIT_PREFIXES = ("train_", "val_", "test_")


def extra_columns(names: list[str] | tuple[str, ...], table: str = "trials") -> list[str]:
    """The columns among ``names`` that a sweep adds to the table's fixed schema: in
    ``trials`` the builders' ``model_<key>`` and the metrics' ``train_/val_/test_<name>``
    (training.metrics), in ``epochs`` the metrics' ``<name>`` and ``val_<name>``."""
    if table == "trials":
        return [n for n in names if n not in TRIALS_SCHEMA.names
                and n.startswith((USER_PARAM_PREFIX, DATASET_PARAM_PREFIX, *_SPLIT_PREFIXES))]
    return [n for n in names if n not in EPOCHS_SCHEMA.names]


def _check_reserved_metric_names() -> None:
    """A metric's columns never clash with orch's own: every fixed column a metric's name
    could produce is reserved in config/_objectives.py."""
    produced = [c.split("_", 1)[1] for c in TRIALS_SCHEMA.names if c.startswith(_SPLIT_PREFIXES)]
    produced += [c.removeprefix("val_") for c in EPOCHS_SCHEMA.names if c not in ("sweep", "trial_id", "run_id")]
    missing = sorted(set(produced) - set(RESERVED_METRIC_NAMES))
    if missing:
        raise RuntimeError(f"metric names {missing} would clash with fixed columns; add them to RESERVED_METRIC_NAMES")


def user_param_columns(names: list[str] | tuple[str, ...]) -> list[str]:
    """The ``model.params`` and ``dataset.params`` columns among ``names`` (``model_<key>``, ``dataset_<key>``)."""
    return [n for n in names if n.startswith((USER_PARAM_PREFIX, DATASET_PARAM_PREFIX)) and n not in TRIALS_SCHEMA.names]


def param_columns(names: list[str] | tuple[str, ...]) -> list[str]:
    """Every params column of a trials table with columns ``names``: the fixed ones, then
    the builders' ``model_<key>`` columns it has."""
    return [*PARAM_COLUMNS, *user_param_columns(names)]


def epochs_table(runs: list[Run]) -> pa.Table:
    """The ``epochs`` rows of several runs, in ``EPOCHS_SCHEMA``, built column by column:
    a million epoch rows as dicts would take seconds; as columns they take a fraction."""
    keys: dict[str, list[Any]] = {"sweep": [], "trial_id": [], "run_id": []}
    for spec, result, run_id in runs:
        n = len(result.epochs)
        keys["sweep"] += [spec.sweep] * n
        keys["trial_id"] += [spec.trial_id] * n
        keys["run_id"] += [run_id] * n
    records = [e for _, result, _ in runs for e in result.epochs]
    columns = {
        name: keys[name] if name in keys else [getattr(e, name) for e in records]
        for name in EPOCHS_SCHEMA.names
    }
    table = pa.Table.from_pydict(columns, schema=EPOCHS_SCHEMA)
    # training.metrics' <name> and val_<name>, float64; null in epochs of trials without them.
    for name in dict.fromkeys(k for e in records for k in e.metrics):
        table = table.append_column(pa.field(name, pa.float64()), pa.array([e.metrics.get(name) for e in records], pa.float64()))
    return table


_check_reserved_metric_names()
