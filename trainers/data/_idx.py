"""The IDX family (MNIST, Fashion-MNIST, notMNIST's IDX files): reading IDX and Keras
``.npz`` files, where datasets are searched for, and verified downloads.

Imports numpy and the standard library only.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.request
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainers.data._arrays import OPTIONAL, REQUIRED, DatasetError

__all__ = [
    "IdxSource", "IDX_FILES", "IDX_SOURCES", "MNIST_URL", "MNIST_FILES", "MNIST_SHA256", "FASHION_MNIST_URL",
    "FASHION_MNIST_MD5", "read_idx", "read_idx_dir", "read_keras_npz", "dataset_search_dirs", "mnist_search_dirs",
    "has_files", "download_idx", "download_mnist", "load_idx_family",
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
_IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned byte, 3 dimensions
_IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned byte, 1 dimension
_DOWNLOAD_TIMEOUT_S = 60


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


def has_files(directory: Path, stems: Iterable[str]) -> bool:
    return all((directory / f"{stem}.gz").is_file() for stem in stems)


# --- the IDX family: MNIST, Fashion-MNIST ------------------------------------------------------


def load_idx_family(name: str, data_dir: str | None, url: str | None) -> tuple[dict[str, np.ndarray], str]:
    """The arrays of ``name`` (found or downloaded, see ``load_dataset``) and where they came from."""
    source = IDX_SOURCES[name]
    dirs = dataset_search_dirs(name, data_dir)
    npz_name = f"{name}.npz"
    for directory in dirs:
        if has_files(directory, IDX_FILES.values()):
            return read_idx_dir(directory), str(directory)
        if (directory / npz_name).is_file():
            return read_keras_npz(directory / npz_name), str(directory / npz_name)
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
    return read_idx_dir(dirs[-1]), str(dirs[-1])


def read_idx_dir(directory: Path) -> dict[str, np.ndarray]:
    """The four IDX files of ``directory`` by role (x_train, y_train, x_test, y_test)."""
    return {role: read_idx(directory / f"{stem}.gz") for role, stem in IDX_FILES.items()}


def read_keras_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a Keras-layout ``.npz`` (x_train, y_train, x_test, y_test and, when
    present, x_val, y_val), unchecked: see :func:`check_arrays`. Never unpickles."""
    if not zipfile.is_zipfile(path):  # np.load would try it as a pickle, and say so
        raise DatasetError(f"{path}: not an .npz file (np.savez writes one); replace it with a good copy")
    try:
        # allow_pickle=False: a data file must never be able to run code.
        with np.load(path, allow_pickle=False) as npz:
            names = set(npz.files)
            missing = [k for k in REQUIRED if k not in names]
            if missing:
                raise DatasetError(
                    f"{path}: missing array {', '.join(missing)} (it has {', '.join(sorted(names)) or 'none'}); "
                    "expected x_train, y_train, x_test, y_test (optionally x_val, y_val) as Keras saves them: "
                    "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)"
                )
            return {k: npz[k] for k in (*REQUIRED, *OPTIONAL) if k in names}
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise DatasetError(
                f"{path}: holds object arrays, which only unpickling could read, and a data file must not run "
                "code; save plain numeric arrays (np.asarray(x, dtype='uint8'), labels as integers)"
            ) from e
        raise DatasetError(f"{path}: not a readable .npz file ({e}); replace it with a good copy") from e
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as e:
        raise DatasetError(f"{path}: not a readable .npz file ({e}); replace it with a good copy") from e


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
