"""What a trial keeps beside its results: checkpoints to resume from, TensorBoard logs,
the final model, under the store's root::

    <store>/checkpoints/<sweep>/<trial_id>/model-<epoch>.keras + state.json  (deleted once the trial ends)
    <store>/tensorboard/<sweep>/<trial_id>/                                   scalars per epoch + HParams
    <store>/models/<sweep>/<trial_id>.keras                                   when outputs.save_model

A local (or mounted: NFS, Lustre) store is written in place. Any other store (``s3://``,
``gs://``, ...) is written through its pyarrow filesystem: the trial works in a local scratch
directory and each finished file is uploaded whole (trainers/artifact_files.py), so any node
can resume any trial and the user finds the models where the results are.

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

__all__ = ["TrialArtifacts", "CheckpointWarning", "seed_states"]


class CheckpointWarning(UserWarning):
    """A resume point that cannot be used was discarded; the trial starts from scratch."""


class TrialArtifacts:
    def __init__(self, spec: TrialSpec) -> None:
        root = spec.artifacts_root
        self._remote = None
        if root and "://" in root:
            from trainers.artifact_files import RemoteArtifacts  # pyarrow's filesystems only when used

            self._remote = RemoteArtifacts(root, spec.trial_id)
            local = self._remote.scratch
        else:
            local = Path(root) if root else None
        self._local = local
        self._checkpoint = local / "checkpoints" / spec.sweep / spec.trial_id if local else None
        self.tensorboard_dir = local / "tensorboard" / spec.sweep / spec.trial_id if local else None
        self.model_path = local / "models" / spec.sweep / f"{spec.trial_id}.keras" if local else None

    def _relative(self, path: Path) -> str:
        assert self._local is not None
        return path.relative_to(self._local).as_posix()

    # -- checkpoints -------------------------------------------------------------------

    def load_checkpoint(self) -> tuple[keras.Model, list[EpochRecord], list | None] | None:
        """The model (weights and optimizer state), epoch records and seed-generator states
        (:func:`seed_states`; None in checkpoints written before they were kept) of the last
        checkpoint of this trial, or None. Call inside the strategy's scope.

        A checkpoint that cannot be read (a truncated model file, a damaged state.json) is
        discarded with one :class:`CheckpointWarning`, and None returned: otherwise the trial
        would fail on every run, ``--rerun`` included, until someone deleted it by hand."""
        if self._checkpoint is None:
            return None
        state_file = self._checkpoint / "state.json"
        if self._remote is not None:
            # state.json is uploaded last: it names a model file that is complete.
            try:
                if not self._remote.exists(self._relative(state_file)):
                    return None
            except OSError as e:
                warnings.warn(f"cannot look for a checkpoint in the store ({_line(e)}); the trial starts "
                              "from scratch", CheckpointWarning, stacklevel=2)
                return None
        elif not state_file.exists():
            return None
        try:
            if self._remote is not None:
                state_file = self._remote.download(self._relative(state_file))
            state = json.loads(state_file.read_text())
            if self._remote is not None:
                self._remote.download(self._relative(self._checkpoint / state["model"]))
            model = keras.models.load_model(self._checkpoint / state["model"])
            return model, [EpochRecord(**r) for r in state["epochs"]], state.get("seed_states")
        except Exception as e:  # noqa: BLE001 - whatever is damaged, the fix is the same
            self.discard_checkpoint(f"{type(e).__name__}: {_line(e)}")
            return None

    def discard_checkpoint(self, reason: str) -> None:
        """Delete an unusable resume point, saying so in one line."""
        warnings.warn(
            f"checkpoint {self._where(self._checkpoint)} cannot be resumed from ({reason}); discarded, the trial "
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
        state = {"model": name, "epochs": [dataclasses.asdict(e) for e in epochs],
                 "seed_states": [v.numpy().tolist() for v in seed_states(model)]}
        tmp_state = self._checkpoint / f".tmp-{uuid.uuid4().hex}-state.json"
        tmp_state.write_text(json.dumps(state))
        os.replace(tmp_state, self._checkpoint / "state.json")
        for old in self._checkpoint.glob("model-*.keras"):
            if old.name != name:
                old.unlink()
        if self._remote is not None:
            # The model first, state.json naming it last: a reader never finds a state.json
            # whose model is missing or partial. Older model files go once the new state is up.
            if self._remote.upload(self._checkpoint / name, self._relative(self._checkpoint / name), "checkpoint") \
                    and self._remote.upload(self._checkpoint / "state.json",
                                            self._relative(self._checkpoint / "state.json"), "checkpoint"):
                directory = self._relative(self._checkpoint)
                for old in self._remote.list_names(directory):
                    if old.startswith("model-") and old != name:
                        self._remote.delete_file(f"{directory}/{old}")
        self.publish_tensorboard()  # the curves so far, with the resume point

    def clear_checkpoints(self) -> None:
        """A finished trial needs no resume point (and a --rerun must start from scratch)."""
        if self._checkpoint is not None:
            shutil.rmtree(self._checkpoint, ignore_errors=True)
            if self._remote is not None:
                self._remote.delete_dir(self._relative(self._checkpoint))

    # -- TensorBoard ---------------------------------------------------------------------

    def publish_tensorboard(self) -> None:
        """Copy the event files written so far to a remote store (a local one has them)."""
        if self._remote is not None and self.tensorboard_dir is not None:
            self._remote.upload_tree(self.tensorboard_dir, "TensorBoard event file")

    def close(self) -> None:
        """The trial is over: a remote store's scratch directory goes."""
        if self._remote is not None:
            self._remote.close()

    def _where(self, path: Path | None) -> str:
        if self._remote is not None and path is not None:
            return self._remote.describe(self._relative(path))
        return str(path)

    # -- final model ---------------------------------------------------------------------

    def save_model(self, model: keras.Model) -> None:
        if self.model_path is None:
            return
        self.model_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.model_path.with_name(f".tmp-{uuid.uuid4().hex}-{self.model_path.name}")
        model.save(tmp)
        os.replace(tmp, self.model_path)
        if self._remote is not None:
            self._remote.upload(self.model_path, self._relative(self.model_path), "model")


def seed_states(model: keras.Model) -> list:
    """The variables of ``model`` that are not weights: the states of its dropout and
    augmentation layers' seed generators, which advance every step. A Keras model file does
    not keep them, so a checkpoint keeps them beside it: without them a resumed trial would
    draw its dropout masks and shifts from the start of the stream again, and differ from
    the run that was not interrupted."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0]
