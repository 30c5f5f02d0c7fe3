"""What a run of a sweep will do, decided before Ray starts: the trials to run (or, for a
tpe search, the sampler rebuilt from the store that asks for them), what the executor must
check first, and the counts the progress view shows. Reads the store; writes nothing."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from orchestrator.config import Experiment, grid_points, sweep_size
from orchestrator.plan import PlannedTrials, builder_code_of, SearchTrials, TrialSource, expand_sweep, plan_sweep, specs_for_point
from orchestrator.errors import ConfigError
from orchestrator.store import ResultsStore
from orchestrator.trial import TrialSpec, dataset_param_column, param_column, user_param_column

__all__ = ["RunPlan", "plan_run", "column_for_path", "specs_for_run"]


@dataclass
class RunPlan:
    source: TrialSource  # what the executor runs, in order or as asked
    # The trials the executor checks before anything runs (data, resources, user models):
    # the planned ones, or for a search one per grid point.
    check: list[TrialSpec]
    trials: int  # in the sweep (a search: its budget)
    skipped: int  # already stored
    to_run: int
    told: int = 0  # a search: outcomes told to the sampler from the store
    # Every trial id this experiment plans (stored ones included); None for tpe, whose stored
    # trials are checked to be its own as they are read. Stored rows outside it ran under other
    # fixed settings and must not stand in for this run's (halving's rung values).
    own_ids: frozenset[str] | None = None

    @property
    def nothing_to_run(self) -> bool:
        return self.to_run == 0


def specs_for_run(specs: list[TrialSpec], artifacts_root: str | None, rerun: bool) -> list[TrialSpec]:
    """The specs as trainers get them: where artifacts go, and under ``--rerun`` a fresh
    start, so a checkpoint left by an earlier run is deleted instead of resumed from."""
    return [dataclasses.replace(s, artifacts_root=artifacts_root, fresh_start=rerun) for s in specs]


def _refuse_foreign_history(experiment: Experiment, store: ResultsStore, rows: list[dict]) -> None:
    """A search rebuilt from the store must learn from its own trials only. A stored trial
    whose id is not the one this experiment gives its point was run under other fixed
    settings (``--set training.epochs=2`` on a sweep stored at 10 epochs): counting it would
    report the old results as this run's and end the search before it began. Refused, with
    the fields that changed where the stored experiment says."""
    sweep = experiment.sweep
    paths = [*sweep.grid, *sweep.space]
    code, models = builder_code_of(experiment), {}
    foreign = 0
    for row in rows:
        point = {path: row[column_for_path(path)] for path in paths}
        if row["trial_id"] not in {s.trial_id for s in specs_for_point(experiment, point, models, code)}:
            foreign += 1
    if foreign:
        changed = _changed_fields(store, experiment)
        what = f" ({', '.join(changed)} changed)" if changed else ""
        raise ConfigError(
            f"sweep {experiment.name!r}: {foreign} stored trial(s) of this {sweep.method} search ran with other fixed "
            f"settings{what}, so they cannot count for this one; give the search a new --name, or --rerun to "
            "search again from scratch under this name"
        )


def _changed_fields(store: ResultsStore, experiment: Experiment) -> list[str]:
    """Dotted fields outside ``sweep`` whose value differs from the last stored experiment's."""
    import yaml

    texts = store.read_configs(experiment.name)
    try:
        before = yaml.safe_load(texts[-1]) if texts else None
    except yaml.YAMLError:
        return []
    if not isinstance(before, dict):
        return []
    now = experiment.to_dict()
    changed = []
    for section, fields in now.items():
        if section in ("name", "description", "sweep") or not isinstance(fields, dict):
            continue
        old = before.get(section) or {}
        changed += [f"{section}.{k}" for k, v in fields.items() if isinstance(old, dict) and k in old and old[k] != v]
    return changed


def check_artifacts_fit(experiment: Experiment, store: ResultsStore) -> None:
    """A saved model is asked for by name, so a store with nowhere to put it (in memory) is
    refused before anything runs, not found empty afterwards. (Checkpoints and TensorBoard
    logs are on by default and only help: a store without a place for them runs without.)"""
    if experiment.outputs.save_model and store.artifacts_root is None:
        raise ConfigError(f"outputs.save_model: this store ({type(store).__name__}) has nowhere to keep models; "
                          "use a directory or a URI (s3://, gs://) as the store, or set outputs.save_model=false")


def column_for_path(path: str) -> str:
    """The results column of a dotted config field (``model.params.<key>``: ``model_<key>``)."""
    section, _, leaf = path.partition(".")
    if section == "model" and leaf.startswith("params."):
        return user_param_column(leaf[len("params."):])
    if section == "dataset" and leaf.startswith("params."):
        return dataset_param_column(leaf[len("params."):])
    return param_column(section, leaf)


def plan_run(experiment: Experiment, store: ResultsStore, rerun: bool = False) -> RunPlan:
    check_artifacts_fit(experiment, store)
    finished = set() if rerun else store.finished_trial_ids(experiment.name)
    if experiment.sweep.method != "tpe":
        specs = expand_sweep(experiment)
        plan = plan_sweep(specs, finished, rerun=rerun)
        to_run = specs_for_run(plan.to_run, store.artifacts_root, rerun)
        source = PlannedTrials(to_run, experiment.sweep.metric, experiment.sweep.goal)
        return RunPlan(source, to_run, len(specs), len(plan.skipped), len(to_run),
                       own_ids=frozenset(s.trial_id for s in specs))
    return _plan_search(experiment, store, finished, rerun)


def _plan_search(experiment: Experiment, store: ResultsStore, finished: set[str], rerun: bool) -> RunPlan:
    """tpe: the sampler is rebuilt from every trial of the sweep already stored (unless
    ``rerun``), so a resumed search goes on learning where it stopped; ``samples`` counts
    the stored points too."""
    from orchestrator.answers import Where, select_trials
    from orchestrator.search import history_from_rows, make_sampler, point_key

    sweep = experiment.sweep
    seeds = max(len(sweep.seeds), 1)
    grid = grid_points(sweep)
    sampler = make_sampler("tpe", sweep.space, sweep.samples or 1, seed=sweep.search_seed, goal=sweep.goal,
                           grid_points=grid)
    told = 0
    stored = 0
    told_points: set[str] = set()
    if not rerun:
        rows = select_trials(store, Where.of(sweep=experiment.name)).to_pylist()
        rows = [r for r in rows if r["trial_id"] in finished or r["status"] == "failed"]
        _refuse_foreign_history(experiment, store, rows)
        history = history_from_rows(rows, [*sweep.grid, *sweep.space], sweep.metric, column_for_path, seeds=seeds)
        told = sampler.rebuild(history)
        told_points = {point_key(o.point) for o in history}
        stored = sum(1 for r in rows if r["trial_id"] in finished)
    total = sweep_size(sweep)
    to_run = max(total - stored, 0)
    root = store.artifacts_root

    def adjust(spec: TrialSpec) -> TrialSpec:
        return specs_for_run([spec], root, rerun)[0]

    source = SearchTrials(experiment, sampler, finished, total=to_run, adjust=adjust, told=told_points)
    check = [adjust(specs_for_point(experiment, point)[0]) for point in grid]
    return RunPlan(source, check, total, stored, to_run, told)
