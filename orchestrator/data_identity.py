"""What a user's dataset *is*, as a digest: the part of a trial's id that stands for its data.

A trial on ``dataset.name: npz``, ``image_folder`` or ``loader`` is identified by the data's
content, not by where it lives: moving or renaming the data keeps stored results, and
changing one byte of it (or of the loader's source, or its params) makes new trials.

Computed in the driver at sweep expansion, where trial ids are made, so it only reads
bytes: user code is never imported here (it runs only in the Ray worker that loads the data).
Measured: SHA-256 of a 50 MB file in 0.07-0.08 s on this 2-core machine
(1 MiB reads), so content digests are affordable; each file's digest is kept
per process, keyed by (path, size, mtime), and each config's digest is computed once, so
a 100,000-trial sweep reads the data once.

- ``npz``: the file's bytes.
- ``image_folder``: every image file the loader reads (:data:`IMAGE_EXTENSIONS`, under the
  class sub-folders), by path relative to the folder and bytes; the class names are in the paths.
- ``loader``: the loader file's source (``file.py:function``, or the module's file found on
  the Python path without importing it), the function's name and ``dataset.params``. Files the
  loader reads are not part of it: give such a file as a param, or change a param
  (``version: 2``) when the data changes under the same code.

Pure Python (hashlib, json, os); raises :class:`ConfigError` for data that is not there.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import weakref
from pathlib import Path

from orchestrator.config import BUILTIN_DATASETS, DatasetConfig
from orchestrator.errors import ConfigError

__all__ = ["IMAGE_EXTENSIONS", "data_digest", "image_files", "split_loader"]

# The files keras.utils.image_dataset_from_directory reads (its ALLOWLIST_FORMATS), by
# lower-case suffix; trainers/data reads the same selection.
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


def data_digest(config: DatasetConfig) -> str | None:
    """SHA-256 (hex) of what the user's data is; None for a built-in dataset, whose name
    and fields already say what it is.

    Computed once per config object (the data is read when the experiment is planned):
    sweep expansion asks once per trial with the same object, and walking an image folder
    100,000 times would cost minutes."""
    if config.name in BUILTIN_DATASETS:
        return None
    hit = _by_config.get(id(config))
    if hit is not None and hit[0]() is config:
        return hit[1]
    digest = _digest(config)
    key = id(config)
    _by_config[key] = (weakref.ref(config, lambda _ref: _by_config.pop(key, None)), digest)
    return digest


# id(config) -> (a weak reference to it, its digest); an entry leaves with its config.
_by_config: dict[int, tuple[weakref.ref, str]] = {}


def _digest(config: DatasetConfig) -> str:
    if config.name == "npz":
        return _file_digest(_existing(config.path, "file", "dataset.path"))
    if config.name == "image_folder":
        return _folder_digest(_existing(config.path, "directory", "dataset.path"))
    return _loader_digest(config)


def image_files(root: Path) -> dict[str, list[Path]]:
    """Class name -> its image files, both sorted (Keras' order: class names sorted are the
    labels 0, 1, ...). Files directly under ``root`` belong to no class and are ignored, as
    Keras ignores them."""
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    return {
        name: sorted(
            p for p in (root / name).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
        )
        for name in classes
    }


def split_loader(reference: str) -> tuple[str, str, bool]:
    """``"file.py:function"`` -> (file, function, True); ``"module:function"`` ->
    (module, function, False). Raises ConfigError for anything else."""
    target, sep, function = reference.rpartition(":")
    if not sep or not target or not function.isidentifier():
        raise ConfigError(
            f"dataset.loader: {reference!r}: expected FILE.py:FUNCTION or MODULE:FUNCTION, e.g. loader: \"my_data.py:load\""
        )
    return target, function, target.endswith(".py")


def _existing(path: str | None, kind: str, key: str) -> Path:
    p = Path(path or "")
    ok = p.is_file() if kind == "file" else p.is_dir()
    if not ok:
        raise ConfigError(f"{key}: {p}: no such {kind}; check the path (relative paths are relative to the experiment file)")
    return p


def _file_digest(path: Path) -> str:
    st = path.stat()
    return _cached_file_digest(str(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4096)
def _cached_file_digest(path: str, size: int, mtime_ns: int) -> str:  # size, mtime: the cache key
    h = hashlib.sha256()
    with open(path, "rb") as f:  # in 1 MiB chunks (hashlib.file_digest needs Python 3.11)
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _folder_digest(root: Path) -> str:
    h = hashlib.sha256()
    for name, files in image_files(root).items():
        for path in files:
            rel = path.relative_to(root).as_posix()
            h.update(json.dumps([name, rel, _file_digest(path)]).encode())
    return h.hexdigest()


def _loader_digest(config: DatasetConfig) -> str:
    target, function, is_file = split_loader(config.loader or "")
    source = _existing(target, "file", "dataset.loader") if is_file else _module_file(target)
    identity = {"source": _file_digest(source), "function": function, "params": config.params}
    try:
        canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    except TypeError as e:  # YAML gives only JSON-like values, but the Python API can pass anything
        raise ConfigError(f"dataset.params: {e}; give numbers, text, booleans, lists and mappings") from e
    return hashlib.sha256(canonical.encode()).hexdigest()


def _module_file(module: str) -> Path:
    """The source file of ``module`` on the Python path, found without importing anything."""
    parts = module.split(".")
    for entry in sys.path:
        base = Path(entry or os.getcwd()).joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    raise ConfigError(
        f"dataset.loader: module {module!r} is not on the Python path here; give its file instead, "
        f"e.g. loader: \"{parts[-1]}.py:load\" (relative to the experiment file)"
    )
