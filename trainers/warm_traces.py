"""Trace once per shape (issue 19): a trainer keeps the last fused group's models and traced
steps, and trains the next group of the same shape on them, without building or tracing.

A short trial spends most of its time before its first step: building the model (~0.1 s for
LeNet-5) and tracing the fused train and evaluation steps (~0.4-0.6 s), against ~0.1 s of
training for a tiny model. Trials of one sweep mostly differ in values, not in shape (a
learning-rate search, seeds), and for those the traced graph is the same: the step reads the
weights, the optimizer state and a constant learning rate from variables. So a trainer keeps,
after each group (one trial alone is a group of one):

- the strategy, the branches' models (with their built optimizers), the dataset tensors the
  train step captured, and the traced functions;
- per branch and seed, the initial values of the model's variables (weights, and the state of
  its dropout and augmentation seed generators), taken from a model built from that seed.

A group whose :func:`orchestrator.plan.trace_key` per branch, dataset object and device are
those kept takes them: each branch's variables are assigned its seed's initial values (built
once per seed, exactly as a cold trial builds them: the global seed set, then the builder
called), and its optimizer's variables the values they had when built (slots zero, step
zero), then its own learning rate. Nothing else is kept between trials: no
record, no callback, no artifact. So a warm trial computes what it computes cold, bit for bit
(tests/test_warm_traces.py).

Only models made of Keras' own layers are kept. A custom layer may draw random numbers
outside Keras' seed generators (an op seed fixed when the step was traced, from the first
trial's seed), or keep Python state its config does not show; ``Lambda`` layers close over
arbitrary code. Those trials build and trace as before.

One shape is kept per trainer: a group of another shape drops it first, so a trainer holds at
most one shape's models and graphs (issue 23's flat memory holds; tests/test_memory.py).
A group that raises keeps nothing. Runs inside a trainer process.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from orchestrator.config import TrainingConfig
from orchestrator.plan import trace_key
from orchestrator.trial import TrialSpec

__all__ = ["KeptGroup", "assign_all", "drop", "group_key", "initial_values", "keep", "kept", "remember", "reset_optimizer", "take"]

# Initial values kept per shape, one set per branch and seed seen (a seed sweep builds each
# seed once): at most this many bytes, oldest out first. A LeNet-5's are ~0.25 MB; a model
# too large for the budget is built again for every trial, as before.
_INITIAL_BYTES = 64 * 2**20


@dataclass
class KeptGroup:
    """A finished group's reusable parts, for the next group of the same shape."""

    key: Hashable
    data: Any  # the DatasetArrays the step captured: kept alive, so compared by identity
    strategy: Any
    models: list[keras.Model]
    tensors: tuple[Any, Any]  # (x_train, y_train) as the train step captured them
    functions: dict[tuple[int, ...], tuple[Callable, Callable]]
    optimizer_initial: list[list[np.ndarray]]  # per branch: its optimizer's values when built
    # (branch, seed) -> the initial values of that branch's model.variables.
    initial: OrderedDict[tuple[int, int], list[np.ndarray]] = field(default_factory=OrderedDict)


_kept: KeptGroup | None = None


def group_key(specs: Sequence[TrialSpec], device: Any) -> Hashable:
    """The shape of a group: each branch's trace key, in order, and the device."""
    return (tuple(trace_key(spec) for spec in specs), device)


def take(key: Hashable, data: Any) -> KeptGroup | None:
    """The kept group when ``key`` and ``data`` are its own, removed from the keeping (a group
    that fails keeps nothing); otherwise None, and whatever was kept is dropped."""
    global _kept
    found, _kept = _kept, None
    if found is not None and found.key == key and found.data is data:
        return found
    return None


def keep(group: KeptGroup) -> None:
    """Keep ``group`` for the next one, when every model in it is made of Keras' own layers."""
    global _kept
    _kept = group if all(_only_keras_layers(m) for m in group.models) else None


def kept() -> KeptGroup | None:
    """What is kept now (tests and the memory report)."""
    return _kept


def drop() -> None:
    """Keep nothing: the next group builds and traces."""
    global _kept
    _kept = None


def initial_values(group: KeptGroup, branch: int, seed: int, build: Callable[[], keras.Model]) -> list[np.ndarray]:
    """The initial values of branch ``branch``'s variables for ``seed``; ``build()`` makes a
    fresh model for that seed (the global seed set, then built as a cold trial builds it)
    when this seed has not been seen."""
    values = group.initial.get((branch, seed))
    if values is None:
        values = [v.numpy() for v in build().variables]
    remember(group.initial, (branch, seed), values)
    return values


def remember(initial: OrderedDict[tuple[int, int], list[np.ndarray]], at: tuple[int, int],
             values: list[np.ndarray]) -> None:
    """Keep ``values`` under ``at`` (branch, seed) as the newest, within the byte budget."""
    initial.pop(at, None)
    initial[at] = values
    while initial and sum(a.nbytes for vs in initial.values() for a in vs) > _INITIAL_BYTES:
        initial.popitem(last=False)


def assign_all(variables: Sequence[Any], values: Sequence[Any], what: str) -> None:
    """Assign ``values`` to ``variables`` pairwise, after checking that they match: a kept
    model that does not is a bug in the trace key, never a half-copied trial."""
    if len(variables) != len(values) or any(tuple(v.shape) != tuple(np.shape(x)) for v, x in zip(variables, values)):
        raise RuntimeError(f"warm trainer: the kept {what} does not match this trial's; its trace key misses a field")
    for variable, value in zip(variables, values):
        variable.assign(value)


def reset_optimizer(model: keras.Model, initial: Sequence[np.ndarray], training: TrainingConfig) -> None:
    """Give ``model``'s optimizer the state this trial's own starts from: ``initial``, the
    values the kept optimizer had when it was built (slots zero, step zero, a loss scale's
    start: the same for every trial of the shape), then this trial's constant learning rate
    (a schedule is in the trace key: there the kept one is this trial's already)."""
    assign_all(model.optimizer.variables, initial, "optimizer")
    if training.lr_schedule == "constant":
        model.optimizer.learning_rate = training.learning_rate  # assigns Keras' variable


def _only_keras_layers(model: keras.Model) -> bool:
    for layer in model._flatten_layers(include_self=False):  # noqa: SLF001 - Keras' own walk
        if isinstance(layer, keras.layers.Lambda) or not type(layer).__module__.startswith("keras."):
            return False
    return True
