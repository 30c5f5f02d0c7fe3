"""Fusion planning: which planned trials train together as one fused group, and how many.

A fused group (see ``trainers.fused``) is K trials trained as K branches of one model in one
trainer, one step for all. They must share what that step feeds and runs on: the input
pipeline and the trainer. Everything else (model, activation, seed, optimizer, schedule,
regularisation, stopping, outputs) may differ, because each branch keeps its own. Fusion is a
resource choice: it never enters a trial's id, and a trial's results do not depend on it.

Pure Python: imports neither TensorFlow nor Ray.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Hashable, Mapping
from typing import Any

from orchestrator.trial import TrialSpec

__all__ = ["fusion_key", "trace_key", "auto_sizes", "steps_per_trial", "choose_group_size", "GroupTaker"]

# Group sizes `fuse: auto` measures (no more than the sweep has trials).
AUTO_SIZES = (1, 2, 4, 8)


def fusion_key(spec: TrialSpec) -> Hashable:
    """What trials of one fused group must have equal:

    - the input pipeline: the dataset as loaded (name, files, splits), batch size, batch
      scope, epochs (one step feeds every branch a batch of the same size, epoch by epoch);
    - the trainer: ``resources`` (replicas, devices: one strategy for the whole group);
    - the sweep and ``artifacts_root``: the branches' checkpoints live side by side.

    ``dataset.normalize`` is not in it: scaling is each model's own first layer.
    """
    t = spec.training
    dataset = dataclasses.replace(spec.dataset, normalize=True)
    return (spec.sweep, _canonical(dataset), t.batch_size, t.batch_size_scope, t.epochs, _canonical(spec.resources),
            spec.artifacts_root)


def trace_key(spec: TrialSpec) -> Hashable:
    """What a trial must share with the trial a trainer ran before it for the trainer to train
    it on that trial's models and traced steps (trace once per shape, trainers/warm_traces.py):
    everything the traced step is made of, i.e. the whole trial but for what only sets values.

    - the seed: it chooses the initial weights, the dropout and augmentation seeds and the
      shuffle, all values that are copied into the kept variables or fed to the step;
    - a constant learning rate: Keras keeps it in the optimizer's variable. A decaying
      schedule bakes its initial rate into the graph, so there the rate stays in the key.

    Momentum, L1/L2, dropout rates and the like are Python numbers inside the graph: they stay
    in the key (a sweep over them traces once per value, as every trial did before).
    """
    t = spec.training
    values_only: dict[str, Any] = {"seed": 0}
    if t.lr_schedule == "constant":
        values_only["learning_rate"] = 1.0
    training = dataclasses.replace(t, **values_only)
    return (_canonical(spec.dataset), _canonical(spec.model), _canonical(training), _canonical(spec.resources),
            spec.builder_code)


def _canonical(config: object) -> str:
    """A section as hashable text (its fields may hold dicts and lists, e.g. dataset.params)."""
    return json.dumps(dataclasses.asdict(config), sort_keys=True, default=repr)  # type: ignore[call-overload]


def auto_sizes(trials: int) -> tuple[int, ...]:
    """The group sizes ``fuse: auto`` measures: those of :data:`AUTO_SIZES` that a sweep of
    ``trials`` trials can fill (always at least K=1)."""
    return tuple(k for k in AUTO_SIZES if k <= trials) or (1,)


def steps_per_trial(spec: TrialSpec, train_images: int | None) -> int:
    """Optimizer steps of one trial over all its epochs: its training images cut into global
    batches (``per_replica`` batches are that size on every replica), rounded up per epoch.
    ``train_images`` None (not known): one step per epoch."""
    t = spec.training
    batch = t.batch_size * (spec.resources.replicas if t.batch_size_scope == "per_replica" else 1)
    return math.ceil((batch if train_images is None else train_images) / batch) * t.epochs


def choose_group_size(
    steps_per_second: Mapping[int, float],
    setup_seconds: Mapping[int, float] | None = None,
    steps_per_trial: int | None = None,
) -> int:
    """The group size K that trains the most trials per second, from measured group steps
    per second (``trainers.fused.measure_fused_rate``).

    Steps alone: maximise trial-steps per second, ``K * rate(K)``. With the group's fixed
    cost ``setup_seconds[K]`` (building and tracing K branches) and the optimizer steps of
    one trial (``steps_per_trial``, all epochs): maximise ``K / (setup(K) + steps / rate(K))``,
    which is what fusion buys on a device where arithmetic already sets the step time (one
    CPU thread): short trials then gain from tracing once per group. On a tie the smaller K
    (fewer trials wait for a group's slowest). Raises ValueError when no size was measured,
    a size or rate is not positive, or a setup time is missing or negative.
    """
    if not steps_per_second:
        raise ValueError("choose_group_size: no measurements; measure at least K=1")
    for k, rate in steps_per_second.items():
        if k < 1 or not rate > 0:
            raise ValueError(f"choose_group_size: expected K >= 1 and a positive rate, got K={k}, rate={rate}")
    if setup_seconds is None or steps_per_trial is None:
        return max(sorted(steps_per_second), key=lambda k: k * steps_per_second[k])
    if steps_per_trial < 1:
        raise ValueError(f"choose_group_size: steps_per_trial must be >= 1, got {steps_per_trial}")
    for k in steps_per_second:
        if not setup_seconds.get(k, -1.0) >= 0:
            raise ValueError(f"choose_group_size: no setup time (>= 0 s) for K={k}; measure it with the rate")

    def trials_per_second(k: int) -> float:
        return k / (setup_seconds[k] + steps_per_trial / steps_per_second[k])

    return max(sorted(steps_per_second), key=trials_per_second)


class GroupTaker:
    """Hands out fused groups from a :class:`~orchestrator.plan.TrialSource`, one per
    free trainer: up to ``size`` trials with equal :func:`fusion_key`.

    It looks ahead up to ``lookahead`` trials (None: as far as the source goes) for a full
    group, and holds back what it took but could not place, in the order taken. A planned
    sweep looks ahead freely (taking is free); a search looks ahead ``size`` trials only, so
    a sampler is never asked for more points than there are branches to train them.
    """

    def __init__(self, source: Any, size: int, lookahead: int | None = None) -> None:
        if size < 1:
            raise ValueError(f"fusion group size must be >= 1 (1 = no fusion), got {size}")
        self._source = source
        self.size = size
        self._lookahead = lookahead
        self._held: list[TrialSpec] = []
        self._drained = False

    @property
    def exhausted(self) -> bool:
        """No trial is held and the source has said it has no more (not merely none for now)."""
        return self._drained and not self._held

    def next_group(self) -> tuple[TrialSpec, ...] | None:
        """The next group, or None when no trial is left."""
        while not self._drained and not self._full_group() and (
            self._lookahead is None or len(self._held) < self._lookahead
        ):
            spec = self._source.take()
            if spec is None:
                if getattr(self._source, "waiting", False):
                    break  # none now; more may come (another driver holds them): ask again later
                self._drained = True
            else:
                self._held.append(spec)
        if not self._held:
            return None
        key = self._full_group() or fusion_key(self._held[0])
        group = [s for s in self._held if fusion_key(s) == key][: self.size]
        taken = {id(s) for s in group}
        self._held = [s for s in self._held if id(s) not in taken]
        return tuple(group)

    def _full_group(self) -> Hashable | None:
        counts: dict[Hashable, int] = {}
        for spec in self._held:
            key = fusion_key(spec)
            counts[key] = counts.get(key, 0) + 1
            if counts[key] >= self.size:
                return key
        return None
