"""Trace once per shape (issue 19): a trainer keeps the models and traced steps of the groups it
ran, and trains a later group of the same shape on them, without building or tracing.

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

A trainer keeps the last few shapes it ran (a grid returns to each shape once per learning
rate), within a memory budget, and the newest always: so a trainer holds a bounded number of
models and graphs over any number of trials (issue 23's flat memory holds; tests/test_memory.py).
A group that raises keeps nothing. Runs inside a trainer process.
"""

from __future__ import annotations

import atexit
import gc
import random
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from orchestrator.config import TrainingConfig
from orchestrator.plan import trace_key
from orchestrator.trial import TrialSpec

__all__ = ["KeptGroup", "assign_all", "drop", "group_key", "initial_values", "keep", "kept", "kept_shapes", "remember", "reset_optimizer", "seed_host_generators", "shapes_match", "take"]

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


# The kept groups, oldest first. The newest is always kept; older ones while all of them
# together hold at most _KEPT_BYTES of variables and there are at most _SHAPES_KEPT: a grid
# sends a trainer trials of a few shapes in turn (optimizer x activation x batch size, each
# with several learning rates), and every return to a kept shape is a trace saved.
_kept: OrderedDict[Hashable, KeptGroup] = OrderedDict()
_SHAPES_KEPT = 4
_KEPT_BYTES = 256 * 2**20


def group_key(specs: Sequence[TrialSpec], device: Any) -> Hashable:
    """The shape of a group: each branch's trace key, in order, and the device."""
    return (tuple(trace_key(spec) for spec in specs), device)


def take(key: Hashable, data: Any) -> KeptGroup | None:
    """The kept group of shape ``key`` on ``data``, removed from the keeping (a group that
    fails keeps nothing), or None. Groups kept on other data are dropped: a trainer holds one
    dataset, and a kept group would hold an old one alive."""
    for other in [k for k, g in _kept.items() if g.data is not data]:
        del _kept[other]
    return _kept.pop(key, None)


def keep(group: KeptGroup) -> None:
    """Keep ``group`` for a later one of its shape, when every model in it is made of Keras'
    own layers; older groups go beyond the limits above."""
    if not all(_only_keras_layers(m) for m in group.models):
        return
    _kept[group.key] = group
    _kept.move_to_end(group.key)
    while len(_kept) > 1 and (len(_kept) > _SHAPES_KEPT or sum(_nbytes(g) for g in _kept.values()) > _KEPT_BYTES):
        _kept.popitem(last=False)


def kept() -> KeptGroup | None:
    """The group kept last (tests), or None."""
    return next(reversed(_kept.values()), None)


def kept_shapes() -> int:
    """How many groups are kept now."""
    return len(_kept)


def drop() -> None:
    """Keep nothing: the next group builds and traces."""
    _kept.clear()


@atexit.register
def _drop_at_exit() -> None:
    """Release the kept models and graphs while TensorFlow is whole: left to the interpreter's
    teardown, they were destroyed after parts of TensorFlow and Ray they use, and the process
    (a pytest run that had Ray and kept groups) ended with a segmentation fault."""
    drop()
    gc.collect()


def _nbytes(group: KeptGroup) -> int:
    """The memory a kept group holds in variables: weights, optimizer state, initial values."""
    live = sum(int(np.prod(v.shape)) * _itemsize(v.dtype)
               for m in group.models for v in [*m.variables, *m.optimizer.variables])
    return live + sum(a.nbytes for vs in group.initial.values() for a in vs)


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


def seed_host_generators(seed: int) -> None:
    """Seed Python's and NumPy's process-wide generators as ``keras.utils.set_random_seed``
    does before a cold trial's build, and nothing else: that call also sets TensorFlow's
    global seed, and setting it clears TensorFlow's kernel cache (``TFE_ContextClearCaches``,
    "to reset any existing seeds"), after which every call of a kept step makes its kernels
    again (measured: 200 tiny trials, 6.5 s running with the cache kept, ~17 s with it cleared
    per trial). A warm trial makes no TensorFlow random op for the global seed to reach: its
    steps are traced already and its layers draw from their own seed generators, whose states
    are part of the initial values each trial is given (only Keras-own layers are kept)."""
    random.seed(seed)
    np.random.seed(seed)


def assign_all(variables: Sequence[Any], values: Sequence[Any], what: str) -> None:
    """Assign ``values`` to ``variables`` pairwise, after checking that they match: a kept
    model that does not is a bug in the trace key, never a half-copied trial."""
    if not shapes_match(variables, values):
        raise RuntimeError(f"warm trainer: the kept {what} does not match this trial's; its trace key misses a field")
    for variable, value in zip(variables, values):
        variable.assign(value)


def shapes_match(variables: Sequence[Any], values: Sequence[Any]) -> bool:
    """Whether ``values`` (variables, arrays or nested lists) fit ``variables`` one for one."""
    return len(variables) == len(values) and all(
        tuple(v.shape) == tuple(np.shape(x) if not hasattr(x, "shape") else x.shape) for v, x in zip(variables, values))


def reset_optimizer(model: keras.Model, initial: Sequence[np.ndarray], training: TrainingConfig) -> None:
    """Give ``model``'s optimizer the state this trial's own starts from: ``initial``, the
    values the kept optimizer had when it was built (slots zero, step zero, a loss scale's
    start: the same for every trial of the shape), then this trial's constant learning rate
    (a schedule is in the trace key: there the kept one is this trial's already)."""
    assign_all(model.optimizer.variables, initial, "optimizer")
    if training.lr_schedule == "constant":
        model.optimizer.learning_rate = training.learning_rate  # assigns Keras' variable


def _itemsize(dtype: Any) -> int:
    try:
        return np.dtype(dtype).itemsize
    except TypeError:  # bfloat16 and the like: numpy has no name for them
        return 2 if "16" in str(dtype) else 4


def _only_keras_layers(model: keras.Model) -> bool:
    for layer in model._flatten_layers(include_self=False):  # noqa: SLF001 - Keras' own walk
        if isinstance(layer, keras.layers.Lambda) or not type(layer).__module__.startswith("keras."):
            return False
    return True
