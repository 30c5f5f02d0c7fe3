"""What every loader hands over: :class:`DatasetArrays`, and :func:`check_arrays`, the one
gate every loader's arrays pass through (built-in, npz, image folder, user loader alike).

Imports numpy only. Problems are a :class:`DatasetError` of one line naming the origin (a
file, a directory, a loader) and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn

import numpy as np

from orchestrator.config import DatasetConfig

__all__ = [
    "DatasetArrays", "DatasetError", "check_arrays", "holdout_count", "refuse_test",
    "with_validation_tail", "interleave_classes", "split_test_pool", "proportional_order", "count_not_finite", "REQUIRED", "OPTIONAL",
]

REQUIRED = ("x_train", "y_train", "x_test", "y_test")
OPTIONAL = ("x_val", "y_val")
_SPLITS = {"train": "train", "test": "test", "val": "validation"}
Fail = Callable[[str], NoReturn]
_CHUNK = 1 << 22  # elements per finiteness check: a bool temporary of 4 MB, not one per array


class DatasetError(ValueError):
    """Data missing or unreadable. The message names the file or directory and the fix."""


@dataclass(frozen=True)
class DatasetArrays:
    """One dataset split three ways, as arrays in memory (read-only views are fine).

    Inputs: images ``uint8`` ``(N, H, W, C)``, C in 1..4; or float32 features of any rank
    (tabular ``(N, F)``, sequences); or int32 ids. Labels: integers ``(N,)`` in
    ``0..num_classes-1`` (classification), or float32 targets ``(N, ...)`` with
    ``num_classes`` 0 (a regression). Built by loaders only after :func:`check_arrays`."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one image, e.g. ``(28, 28, 1)``."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def classification(self) -> bool:
        """Integer class labels (else float regression targets)."""
        return self.y_train.dtype.kind in "ui"

    @property
    def label_shape(self) -> tuple[int, ...]:
        """Shape of one label: () for class ids, the targets' per-example shape otherwise."""
        return tuple(int(d) for d in self.y_train.shape[1:])


def check_arrays(
    arrays: Mapping[str, object], origin: str, num_classes: int | None = None
) -> tuple[dict[str, np.ndarray], int]:
    """Check a loader's output and bring it to the trainers' form; return it and the class count.

    ``arrays`` holds ``x_train, y_train, x_test, y_test`` and optionally ``x_val, y_val``.
    Images: numpy arrays ``(N, H, W)`` (grey: a channel axis is added) or ``(N, H, W, C)``
    with C in 1..4, of unsigned/signed integers or floats whose values are whole pixel values
    0-255 (finite; converted to ``uint8`` without loss), the same image shape in every split.
    Labels: integers ``(N,)`` (or Keras' ``(N, 1)``), as many as images, in
    ``0..num_classes-1``. ``num_classes`` None (user data): the classes are ``0..max label``,
    at least 2, each with training images. Raises :class:`DatasetError` naming ``origin``.
    """
    fail = _failer(origin)
    missing = [k for k in REQUIRED if k not in arrays]
    half = [k for k in OPTIONAL if k not in arrays and any(o in arrays for o in OPTIONAL)]
    if missing or half:
        fail(f"missing {', '.join(missing + half)}; expected x_train, y_train, x_test, y_test "
             "(and optionally x_val with y_val), as Keras' datasets name them")
    out: dict[str, np.ndarray] = {}
    for key in (*REQUIRED, *OPTIONAL):
        if key in arrays:
            out[key] = _images(arrays[key], key, fail) if key[0] == "x" else _labels(arrays[key], key, fail)
    shape = out["x_train"].shape[1:]
    for split in [s for s in _SPLITS if f"x_{s}" in out]:
        x, y = out[f"x_{split}"], out[f"y_{split}"]
        if len(x) != len(y):
            fail(f"x_{split} has {len(x)} images but y_{split} {len(y)} labels; give one label per image")
        if len(x) == 0:
            fail(f"x_{split} is empty; give at least one {_SPLITS[split]} image")
        if x.shape[1:] != shape:
            fail(f"x_{split} images are {x.shape[1:]} but x_train images {shape}; every split needs one image shape")
    kinds = {k: "targets" if out[k].dtype.kind == "f" else "labels" for k in out if k[0] == "y"}
    if len(set(kinds.values())) > 1:
        fail(f"{', '.join(k for k, v in kinds.items() if v == 'targets')} hold float targets but "
             f"{', '.join(k for k, v in kinds.items() if v == 'labels')} integer labels; give every split one kind "
             "(integers: classes; floats: a regression)")
    if "targets" in kinds.values():
        if num_classes is not None:
            fail("labels are floats but this dataset has classes; replace the files with good copies")
        shapes = {out[k].shape[1:] for k in kinds}
        if len(shapes) > 1:
            fail(f"targets have different shapes per example across splits ({sorted(map(str, shapes))}); give one shape")
        return out, 0  # a regression: no classes
    classes = _check_classes(out, num_classes, fail)
    label_type = np.uint8 if classes <= 256 else np.int32  # uint8: what the built-ins always had
    for key in [k for k in out if k[0] == "y"]:
        out[key] = out[key].astype(label_type, copy=False)
    return out, classes


