"""Sweep expansion: an ``Experiment`` becomes its list of ``TrialSpec``. Pure and deterministic.

Grid, random and sobol sweeps are planned whole, up front (their points are a pure function
of the config); a tpe sweep's points are asked one at a time as trainers free up, and each
becomes its trials through :func:`specs_for_point`, the same as a planned point.
"""

from __future__ import annotations

from typing import Any

from orchestrator.config import Experiment, ModelConfig, resolve_model, with_overrides
from orchestrator.config._overrides import replace_fields
from orchestrator.config._sweep import sweep_points
from orchestrator.trial import TrialSpec, trial_id_for
from orchestrator.usercode import builder_code

__all__ = ["expand_sweep", "specs_for_point", "planned_points"]


def planned_points(experiment: Experiment) -> list[dict[str, Any]]:
    """The points planned up front (for tpe: none, they are asked while the sweep runs)."""
    if experiment.sweep.method == "tpe":
        return []
    return sweep_points(experiment.sweep)


def expand_sweep(experiment: Experiment) -> list[TrialSpec]:
    """One ``TrialSpec`` per planned point and seed (seeds innermost)."""
    cache: dict[str, ModelConfig] = {}
    # The builder's source, read once per expansion (model.builder is not a sweep axis), so
    # every trial of the sweep hashes the same version of it.
    code = builder_code_of(experiment)
    specs = []
    for point in planned_points(experiment):
        specs.extend(specs_for_point(experiment, point, cache, code))
    return specs


def builder_code_of(experiment: Experiment) -> str | None:
    """The hash of the experiment's model builder's source (None for a built-in model)."""
    return builder_code(experiment.model.builder) if experiment.model.builder is not None else None


def specs_for_point(
    experiment: Experiment,
    point: dict[str, Any],
    _models: dict[str, ModelConfig] | None = None,
    code: str | None = None,
) -> list[TrialSpec]:
    """The trials of one point (dotted field -> value): one per seed of the sweep. ``code``:
    :func:`builder_code_of` the experiment, computed here when not given."""
    if code is None:
        code = builder_code_of(experiment)
    seeds = experiment.sweep.seeds or [experiment.training.seed]
    e = with_overrides(experiment, point)
    # A model's defaults are filled once per distinct model: planning 100,000 trials makes
    # this worth it (see benchmarks/planning_scale.py).
    key = repr(sorted((p, v) for p, v in point.items() if p.startswith("model.")))
    cache = _models if _models is not None else {}
    model = cache.get(key)
    if model is None:
        model = cache[key] = resolve_model(e.model)
    trials = []
    for seed in seeds:
        training = replace_fields(e.training, {"seed": seed})
        trials.append(
            TrialSpec(
                sweep=experiment.name,
                trial_id=trial_id_for(e.dataset, model, training, code),
                builder_code=code,
                dataset=e.dataset,
                model=model,
                training=training,
                resources=e.resources,
                outputs=e.outputs,
                stopping=e.stopping,
                point=point,
            )
        )
    return trials
