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

import atexit
import copy
import dataclasses
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from orchestrator.config import Experiment, load_experiment, parse_experiment
from orchestrator.config._overrides import set_dotted
from orchestrator.driver import RunSummary, WarmSession, run_experiment
from orchestrator.errors import InputError
from orchestrator.progress import LogProgress, SweepProgress, progress_for
from orchestrator.answers import Report, Where, build_report, results_table
from orchestrator.answers import load_model as _load_model
from orchestrator.store import DEFAULT_STORE, ParquetResultsStore, ResultsStore

__all__ = ["run", "results", "report", "load_model", "experiment_of", "session", "shutdown", "Session"]


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
    session: Session | None = None,
) -> RunSummary:
    """Run every trial of ``config`` not yet in ``store``, as ``orch run`` does.

    ``overrides``: dotted field -> value, as ``--set`` (``{"training.epochs": 1,
    "model.params.width": 64}``). ``name`` replaces the sweep's name. ``address`` joins a
    Ray cluster (default: an embedded Ray on this machine; a Ray already initialised in
    this process is used as it is). ``progress`` defaults to one display updated in place
    in a notebook (a live table on a terminal, log lines elsewhere). ``verbose``: log lines
    for every event (epochs included), and Ray's and TensorFlow's own start-up output, which
    are otherwise kept out of the cell. ``session``: an :func:`session` whose Ray and trainers
    the sweep uses (its ``address`` applies)."""
    if session is not None and address is not None:
        raise InputError("orch.run: give address= to orch.session(address=...), not to a run in that session")
    experiment = experiment_of(config, overrides=overrides, name=name)
    results_store = store if isinstance(store, ResultsStore) else ParquetResultsStore(str(store))
    shown = progress or (LogProgress(sys.stderr) if verbose else progress_for(sys.stderr))
    return run_experiment(experiment, results_store, rerun=rerun, address=address, progress=shown, verbose=verbose,
                          session=session.warm if session is not None else None)


class Session:
    """Ray, the trainer actors, the loaded datasets and the passed model checks, kept between
    the sweeps run through it: the second sweep starts its first trial in about a second
    instead of paying Ray's start and TensorFlow's import in every trainer again (README:
    Warm sessions). Results, the store and resume are those of :func:`run`. Trainers of a
    sweep with other resources replace the kept ones; changed data is loaded again. Everything
    stops at :meth:`close` (the end of a ``with`` block, ``orch.shutdown()``, or the
    interpreter's exit)."""

    def __init__(self, address: str | None = None, verbose: bool = False) -> None:
        self.warm = WarmSession(address, verbose)
        _OPEN.append(self)
        atexit.register(self.close)

    def run(self, config: str | Path | Mapping[str, Any] | Experiment, **options: Any) -> RunSummary:
        """:func:`run` in this session (the same options, but not ``address``)."""
        return run(config, session=self, **options)

    @property
    def trainers_reused(self) -> int:
        """Trainer actors a sweep of this session took over from an earlier one."""
        return self.warm.trainers_reused

    def close(self) -> None:
        self.warm.close()
        if self in _OPEN:
            _OPEN.remove(self)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_OPEN: list[Session] = []


def session(address: str | None = None, verbose: bool = False) -> Session:
    """A warm session: ``with orch.session() as s: s.run(a); s.run(b)``. ``address`` joins a
    Ray cluster as :func:`run`'s does (default: an embedded Ray, started at the first sweep)."""
    return Session(address, verbose)


def shutdown() -> None:
    """Close every open :func:`session` (trainers stopped, Ray stopped if a session started it)."""
    for open_session in list(_OPEN):
        open_session.close()


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
