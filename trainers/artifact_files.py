"""Where a trial's artifacts live when the store is not a local directory: the store's own
pyarrow filesystem (``s3://``, ``gs://``, ``hdfs://``, ...), the one the results go to.

Keras saves and TensorBoard writes through local paths, so a trial works in a local scratch
directory and :class:`RemoteArtifacts` copies finished files up, each as one whole object
under its final name (``write_atomic``: a temporary name, then a move), and copies a
checkpoint down before a resume. An upload that fails is retried, then given up with one
:class:`ArtifactWarning`: a lost checkpoint or event file costs a resume point or a chart,
never the trial's result row. Runs in the trainer process."""

from __future__ import annotations

import shutil
import tempfile
import time
import warnings
from pathlib import Path

import pyarrow.fs as pafs

from orchestrator.store import open_filesystem, write_atomic

__all__ = ["RemoteArtifacts", "ArtifactWarning", "is_remote"]

_ATTEMPTS = 3
_BACKOFF_SECONDS = 0.5


class ArtifactWarning(UserWarning):
    """An artifact could not be written to the store after retries."""


def is_remote(root: str | None) -> bool:
    return bool(root) and "://" in str(root)


class RemoteArtifacts:
    """A scratch directory mirrored, file by file, to ``root`` on the store's filesystem."""

    def __init__(self, root: str, trial_id: str) -> None:
        self._fs, self._base = open_filesystem(root)
        self._uri = root.split("?", 1)[0]  # for messages: never the query (it may hold keys)
        self.scratch = Path(tempfile.mkdtemp(prefix=f"orch-{trial_id}-"))

    def describe(self, relative: str) -> str:
        return f"{self._uri}/{relative}"

    def remote(self, relative: str) -> str:
        return f"{self._base}/{relative}"

    def exists(self, relative: str) -> bool:
        return self._fs.get_file_info(self.remote(relative)).type == pafs.FileType.File

    def read_bytes(self, relative: str) -> bytes:
        with self._fs.open_input_stream(self.remote(relative)) as stream:
            return stream.read()

    def download(self, relative: str) -> Path:
        """The remote file ``relative`` copied to the same place under the scratch directory."""
        local = self.scratch / relative
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".tmp-{local.name}")
        pafs.copy_files(self.remote(relative), str(tmp), source_filesystem=self._fs,
                        destination_filesystem=pafs.LocalFileSystem())
        tmp.replace(local)
        return local

    def upload(self, local: Path, relative: str, what: str) -> bool:
        """Copy ``local`` to ``relative`` as one whole file; True when it arrived. Failures
        are retried, then reported in one warning (no exception: the trial goes on)."""
        directory, _, name = self.remote(relative).rpartition("/")
        data = local.read_bytes()

        def write(tmp: str) -> None:
            with self._fs.open_output_stream(tmp) as out:
                out.write(data)

        for attempt in range(1, _ATTEMPTS + 1):
            try:
                write_atomic(self._fs, directory, name, write)
                return True
            except OSError as e:
                if attempt == _ATTEMPTS:
                    line = (str(e).strip().splitlines() or [type(e).__name__])[0]
                    warnings.warn(f"could not write the {what} to {self.describe(relative)} after {_ATTEMPTS} "
                                  f"attempts ({line}); the trial goes on without it", ArtifactWarning, stacklevel=2)
                    return False
                time.sleep(_BACKOFF_SECONDS * attempt)
        return False

    def upload_tree(self, local_dir: Path, what: str) -> None:
        """Every file under ``local_dir`` (a directory below the scratch), to the same place."""
        if not local_dir.exists():
            return
        for path in sorted(p for p in local_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
            self.upload(path, path.relative_to(self.scratch).as_posix(), what)

    def delete_dir(self, relative: str) -> None:
        try:
            self._fs.delete_dir(self.remote(relative))
        except (FileNotFoundError, OSError):
            pass  # nothing there, or already gone: the same outcome

    def delete_file(self, relative: str) -> None:
        try:
            self._fs.delete_file(self.remote(relative))
        except (FileNotFoundError, OSError):
            pass

    def list_names(self, relative: str) -> list[str]:
        selector = pafs.FileSelector(self.remote(relative), allow_not_found=True)
        return [i.base_name for i in self._fs.get_file_info(selector) if i.type == pafs.FileType.File]

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)
