"""In-memory results store: same contract as the Parquet store, used by tests."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from orchestrator.config import Experiment
from orchestrator.store._base import ResultsStore, Sweeps, sweep_list
from orchestrator.store._schema import EPOCHS_SCHEMA, TRIALS_SCHEMA

__all__ = ["InMemoryResultsStore"]


class InMemoryResultsStore(ResultsStore):
    def __init__(self) -> None:
        self._trials: list[pa.Table] = []
        self._epochs: list[pa.Table] = []
        self.configs: dict[str, str] = {}

    def _write(self, sweep: str, trials: pa.Table, epochs: pa.Table) -> None:
        self._epochs.append(epochs)
        self._trials.append(trials)

    def save_config(self, experiment: Experiment) -> str:
        self.configs[experiment.name] = yaml.safe_dump(experiment.to_dict(), sort_keys=False)
        return f"memory:configs/{experiment.name}"

    def read_configs(self, sweep: str) -> list[str]:
        return [self.configs[sweep]] if sweep in self.configs else []

    @staticmethod
    def _select(
        tables: list[pa.Table],
        schema: pa.Schema,
        sweep: Sweeps,
        trial_ids: Sequence[str] | None,
        where: pc.Expression | None,
        columns: Sequence[str] | None,
    ) -> pa.Table:
        # Tables with a builder's model_<key> columns: the others read them as nulls.
        table = pa.concat_tables([schema.empty_table(), *tables], promote_options="permissive")
        sweeps = sweep_list(sweep)
        if sweeps is not None:
            table = table.filter(pc.field("sweep").isin(sweeps))
        if trial_ids is not None:
            table = table.filter(pc.field("trial_id").isin(list(trial_ids)))
        if where is not None:
            table = table.filter(where)
        return table if columns is None else table.select(list(columns))

    def read_trials(self, sweep: Sweeps = None, *, trial_ids=None, where=None, columns=None) -> pa.Table:
        return self._select(self._trials, TRIALS_SCHEMA, sweep, trial_ids, where, columns)

    def read_epochs(self, sweep: Sweeps = None, *, trial_ids=None, where=None, columns=None, run_ids=None) -> pa.Table:
        if run_ids is None:
            run_ids = self.read_trials(sweep, trial_ids=trial_ids, columns=["run_id"])["run_id"].combine_chunks()
        stored = pc.field("run_id").isin(pa.array(run_ids, pa.string()))
        where = stored if where is None else stored & where
        return self._select(self._epochs, EPOCHS_SCHEMA, sweep, trial_ids, where, columns)
