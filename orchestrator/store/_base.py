"""The results-store contract that every backend keeps.

Ownership: the sweep driver is the only writer (trainers return results to it; they never
write). Readers may run at any time, also while a sweep writes: a trial becomes visible
atomically, all its epoch rows and its trial row at once, or not at all.

Append-only: nothing is updated or deleted. A trial run again (``--rerun``, or a failed
trial retried by a later sweep) adds a row; readers that want one row per trial take the
latest (:func:`latest_per_trial`).
"""

from __future__ import annotations

import abc
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from orchestrator.config import Experiment
from orchestrator.errors import InputError
from orchestrator.store._schema import EPOCHS_SCHEMA, TRIALS_SCHEMA, epoch_rows, trial_row
from orchestrator.trial import TrialResult, TrialSpec, TrialStatus

__all__ = ["ResultsStore", "StoreError", "latest_per_trial"]


class StoreError(InputError):
    """The store cannot be opened, read or written; the message says which path and why."""


class ResultsStore(abc.ABC):
    def append(self, spec: TrialSpec, result: TrialResult) -> str:
        """Store one run of a trial (its epochs and its trial row); return its run id."""
        run_id = uuid.uuid4().hex[:12]
        epochs = pa.Table.from_pylist(epoch_rows(spec, result, run_id), schema=EPOCHS_SCHEMA)
        trial = pa.Table.from_pylist([trial_row(spec, result, run_id)], schema=TRIALS_SCHEMA)
        self._write(spec.sweep, run_id, trial_id=spec.trial_id, trials=trial, epochs=epochs)
        return run_id

    @abc.abstractmethod
    def _write(self, sweep: str, run_id: str, trial_id: str, trials: pa.Table, epochs: pa.Table) -> None:
        """Make both tables visible atomically: the epochs first, the trial row last."""

    @abc.abstractmethod
    def save_config(self, experiment: Experiment) -> str:
        """Keep the resolved experiment beside its results; return where."""

    @abc.abstractmethod
    def read_trials(self, sweep: str | None = None) -> pa.Table:
        """All trial rows (of one sweep, or of all), in ``TRIALS_SCHEMA``."""

    @abc.abstractmethod
    def read_epochs(self, sweep: str | None = None) -> pa.Table:
        """Epoch rows of stored trials only (rows of an interrupted write are not returned)."""

    @property
    def artifacts_root(self) -> str | None:
        """A local directory where trainers keep checkpoints, TensorBoard logs and models
        beside these results, or None when this store has no such place."""
        return None

    def finished_trial_ids(self, sweep: str) -> set[str]:
        """Ids of trials of ``sweep`` with a final result: a re-run skips these."""
        table = self.read_trials(sweep)
        final = [s.value for s in TrialStatus if s.is_final()]
        mask = pc.is_in(table["status"], value_set=pa.array(final))
        return set(table.filter(mask)["trial_id"].to_pylist())

    def sweeps(self) -> list[str]:
        return sorted(set(self.read_trials()["sweep"].to_pylist()))


def latest_per_trial(trials: pa.Table) -> pa.Table:
    """One row per (sweep, trial_id): the most recently ended run."""
    if trials.num_rows == 0:
        return trials
    order = trials.sort_by([("ended_at", "descending")])
    seen: set[tuple[Any, Any]] = set()
    keep = []
    for i, key in enumerate(zip(order["sweep"].to_pylist(), order["trial_id"].to_pylist())):
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return order.take(keep)
