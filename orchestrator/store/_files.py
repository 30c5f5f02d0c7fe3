"""Files on any pyarrow filesystem (a local path, NFS, ``s3://``, ``gs://``, ...): opening
one from a path or URI, writing a file atomically, listing data files fast on a local disk.

Atomic: a file is written under a dot-prefixed temporary name in its final directory and
then renamed, so a reader (which skips dot-files) never sees a partial file."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable

import pyarrow as pa
import pyarrow.fs as pafs

from orchestrator.store._base import StoreError

__all__ = ["open_filesystem", "write_atomic", "scan_local", "is_data", "base_name", "first_line"]


def open_filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    if "://" not in uri:
        return pafs.LocalFileSystem(), os.path.abspath(uri)
    try:
        return pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, OSError) as e:
        raise StoreError(f"store {uri!r}: cannot open ({e}); pass a local path or a pyarrow filesystem URI") from e


def is_data(name: str) -> bool:
    return name.endswith(".parquet") and not name.startswith((".", "_"))


def base_name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def first_line(error: BaseException) -> str:
    line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return re.sub(r"^Could not open Parquet input source '[^']*': ", "", line)  # the path is said already


def write_atomic(fs: pafs.FileSystem, directory: str, name: str, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` to write a temporary file in ``directory``, then move it to ``name``;
    on any failure the temporary file is removed and the error goes on."""
    fs.create_dir(directory, recursive=True)
    tmp = f"{directory}/.tmp-{uuid.uuid4().hex}-{name}"
    try:
        write(tmp)
        fs.move(tmp, f"{directory}/{name}")
    except BaseException:
        try:
            fs.delete_file(tmp)
        except OSError:
            pass
        raise


def scan_local(directory: str) -> list[str]:
    paths = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if is_data(entry.name):
                    paths.append(f"{directory}/{entry.name}")
                elif not entry.name.startswith(".") and entry.is_dir():
                    paths += scan_local(f"{directory}/{entry.name}")
    except (FileNotFoundError, NotADirectoryError):
        pass
    return paths
