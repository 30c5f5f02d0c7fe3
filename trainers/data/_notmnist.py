"""notMNIST (letters A-J as classes 0-9, 28x28): the IDX files, or the Udacity course's pickle.

Imports numpy and the standard library only.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from orchestrator.config import DatasetConfig
from trainers.data._arrays import (
    DatasetArrays,
    DatasetError,
    count_not_finite,
    refuse_test,
    split_test_pool,
    with_validation_tail,
)
from trainers.data._idx import IDX_FILES, dataset_search_dirs, has_files, read_idx, read_idx_dir

__all__ = ["NOTMNIST_PICKLE", "NOTMNIST_CLASSES", "load_notmnist"]

# notMNIST as the Udacity deep-learning course saved it (see _read_notmnist_pickle).
NOTMNIST_PICKLE = "notMNIST.pickle"
NOTMNIST_CLASSES = 10
_NOTMNIST_SPLITS = ("train", "valid", "test")


def load_notmnist(config: DatasetConfig) -> DatasetArrays:
    """notMNIST (letters A-J as classes 0-9, 28x28). Never downloaded: there is no canonical,
    checksummed source. In each directory of :func:`dataset_search_dirs`, in order:

    * IDX, all four files: its own train and test splits; ``validation`` from the end of train.
    * IDX, the test part alone (``t10k-*``): one pool of images, put in a fixed class-
      interleaved order (0,1,...,9,0,1,...) so that tail hold-outs are stratified whatever
      the file's order, then ``config.test`` is held out from the end as test and
      ``config.validation`` from the end of the rest. ``config.test`` is required.
    * :data:`NOTMNIST_PICKLE`, only with ``config.allow_pickle`` (unpickling runs code). Its
      own train / valid / test splits are used as they are, as the course used them:
      ``config.test`` must be unset and ``config.validation`` left at its default (a
      different value is an error rather than silently ignored).

    IDX files beat a pickle in the same directory. A pickle that may not be read does not
    stop the search; it is reported only when nothing else is found.
    """
    dirs = dataset_search_dirs(config.name, config.data_dir)
    refused: Path | None = None
    for directory in dirs:
        if has_files(directory, IDX_FILES.values()):
            refuse_test(config, f"notmnist in {directory}")
            return with_validation_tail(config, read_idx_dir(directory), NOTMNIST_CLASSES, str(directory))
        if has_files(directory, (IDX_FILES["x_test"], IDX_FILES["y_test"])):
            return _split_test_pool(config, directory)
        pickle_path = directory / NOTMNIST_PICKLE
        if pickle_path.is_file():
            if config.allow_pickle:
                return _notmnist_from_pickle(config, pickle_path)
            refused = refused or pickle_path
    if refused is not None:
        raise DatasetError(
            f"{refused}: notMNIST is here only as a pickle, and unpickling a file can run "
            "arbitrary code, so it is not read unless you allow it: set dataset.allow_pickle: "
            "true if you trust this file (or provide the IDX .gz files instead)"
        )
    searched = ", ".join(str(d) for d in dirs)
    raise DatasetError(
        f"notmnist not found (searched {searched}); it is never downloaded. Put "
        f"{IDX_FILES['x_test']}.gz and {IDX_FILES['y_test']}.gz (plus {IDX_FILES['x_train']}.gz "
        f"and {IDX_FILES['y_train']}.gz if you have them) or the course's {NOTMNIST_PICKLE} "
        "(with dataset.allow_pickle: true) in a directory and set dataset.data_dir to it, "
        "or put them in $ORCH_DATA_DIR/notmnist"
    )


def _split_test_pool(config: DatasetConfig, directory: Path) -> DatasetArrays:
    if config.test is None:
        raise DatasetError(
            f"{directory}: holds only the notMNIST test part ({IDX_FILES['x_test']}.gz), which has "
            "no separate test split; set dataset.test to hold some of it out as test, "
            "e.g. test: 0.2 (fraction) or test: 2000 (count)"
        )
    x = read_idx(directory / f"{IDX_FILES['x_test']}.gz")
    y = read_idx(directory / f"{IDX_FILES['y_test']}.gz")
    if len(x) != len(y):
        raise DatasetError(f"{directory}: {len(x)} test images but {len(y)} labels; replace the files with good copies")
    return split_test_pool(config, x, y, str(directory), NOTMNIST_CLASSES)


def _notmnist_from_pickle(config: DatasetConfig, path: Path) -> DatasetArrays:
    refuse_test(config, f"notmnist's {path}")
    default_validation = DatasetConfig().validation
    if config.validation != default_validation:
        raise DatasetError(
            f"dataset.validation: notmnist's {path} has its own validation split, which is "
            f"used as it is; remove validation (or leave it at {default_validation})"
        )
    pickled = _read_notmnist_pickle(path)
    arrays = {f"{r}_{s.replace('valid', 'val')}": pickled[f"{r}_{s}"] for s in _NOTMNIST_SPLITS for r in ("x", "y")}
    return with_validation_tail(config, arrays, NOTMNIST_CLASSES, str(path))


def _read_notmnist_pickle(path: Path) -> dict[str, np.ndarray]:
    """Read the Udacity course's ``notMNIST.pickle``: a dict of ``{train,valid,test}_dataset``
    (float32 ``(N, 28, 28)``, ``(pixel - 127.5) / 255``) and ``{train,valid,test}_labels``.
    Images come back as ``uint8`` ``(N, 28, 28, 1)`` pixels, ``round((x + 0.5) * 255)``.
    Call only with the user's consent: this unpickles."""
    try:
        with path.open("rb") as f:
            try:
                obj = pickle.load(f)  # noqa: S301 - only with dataset.allow_pickle
            except UnicodeDecodeError:  # written by Python 2: numpy's bytes need latin1
                f.seek(0)
                obj = pickle.load(f, encoding="latin1")  # noqa: S301
    except Exception as e:  # unpickling can fail in any way the file's code chooses
        raise DatasetError(f"{path}: cannot unpickle ({type(e).__name__}: {e}); replace it with a good copy") from e
    keys = [f"{s}_{k}" for s in _NOTMNIST_SPLITS for k in ("dataset", "labels")]
    missing = [k for k in keys if not isinstance(obj, dict) or k not in obj]
    if missing:
        raise DatasetError(
            f"{path}: expected a dict with {', '.join(keys)} as the course saved it; "
            f"missing {', '.join(missing)}"
        )
    arrays: dict[str, np.ndarray] = {}
    for split in _NOTMNIST_SPLITS:
        x = np.asarray(obj[f"{split}_dataset"])
        y = np.asarray(obj[f"{split}_labels"])
        if x.ndim == 3:
            x = x[..., np.newaxis]
        if not (np.issubdtype(x.dtype, np.floating) or x.dtype == np.uint8):
            raise DatasetError(
                f"{path}: {split}_dataset has dtype {x.dtype}; expected float images in "
                "[-0.5, 0.5] (or uint8 pixels); replace it with a good copy"
            )
        if not np.issubdtype(y.dtype, np.integer):
            raise DatasetError(f"{path}: {split}_labels has dtype {y.dtype}; expected integer classes")
        if x.dtype != np.uint8 and count_not_finite(x):
            raise DatasetError(f"{path}: {split}_dataset has NaN or infinite pixel values; replace it with a good copy")
        arrays[f"x_{split}"] = _pixels_from_centered(x) if x.dtype != np.uint8 else x
        arrays[f"y_{split}"] = y
    return arrays


def _pixels_from_centered(x: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Invert ``(pixel - 127.5) / 255``, in chunks: the course's 200k-image train set is
    630 MB as float32 and a whole-array float temporary would double that."""
    out = np.empty(x.shape, dtype=np.uint8)
    for i in range(0, len(x), chunk):
        block = (x[i : i + chunk].astype(np.float32) + np.float32(0.5)) * np.float32(255)
        np.clip(np.rint(block, out=block), 0, 255, out=block)
        out[i : i + chunk] = block
    return out


