"""In-memory results store: same contract as the Parquet store, used by tests."""

from __future__ import annotations

import pyarrow as pa
import yaml

from orchestrator.config import Experiment
from orchestrator.store._base import ResultsStore
from orchestrator.store._schema import EPOCHS_SCHEMA, TRIALS_SCHEMA

__all__ = ["InMemoryResultsStore"]


class InMemoryResultsStore(ResultsStore):
    def __init__(self) -> None:
        self._trials: list[pa.Table] = []
        self._epochs: list[pa.Table] = []
        self.configs: dict[str, str] = {}

    def _write(self, sweep: str, run_id: str, trial_id: str, trials: pa.Table, epochs: pa.Table) -> None:
        self._epochs.append(epochs)
        self._trials.append(trials)

    def save_config(self, experiment: Experiment) -> str:
        self.configs[experiment.name] = yaml.safe_dump(experiment.to_dict(), sort_keys=False)
        return f"memory:configs/{experiment.name}"

    @staticmethod
    def _select(tables: list[pa.Table], schema: pa.Schema, sweep: str | None) -> pa.Table:
        table = pa.concat_tables([schema.empty_table(), *tables])
        if sweep is not None:
            table = table.filter(pa.compute.equal(table["sweep"], sweep))
        return table

    def read_trials(self, sweep: str | None = None) -> pa.Table:
        return self._select(self._trials, TRIALS_SCHEMA, sweep)

    def read_epochs(self, sweep: str | None = None) -> pa.Table:
        return self._select(self._epochs, EPOCHS_SCHEMA, sweep)
