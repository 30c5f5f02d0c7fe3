"""The Python API, for notebooks and scripts: ``import orchestrator as orch``.

- ``orch.run(config, store=..., overrides=..., name=..., address=..., verbose=False)`` runs a
  sweep (a YAML file, a mapping shaped like one, or an :class:`Experiment`), showing progress
  as it goes (in a notebook: one display updated in place), and returns its :class:`RunSummary`
  (``wall_seconds``: the whole wait; ``sweep_seconds``: of which running trials). A builder may be a function defined in the notebook.
- ``orch.results(store, sweep=None, per="trial" | "config")``: the results as a
  ``pyarrow.Table`` (``.to_pandas()`` for a DataFrame), as ``orch results`` shows them.
- ``orch.report(store, sweeps=None)``: ``orch report`` as a :class:`Report` that shows
  itself in a notebook cell; ``.save("report.html")`` writes the page.
- ``orch.load_model(store, sweep, trial="best")``: the Keras model a trial saved
  (``outputs.save_model``), from a local, NFS or ``s3://`` store alike.

Importing this module imports neither TensorFlow nor Ray; Ray starts only when a sweep has
trials to run. Bad input raises :class:`orchestrator.errors.InputError` (ConfigError for
the config) with the same one-line messages as the CLI.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from orchestrator.config import Experiment, load_experiment, parse_experiment
from orchestrator.config._overrides import set_dotted
from orchestrator.driver import RunSummary, run_experiment
from orchestrator.progress import LogProgress, SweepProgress, progress_for
from orchestrator.answers import Report, Where, build_report, results_table
from orchestrator.answers import load_model as _load_model
from orchestrator.store import DEFAULT_STORE, ParquetResultsStore, ResultsStore

__all__ = ["run", "results", "report", "load_model", "experiment_of"]


def run(
    config: str | Path | Mapping[str, Any] | Experiment,
    *,
    store: str | ResultsStore = DEFAULT_STORE,
    overrides: Mapping[str, Any] | None = None,
    name: str | None = None,
    address: str | None = None,
    rerun: bool = False,
    progress: SweepProgress | None = None,
    verbose: bool = False,
) -> RunSummary:
    """Run every trial of ``config`` not yet in ``store``, as ``orch run`` does.

    ``overrides``: dotted field -> value, as ``--set`` (``{"training.epochs": 1,
    "model.params.width": 64}``). ``name`` replaces the sweep's name. ``address`` joins a
    Ray cluster (default: an embedded Ray on this machine; a Ray already initialised in
    this process is used as it is). ``progress`` defaults to one display updated in place
    in a notebook (a live table on a terminal, log lines elsewhere). ``verbose``: log lines
    for every event (epochs included), and Ray's and TensorFlow's own start-up output, which
    are otherwise kept out of the cell."""
    experiment = experiment_of(config, overrides=overrides, name=name)
    results_store = store if isinstance(store, ResultsStore) else ParquetResultsStore(str(store))
    shown = progress or (LogProgress(sys.stderr) if verbose else progress_for(sys.stderr))
    return run_experiment(experiment, results_store, rerun=rerun, address=address, progress=shown, verbose=verbose)


def results(
    store: str | ResultsStore = DEFAULT_STORE,
    sweep: str | None = None,
    per: Literal["trial", "config"] = "trial",
) -> pa.Table:
    """One row per trial (the latest run of each, best first), or per config with statistics
    over its seeds; the params that vary are columns, a builder's as ``model_<key>``."""
    results_store = store if isinstance(store, ResultsStore) else ParquetResultsStore(str(store))
    return results_table(results_store, Where.of(sweep=sweep), per=per)


def report(
    store: str | ResultsStore = DEFAULT_STORE,
    sweeps: str | Sequence[str] | None = None,
    *,
    metric: str | None = None,
    goal: Literal["max", "min"] | None = None,
) -> Report:
    """The report of ``sweeps`` (one name, several to compare, default every sweep), as
    ``orch report`` writes it: in a notebook it shows inline; ``.save(path)`` writes the
    self-contained HTML page. Unknown sweeps and sweeps without completed trials raise
    :class:`orchestrator.errors.InputError` with the CLI's one-line message."""
    results_store = store if isinstance(store, ResultsStore) else ParquetResultsStore(str(store))
    names = [sweeps] if isinstance(sweeps, str) else sweeps
    return build_report(results_store, names, metric=metric, goal=goal)


def load_model(store: str | ResultsStore = DEFAULT_STORE, sweep: str | None = None, trial: str = "best") -> Any:
    """The Keras model saved by ``trial`` (a trial id, or ``"best"`` by the sweep's own
    ``sweep.metric`` and goal) of ``sweep``, read from the store's filesystem: a local
    directory, NFS, ``s3://`` or ``gs://``. The sweep must have run with
    ``outputs.save_model: true``; otherwise :class:`orchestrator.errors.InputError` says so."""
    results_store = store if isinstance(store, ResultsStore) else ParquetResultsStore(str(store))
    if sweep is None:
        names = results_store.sweeps()
        if len(names) != 1:
            raise TypeError(f"load_model: name the sweep (the store has {', '.join(names) or 'none'})")
        sweep = names[0]
    return _load_model(results_store, sweep, trial)


def experiment_of(
    config: str | Path | Mapping[str, Any] | Experiment,
    *,
    overrides: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> Experiment:
    """``config`` as a validated :class:`Experiment`, overrides and name applied."""
    if isinstance(config, (str, Path)):
        raw_overrides = [f"{key}={_yaml(value)}" for key, value in (overrides or {}).items()]
        return load_experiment(config, overrides=raw_overrides, name=name)
    if isinstance(config, Experiment):
        raw = dataclasses.asdict(config)  # not to_dict(): a function builder stays the function
    elif isinstance(config, Mapping):
        raw = copy.deepcopy(dict(config))  # functions are copied by reference; the caller's dict is left alone
    else:
        raise TypeError(f"config: expected a YAML path, a mapping or an Experiment, got {type(config).__name__}")
    for key, value in (overrides or {}).items():
        set_dotted(raw, key, value)
    if name is not None:
        raw["name"] = name
    return parse_experiment(raw, origin="orch.run")


def _yaml(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
