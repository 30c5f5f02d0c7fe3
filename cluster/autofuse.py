"""``resources.fuse: auto``: a short run on one ready trainer measures fused group steps per
second at a few group sizes; the pure rule in :mod:`orchestrator.plan` picks the size."""

from __future__ import annotations

from typing import Any

import ray

from cluster.data import dataset_key
from orchestrator.progress import SweepProgress
from orchestrator.plan import auto_sizes, choose_group_size, steps_per_trial
from orchestrator.trial import TrialSpec

__all__ = ["choose_fusion"]


def choose_fusion(
    spec: TrialSpec,
    trials: int,
    trainer: Any,
    datasets: dict[str, ray.ObjectRef],
    train_images: dict[str, int],
    progress: SweepProgress,
) -> tuple[int, dict[int, float] | None]:
    """Trials per fused group, and the rates measured: ``resources.fuse`` as a number (no
    measurement), or for ``auto`` the group size a short run on ``trainer`` (ready, idle)
    finds trains the most of this sweep's ``trials`` per second (orchestrator/plan/_fusion.py)."""
    fuse = spec.resources.fuse
    if fuse != "auto":
        return fuse, None
    sizes = auto_sizes(trials)
    key = dataset_key(spec.dataset)
    with progress.step(f"fuse: auto: measuring fused steps per second at K = {', '.join(map(str, sizes))}..."):
        rates, setup = ray.get(trainer.measure_fusion.remote(spec, key, [datasets[key]], sizes))
    chosen = choose_group_size(rates, setup, steps_per_trial=steps_per_trial(spec, train_images.get(key)))
    rates_text = ", ".join(f"K={k}: {r:.0f}" for k, r in sorted(rates.items()))
    progress.note(f"fuse: auto chose {chosen} trials per group (group steps/s {rates_text})")
    return chosen, rates
