"""Per-trial TensorBoard logs: per-epoch scalars, the test metrics, and an HParams summary,
so that ``tensorboard --logdir <store>/tensorboard`` shows a whole sweep in the HParams
dashboard with the test accuracy beside the validation curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
from tensorboard.plugins.hparams import api as hp

from orchestrator.config import MODEL_PARAMS, ModelConfig
from orchestrator.trial import TrialSpec

__all__ = ["tensorboard_callbacks", "hparams_of", "write_test_metrics", "TEST_RUN"]

TEST_RUN = "test"  # the run (sub-directory) holding test_accuracy and test_loss
_MODEL_FIELDS = frozenset(f for f in ModelConfig.__dataclass_fields__ if f not in ("name", "builder", "params"))


def _applies(name: str, spec: TrialSpec) -> bool:
    """Whether the params column ``name`` means something for this trial's model: a user
    builder has none of the built-ins' architecture fields; a built-in only its own (and
    the truncated-normal settings only with that initializer)."""
    if name not in _MODEL_FIELDS:
        return True
    model = spec.model
    if model.builder is not None:
        return False
    if name in ("init_stddev", "bias_init"):
        return model.initializer == "truncated_normal"
    return name == "activation" or name in MODEL_PARAMS.get(model.name or "", frozenset())


def _value(value: Any) -> Any:
    """An HParams value: bool, int, float or text. A whole float of a builder's param
    (``convs: 2.0`` from YAML or a mixed grid) is shown as the integer it is."""
    if isinstance(value, list):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def hparams_of(spec: TrialSpec) -> dict[str, Any]:
    """The trial's params as HParams values: only the fields that apply to its model, a
    builder's as ``model_<key>``; integers as integers, lists as text, unset params left out."""
    values: dict[str, Any] = {}
    builder_params = {f"model_{k}" for k in spec.model.params}
    for name, value in spec.params().items():
        if value is None or not _applies(name, spec):
            continue
        values[name] = _value(value) if name in builder_params or isinstance(value, list) else value
    return values


def tensorboard_callbacks(spec: TrialSpec, log_dir: Path) -> list[keras.callbacks.Callback]:
    log_dir.mkdir(parents=True, exist_ok=True)
    return [
        # Epoch scalars only: no graph, no profiler (both cost seconds per trial).
        keras.callbacks.TensorBoard(log_dir=str(log_dir), write_graph=False, profile_batch=0),
        hp.KerasCallback(str(log_dir), hparams_of(spec), trial_id=spec.trial_id),
    ]


def write_test_metrics(log_dir: Path, test_loss: float, test_accuracy: float | None, step: int,
                       metrics: dict[str, float] | None = None) -> None:
    """``test_accuracy`` (classifiers), ``test_loss`` and ``test_<metric>`` of each
    training.metrics entry as scalars of the trial's ``test`` run, at the last epoch: the
    HParams dashboard lists them as metrics beside the validation ones."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(log_dir / TEST_RUN))
    with writer.as_default():
        if test_accuracy is not None:
            tf.summary.scalar("test_accuracy", test_accuracy, step=step)
        tf.summary.scalar("test_loss", test_loss, step=step)
        for name, value in (metrics or {}).items():
            tf.summary.scalar(f"test_{name}", value, step=step)
    writer.close()
