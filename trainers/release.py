"""Releasing what a finished trial held, so that a trainer that has run 2,000 trials holds
what it held after 20 (issue 23).

What a trial makes lives in its frames (model, optimizer, compiled ``tf.function``s, the
dataset tensors, callbacks and their TensorBoard writers, checkpoint handles, a fused group's
shared functions) and goes when they return, except where the frameworks keep a reference in
process-wide state. Measured on TF 2.21 / Keras 3.15, the one that grows without bound is
TensorFlow's gradient registry: every trace of a training step registers a
``CustomGradient-<uid>`` entry there (Keras' optimizer all-reduces gradients through
``ReplicaContext.all_reduce``, a ``tf.custom_gradient``), and the entry's gradient function
closes over the traced graph. So each trial's whole train-step ``FuncGraph`` (about a thousand
ops), its while-loop bodies and their function definitions in the eager context stayed alive:
about 3,000 Python objects and 1-2.3 MiB of resident memory per tiny trial, for ever.

:func:`trial_scope` runs one trial (or fused group) and afterwards drops the registry entries
the trial added (no graph of a finished trial is ever differentiated again), Keras' global
state (``keras.backend.clear_session``: layer-name counters, the default graph, the kernel
cache; not while the trainer keeps the group's models and traces for a later trial of its
shape, trainers/warm_traces.py, a bounded set) and collects the cycles. None of this reaches a result: every trial sets the global
seeds itself before building (``keras.utils.set_random_seed``) and starts from a cleared
session anyway (tests/test_memory.py compares per-epoch metrics bit for bit).

Runs inside a trainer process. Never imports Ray.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator

__all__ = ["custom_gradient_names", "freeze_startup_objects", "release_trial_state", "trial_scope"]

_PREFIX = "CustomGradient-"


def _gradient_registry() -> dict[str, object] | None:
    """TensorFlow's process-wide op-name -> gradient-function table, or None if this
    TensorFlow keeps it elsewhere (then there is nothing of ours to drop)."""
    from tensorflow.python.framework import ops  # private, hence the getattr guards

    registry = getattr(ops, "_gradient_registry", None)
    table = getattr(registry, "_registry", None)
    return table if isinstance(table, dict) else None


def custom_gradient_names() -> frozenset[str]:
    """The ``tf.custom_gradient`` entries registered in this process so far."""
    table = _gradient_registry()
    return frozenset(k for k in table if k.startswith(_PREFIX)) if table is not None else frozenset()


def release_trial_state(before: frozenset[str], clear_keras: bool = True) -> None:
    """Drop what a finished trial left in process-wide state: the custom-gradient entries
    registered since ``before`` (:func:`custom_gradient_names` taken at its start), Keras'
    global state, and the reference cycles that kept its graphs, models and writers.

    ``clear_keras=False`` while the trainer keeps the group's models and traces for the next
    trial (trainers/warm_traces.py): Keras' clear_session also empties TensorFlow's kernel
    cache, and the kept step would then make its ~1,000 kernels again on its first call
    (measured: 1.5 ms -> ~35 ms a call for a tiny model). The next group that builds clears
    the session first itself."""
    import keras

    table = _gradient_registry()
    if table is not None:
        for name in [k for k in table if k.startswith(_PREFIX) and k not in before]:
            del table[name]
    if clear_keras:
        keras.backend.clear_session(free_memory=False)
    gc.collect()


@contextlib.contextmanager
def trial_scope(keeping: Callable[[], bool] = lambda: False) -> Iterator[None]:
    """Run the body as one trial (or fused group); release what it left when it ends,
    whether it returned or raised. Call with the trial's objects local to the body.
    ``keeping()``, asked at the end: whether the trainer kept the group for the next one."""
    before = custom_gradient_names()
    try:
        yield
    finally:
        release_trial_state(before, clear_keras=not keeping())


def freeze_startup_objects() -> None:
    """Move every object alive now (TensorFlow's and Keras' import-time objects, ~400k) out
    of the garbage collector's reach, so the collection after each trial scans only what
    trials made: 0.1-0.5 s per full collection on a busy 2-core machine, microseconds after.
    Call once in a trainer process after TensorFlow is set up and before the first trial;
    objects frozen are never collected, so never after a trial has run (CPython's
    ``gc.freeze``, made for long-lived pre-fork servers)."""
    gc.collect()
    gc.freeze()
