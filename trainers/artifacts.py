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
import uuid
import warnings
from pathlib import Path

import keras

from orchestrator.trial import EpochRecord, TrialSpec

__all__ = ["TrialArtifacts", "CheckpointWarning"]


class CheckpointWarning(UserWarning):
    """A resume point that cannot be used was discarded; the trial starts from scratch."""


class TrialArtifacts:
    def __init__(self, spec: TrialSpec) -> None:
        root = Path(spec.artifacts_root) if spec.artifacts_root else None
        self._checkpoint = root / "checkpoints" / spec.sweep / spec.trial_id if root else None
        self.tensorboard_dir = root / "tensorboard" / spec.sweep / spec.trial_id if root else None
        self.model_path = root / "models" / spec.sweep / f"{spec.trial_id}.keras" if root else None

    # -- checkpoints -------------------------------------------------------------------

    def load_checkpoint(self) -> tuple[keras.Model, list[EpochRecord]] | None:
        """The model (weights and optimizer state) and epoch records of the last checkpoint
        of this trial, or None. Call inside the strategy's scope.

        A checkpoint that cannot be read (a truncated model file, a damaged state.json) is
        discarded with one :class:`CheckpointWarning`, and None returned: otherwise the trial
        would fail on every run, ``--rerun`` included, until someone deleted it by hand."""
        if self._checkpoint is None or not (self._checkpoint / "state.json").exists():
            return None
        try:
            state = json.loads((self._checkpoint / "state.json").read_text())
            model = keras.models.load_model(self._checkpoint / state["model"])
            return model, [EpochRecord(**r) for r in state["epochs"]]
        except Exception as e:  # noqa: BLE001 - whatever is damaged, the fix is the same
            self.discard_checkpoint(f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}")
            return None

    def discard_checkpoint(self, reason: str) -> None:
        """Delete an unusable resume point, saying so in one line."""
        warnings.warn(
            f"checkpoint {self._checkpoint} cannot be resumed from ({reason}); discarded, the trial "
            "starts from scratch",
            CheckpointWarning,
            stacklevel=2,
        )
        self.clear_checkpoints()

    def save_checkpoint(self, model: keras.Model, epochs: list[EpochRecord]) -> None:
        """Model file first, then state.json naming it, each by atomic rename: a crash at
        any point leaves the previous checkpoint intact."""
        if self._checkpoint is None:
            return
        self._checkpoint.mkdir(parents=True, exist_ok=True)
        name = f"model-{len(epochs)}.keras"
        # Unique temporary names: two writers of one trial (a driver that lost its claim and the
        # one that took the trial over, for the moments before the first stops) never collide.
        tmp = self._checkpoint / f".tmp-{uuid.uuid4().hex}-{name}"  # Keras insists on the .keras suffix
        model.save(tmp)
        os.replace(tmp, self._checkpoint / name)
        state = {"model": name, "epochs": [dataclasses.asdict(e) for e in epochs]}
        tmp_state = self._checkpoint / f".tmp-{uuid.uuid4().hex}-state.json"
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
        tmp = self.model_path.with_name(f".tmp-{uuid.uuid4().hex}-{self.model_path.name}")
        model.save(tmp)
        os.replace(tmp, self.model_path)
