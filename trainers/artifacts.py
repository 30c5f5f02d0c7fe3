"""What a trial keeps beside its results: checkpoints to resume from, TensorBoard logs,
the final model. Paths live under ``<store>/`` so every node of a cluster that mounts the
store can reach them::

    <store>/checkpoints/<sweep>/<trial_id>/model.keras + state.json   (deleted once the trial ends)
    <store>/tensorboard/<sweep>/<trial_id>/                           scalars per epoch + HParams
    <store>/models/<sweep>/<trial_id>.keras                           when outputs.save_model

Runs in the trainer process. Unlike the results tables (written only by the driver),
each trial's artifacts are written by the trainer running it: one writer per trial id.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import keras

from orchestrator.trial import EpochRecord, TrialSpec

__all__ = ["TrialArtifacts"]


class TrialArtifacts:
    def __init__(self, spec: TrialSpec) -> None:
        root = Path(spec.artifacts_root) if spec.artifacts_root else None
        self._checkpoint = root / "checkpoints" / spec.sweep / spec.trial_id if root else None
        self.tensorboard_dir = root / "tensorboard" / spec.sweep / spec.trial_id if root else None
        self.model_path = root / "models" / spec.sweep / f"{spec.trial_id}.keras" if root else None

    # -- checkpoints -------------------------------------------------------------------

    def load_checkpoint(self) -> tuple[keras.Model, list[EpochRecord]] | None:
        """The model (weights and optimizer state) and epoch records of the last checkpoint
        of this trial, or None. Call inside the strategy's scope."""
        if self._checkpoint is None or not (self._checkpoint / "state.json").exists():
            return None
        state = json.loads((self._checkpoint / "state.json").read_text())
        model = keras.models.load_model(self._checkpoint / state["model"])
        return model, [EpochRecord(**r) for r in state["epochs"]]

    def save_checkpoint(self, model: keras.Model, epochs: list[EpochRecord]) -> None:
        """Model file first, then state.json naming it, each by atomic rename: a crash at
        any point leaves the previous checkpoint intact."""
        if self._checkpoint is None:
            return
        self._checkpoint.mkdir(parents=True, exist_ok=True)
        name = f"model-{len(epochs)}.keras"
        tmp = self._checkpoint / f".tmp-{name}"  # Keras insists on the .keras suffix
        model.save(tmp)
        os.replace(tmp, self._checkpoint / name)
        state = {"model": name, "epochs": [dataclasses.asdict(e) for e in epochs]}
        tmp_state = self._checkpoint / ".tmp-state.json"
        tmp_state.write_text(json.dumps(state))
        os.replace(tmp_state, self._checkpoint / "state.json")
        for old in self._checkpoint.glob("model-*.keras"):
            if old.name != name:
                old.unlink()

    def clear_checkpoints(self) -> None:
        """A finished trial needs no resume point (and a --rerun must start from scratch)."""
        if self._checkpoint is not None:
            shutil.rmtree(self._checkpoint, ignore_errors=True)

    # -- final model ---------------------------------------------------------------------

    def save_model(self, model: keras.Model) -> None:
        if self.model_path is None:
            return
        self.model_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.model_path.with_name(f".tmp-{self.model_path.name}")
        model.save(tmp)
        os.replace(tmp, self.model_path)
