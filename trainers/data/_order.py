"""The order a trial sees its training images in: a permutation per (seed, epoch), cut into
global batches. numpy only, so the decision is tested without TensorFlow."""

from __future__ import annotations

import numpy as np

__all__ = ["epoch_permutation", "epoch_batches"]


def epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which trial ``seed`` sees the ``n`` training images in ``epoch`` (0-based):
    a function of the trial's seed and the epoch only, never of its companions, so a trial
    shuffles alike alone, fused, and resumed after a crash; each epoch a different order."""
    return np.random.default_rng([seed, epoch]).permutation(n).astype(np.int32)


def epoch_batches(seeds: list[int], epoch: int, n: int, batch: int) -> tuple[np.ndarray, np.ndarray | None]:
    """One epoch of the trials ``seeds`` (one row each, in that order) as global batches of
    image indices: ``(full, tail)``, ``full`` int32 ``[K, n // batch, batch]`` and ``tail``
    ``[K, n % batch]`` (the last, ragged batch, as in ``fit()``) or None when ``batch``
    divides ``n``."""
    order = np.stack([epoch_permutation(seed, epoch, n) for seed in seeds])
    full = n // batch
    steps = order[:, : full * batch].reshape(len(seeds), full, batch)
    return steps, (order[:, full * batch :] if n % batch else None)