def _failer(origin: str) -> Fail:
    def fail(message: str) -> NoReturn:
        raise DatasetError(f"{origin}: {message}")

    return fail


def _images(value: object, key: str, fail: Fail) -> np.ndarray:
    """The inputs as the trainers take them. Images (rank 3 or 4) of whole pixel values 0-255,
    of any number type, become uint8 with a channel axis, as they always did (the model scales
    them: dataset.normalize). Other floats are taken as they are (float32: what the models
    compute in), any rank; other integers (token ids, rank 2) as int32."""
    x = _array(value, key, fail)
    if x.ndim < 2:
        fail(f"{key} has shape {x.shape}; expected one row per example: (N, features), (N, steps, features), "
             "(N, height, width[, channels]) ...")
    if x.dtype.kind == "f":
        bad = count_not_finite(x)
        if bad:
            fail(f"{key} has {bad} NaN or infinite values; fix or drop those examples")
        if not (x.ndim in (3, 4) and x.size and 0 <= x.min() and x.max() <= 255 and _whole(x)):
            return x.astype(np.float32, copy=False)
    elif x.ndim not in (3, 4):
        if x.size and (x.min() < -2**31 or x.max() >= 2**31):
            fail(f"{key} holds integers beyond int32; give them as floats or smaller ids")
        return x.astype(np.int32, copy=False)
    # Images: (N, H, W) or (N, H, W, C) of pixel values.
    if x.ndim == 3:  # grey images without a channel axis, as Keras stores MNIST
        x = x[..., np.newaxis]
    if not 1 <= x.shape[-1] <= 4:
        fail(f"{key} has shape {x.shape}; expected images (N, height, width) or (N, height, width, channels) "
             "with 1-4 channels, channels last (or float features of any shape)")
    if x.dtype != np.uint8 and x.size:
        low, high = x.min(), x.max()
        if low < 0 or high > 255:
            fail(f"{key} values range over [{low:g}, {high:g}]; integer images take pixels 0-255 "
                 "(other data: give it as floats, which are taken as they are)")
    return x.astype(np.uint8, copy=False)


def _whole(x: np.ndarray) -> bool:
    flat = x.reshape(-1)
    return all(bool(np.all(flat[i : i + _CHUNK] == np.round(flat[i : i + _CHUNK]))) for i in range(0, flat.size, _CHUNK))


def _labels(value: object, key: str, fail: Fail) -> np.ndarray:
    """Integer labels are class ids ``(N,)`` (Keras' ``(N, 1)`` too); float labels are
    regression targets ``(N,)`` or ``(N, outputs...)``, taken as float32."""
    y = _array(value, key, fail)
    if y.dtype.kind == "f":
        if y.ndim < 1:
            fail(f"{key} has shape {y.shape}; expected one target per example (N,) or (N, outputs)")
        bad = count_not_finite(y)
        if bad:
            fail(f"{key} has {bad} NaN or infinite targets; fix or drop those examples")
        return y.astype(np.float32, copy=False)
    if y.ndim == 2 and y.shape[1] == 1:  # Keras' CIFAR layout: (N, 1)
        y = y[:, 0]
    if y.ndim != 1:
        hint = " (one-hot? save y.argmax(axis=1))" if y.ndim == 2 else ""
        fail(f"{key} has shape {y.shape}; expected integer class labels (N,){hint}, or float targets for a regression")
    return y


def _array(value: object, key: str, fail: Fail) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        fail(f"{key} is a {type(value).__name__}; expected a numpy array (np.asarray(...))")
    if value.dtype.kind not in "uif":  # bool, object, str, bytes, complex, datetime...
        fail(f"{key} has dtype {value.dtype}; expected numbers (pixels, features; integer labels or float targets)")
    return value


def count_not_finite(x: np.ndarray) -> int:
    flat = x.reshape(-1)
    return sum(int(np.count_nonzero(~np.isfinite(flat[i : i + _CHUNK]))) for i in range(0, flat.size, _CHUNK))


