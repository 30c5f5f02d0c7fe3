"""Per-trial TensorBoard logs: per-epoch scalars plus an HParams summary, so that
``tensorboard --logdir <store>/tensorboard`` shows a whole sweep in the HParams dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
from tensorboard.plugins.hparams import api as hp

from orchestrator.trial import TrialSpec

__all__ = ["tensorboard_callbacks", "hparams_of"]


def hparams_of(spec: TrialSpec) -> dict[str, Any]:
    """The trial's params as HParams values: bool/int/float/str only (lists become text,
    unset optional params are left out)."""
    values: dict[str, Any] = {}
    for name, value in spec.params().items():
        if value is None:
            continue
        values[name] = str(value) if isinstance(value, list) else value
    return values


def tensorboard_callbacks(spec: TrialSpec, log_dir: Path) -> list[keras.callbacks.Callback]:
    log_dir.mkdir(parents=True, exist_ok=True)
    return [
        # Epoch scalars only: no graph, no profiler (both cost seconds per trial).
        keras.callbacks.TensorBoard(log_dir=str(log_dir), write_graph=False, profile_batch=0),
        hp.KerasCallback(str(log_dir), hparams_of(spec), trial_id=spec.trial_id),
    ]
