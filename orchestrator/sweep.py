"""Sweep expansion: an ``Experiment`` becomes its list of ``TrialSpec``. Pure and deterministic."""

from __future__ import annotations

import itertools
from typing import Any

import dataclasses

from orchestrator.config import Experiment, SweepConfig, resolve_model, with_overrides
from orchestrator.trial import TrialSpec, trial_id_for

__all__ = ["grid_points", "expand_sweep"]


def grid_points(sweep: SweepConfig) -> list[dict[str, Any]]:
    """Cartesian product of the grid axes, in file order, last axis fastest.
    An empty grid is one point with no overrides."""
    axes = list(sweep.grid.items())
    return [
        {path: value for (path, _), value in zip(axes, combo)}
        for combo in itertools.product(*(values for _, values in axes))
    ]


def expand_sweep(experiment: Experiment) -> list[TrialSpec]:
    """One ``TrialSpec`` per grid point and seed (seeds innermost)."""
    seeds = experiment.sweep.seeds or [experiment.training.seed]
    specs = []
    for point in grid_points(experiment.sweep):
        for seed in seeds:
            e = with_overrides(experiment, {**point, "training.seed": seed})
            e = dataclasses.replace(e, model=resolve_model(e.model))
            specs.append(
                TrialSpec(
                    sweep=experiment.name,
                    trial_id=trial_id_for(e.dataset, e.model, e.training),
                    dataset=e.dataset,
                    model=e.model,
                    training=e.training,
                    resources=e.resources,
                    outputs=e.outputs,
                    stopping=e.stopping,
                    point=point,
                )
            )
    return specs