def _check_classes(out: dict[str, np.ndarray], num_classes: int | None, fail: Fail) -> int:
    labels = {k: v for k, v in out.items() if k[0] == "y"}
    low = min(int(y.min()) for y in labels.values())
    high = max(int(y.max()) for y in labels.values())
    if low < 0:
        fail(f"labels include {low}; expected class numbers 0..classes-1")
    if num_classes is not None:
        if high >= num_classes:
            worst = max(labels, key=lambda k: int(labels[k].max()))
            fail(f"{worst} includes label {high} but this dataset has {num_classes} classes (0-{num_classes - 1}); "
                 "replace the files with good copies")
        return num_classes
    classes = high + 1
    if classes < 2:
        fail(f"every label is {high}: one class is nothing to learn; give images of at least 2 classes")
    seen = np.bincount(out["y_train"], minlength=classes)
    absent = np.flatnonzero(seen == 0)
    if absent.size:
        one_based = " (labels 1..N? subtract 1)" if absent.tolist() == [0] else ""
        fail(f"labels run to {high}, so there are {classes} classes, but y_train has none of class "
             f"{', '.join(map(str, absent[:10].tolist()))}{one_based}; labels must be 0..classes-1, "
             "each class with training images")
    return classes


# --- splits -----------------------------------------------------------------------------------


def with_validation_tail(
    config: DatasetConfig, arrays: Mapping[str, np.ndarray], num_classes: int | None, origin: str
) -> DatasetArrays:
    """Check ``arrays`` and build the :class:`DatasetArrays`: ``x_val``/``y_val`` when the data
    has them (``dataset.validation`` must then be left at its default), else
    ``config.validation`` held out from the end of the training images."""
    checked, classes = check_arrays(arrays, origin, num_classes)
    if "x_val" in checked:
        default = DatasetConfig().validation
        if config.validation != default:
            raise DatasetError(
                f"dataset.validation: {origin} has its own validation split, which is used as it is; "
                f"remove validation (or leave it at {default})"
            )
        parts = [checked[k] for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")]
        return DatasetArrays(config.name, *parts, num_classes=classes)
    x, y = checked["x_train"], checked["y_train"]
    cut = len(x) - holdout_count("validation", config.validation, len(x), config.name)
    return DatasetArrays(
        config.name, x[:cut], y[:cut], x[cut:], y[cut:], checked["x_test"], checked["y_test"], num_classes=classes
    )


def refuse_test(config: DatasetConfig, what: str) -> None:
    if config.test is not None:
        raise DatasetError(
            f"dataset.test: {what} has its own test split; remove test "
            f"(it is only for data without one, such as the notMNIST test part alone)"
        )


def holdout_count(key: str, value: float, n_pool: int, name: str) -> int:
    """Images ``dataset.<key>`` takes from the end of a pool of ``n_pool``: a fraction (< 1)
    or a count (>= 1). At least one must be taken and at least one left."""
    n = int(round(value * n_pool)) if value < 1 else int(value)
    pool = "training images" if key == "validation" else "images"
    if n < 1:
        raise DatasetError(
            f"dataset.{key}={value} leaves no {key} images out of {n_pool} "
            f"in {name}; use a larger fraction or a count >= 1"
        )
    if n >= n_pool:
        raise DatasetError(
            f"dataset.{key}={value} takes {n} of the {n_pool} {pool} "
            f"in {name}, leaving none to train on; use a count below {n_pool} or a fraction < 1"
        )
    return n


def interleave_classes(labels: np.ndarray) -> np.ndarray:
    """Stable order by (rank within class, class): round-robin over classes, so that tail
    hold-outs get every class in equal measure whatever the source's order."""
    order = np.argsort(labels, kind="stable")
    rank = np.empty_like(order)
    sorted_labels = labels[order]
    starts = np.searchsorted(sorted_labels, sorted_labels, side="left")
    rank[order] = np.arange(len(labels)) - starts
    return np.lexsort((labels, rank))


def proportional_order(labels: np.ndarray) -> np.ndarray:
    """Order by each image's relative position within its class, ``(rank + 0.5) / class
    size``: every tail of it holds each class in proportion to its size, so hold-outs
    from the end are stratified even when classes are not of one size."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    rank = np.empty(len(labels), dtype=np.float64)
    rank[order] = np.arange(len(labels)) - np.searchsorted(sorted_labels, sorted_labels, side="left")
    return np.lexsort((labels, (rank + 0.5) / np.bincount(labels)[labels]))


def split_test_pool(
    config: DatasetConfig,
    x: np.ndarray,
    y: np.ndarray,
    origin: str,
    num_classes: int | None,
    arrange: Callable[[np.ndarray], np.ndarray] = interleave_classes,
) -> DatasetArrays:
    """One pool of images without a test split: put in the order ``arrange`` gives (classes
    interleaved, by default), ``config.test`` held out from the end as test, then
    validation from the end of the rest."""
    order = arrange(np.asarray(y))
    x, y = x[order], y[order]
    cut = len(y) - holdout_count("test", config.test, len(y), config.name)  # type: ignore[arg-type]
    arrays = {"x_train": x[:cut], "y_train": y[:cut], "x_test": x[cut:], "y_test": y[cut:]}
    return with_validation_tail(config, arrays, num_classes, origin)
