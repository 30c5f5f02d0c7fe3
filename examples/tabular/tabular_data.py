"""Synthetic tables for the tabular examples: standardised float32 features (negative values
included), a 3-class label or a float regression target. Deterministic (seeded), so the
examples' trial ids and results are the same everywhere."""

import numpy as np


def _features(rng: np.random.Generator, n: int, features: int) -> np.ndarray:
    x = rng.standard_normal((n, features)) * rng.uniform(0.5, 3.0, features) + rng.uniform(-2, 2, features)
    return x.astype(np.float32)


def classes(n_train: int = 2400, n_test: int = 600, features: int = 20, seed: int = 0) -> dict:
    """3 classes from a noisy linear score of the features; features standardised with the
    training split's mean and spread."""
    rng = np.random.default_rng(seed)
    x = _features(rng, n_train + n_test, features)
    weights = rng.standard_normal((features, 3))
    y = (x @ weights + rng.normal(0, 2.0, (len(x), 3))).argmax(axis=1)
    mean, std = x[:n_train].mean(axis=0), x[:n_train].std(axis=0)
    x = (x - mean) / std
    return {"x_train": x[:n_train], "y_train": y[:n_train], "x_test": x[n_train:], "y_test": y[n_train:]}


def values(n_train: int = 2400, n_test: int = 600, features: int = 8, seed: int = 0) -> dict:
    """A float target: a smooth function of the features plus noise."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_train + n_test, features)).astype(np.float32)
    y = (np.sin(x[:, 0]) + 0.5 * x[:, 1] * x[:, 2] + x[:, 3:].sum(axis=1) / 4 + rng.normal(0, 0.1, len(x)))
    y = y.astype(np.float32)
    return {"x_train": x[:n_train], "y_train": y[:n_train], "x_test": x[n_train:], "y_test": y[n_train:]}
