"""Sweep expansion: an ``Experiment`` becomes its list of ``TrialSpec``. Pure and deterministic."""

from __future__ import annotations

from orchestrator.config import Experiment, ModelConfig, grid_points, iter_grid_points, resolve_model, with_overrides
from orchestrator.config._overrides import replace_fields
from orchestrator.trial import TrialSpec, trial_id_for
from orchestrator.usercode import builder_code

__all__ = ["grid_points", "expand_sweep"]


def expand_sweep(experiment: Experiment) -> list[TrialSpec]:
    """One ``TrialSpec`` per grid point and seed (seeds innermost)."""
    seeds = experiment.sweep.seeds or [experiment.training.seed]
    specs = []
    model_axes = [path for path in experiment.sweep.grid if path.startswith("model.")]
    resolved: dict[str, ModelConfig] = {}  # a model's defaults filled once per distinct model
    # The builder's source, read once per expansion (model.builder is not a sweep axis), so
    # every trial of the sweep hashes the same version of it.
    code = builder_code(experiment.model.builder) if experiment.model.builder is not None else None
    for point in iter_grid_points(experiment.sweep):
        e = with_overrides(experiment, point)
        key = repr([point[path] for path in model_axes])
        model = resolved.get(key)
        if model is None:
            model = resolved[key] = resolve_model(e.model)
        for seed in seeds:
            training = replace_fields(e.training, {"seed": seed})
            specs.append(
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
    return specs
