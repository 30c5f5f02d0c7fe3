"""Results store as plain Parquet files on any pyarrow filesystem (local path or URI).

Layout under the root::

    trials/<sweep>/<trial_id>-<run_id>.parquet    one trial row
    epochs/<sweep>/<trial_id>-<run_id>.parquet    that run's epoch rows
    configs/<sweep>/<config-hash>.yaml            resolved experiment, once per distinct config

Every file is written to a dot-prefixed temporary name in its final directory and then
renamed, so readers (which skip dot-files) never see a partial file. The trial row is
written last and is what makes a run visible; epoch rows without one are ignored.
"""

from __future__ import annotations

import hashlib
import os
import uuid

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import yaml

from orchestrator.config import Experiment
from orchestrator.store._base import ResultsStore, StoreError
from orchestrator.store._schema import EPOCHS_SCHEMA, TRIALS_SCHEMA

__all__ = ["ParquetResultsStore", "DEFAULT_STORE"]

DEFAULT_STORE = "./orch-results"


def _open_filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    if "://" not in uri:
        return pafs.LocalFileSystem(), os.path.abspath(uri)
    try:
        return pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, OSError) as e:
        raise StoreError(f"store {uri!r}: cannot open ({e}); pass a local path or a pyarrow filesystem URI") from e


class ParquetResultsStore(ResultsStore):
    def __init__(self, uri: str = DEFAULT_STORE) -> None:
        self.uri = uri
        self._fs, self._root = _open_filesystem(uri)
        info = self._fs.get_file_info(self._root)
        if info.type == pafs.FileType.File:
            raise StoreError(f"store {uri!r} is a file, not a directory; pass a directory with --store")

    @property
    def artifacts_root(self) -> str | None:
        # Keras saves through local paths; remote stores keep results only (for now).
        return self._root if isinstance(self._fs, pafs.LocalFileSystem) else None

    def _dir(self, table: str, sweep: str | None = None) -> str:
        return f"{self._root}/{table}" + (f"/{sweep}" if sweep else "")

    def _write_atomic(self, directory: str, name: str, write) -> None:
        self._fs.create_dir(directory, recursive=True)
        tmp = f"{directory}/.tmp-{uuid.uuid4().hex}-{name}"
        try:
            write(tmp)
            self._fs.move(tmp, f"{directory}/{name}")
        except BaseException:
            try:
                self._fs.delete_file(tmp)
            except OSError:
                pass
            raise

    def _write(self, sweep: str, run_id: str, trial_id: str, trials: pa.Table, epochs: pa.Table) -> None:
        name = f"{trial_id}-{run_id}.parquet"
        for table_name, table in (("epochs", epochs), ("trials", trials)):  # trial row last
            self._write_atomic(
                self._dir(table_name, sweep),
                name,
                lambda path, t=table: pq.write_table(t, path, filesystem=self._fs),
            )

    def save_config(self, experiment: Experiment) -> str:
        text = yaml.safe_dump(experiment.to_dict(), sort_keys=False)
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        directory = self._dir("configs", experiment.name)
        path = f"{directory}/{digest}.yaml"
        if self._fs.get_file_info(path).type == pafs.FileType.NotFound:

            def write(tmp: str) -> None:
                with self._fs.open_output_stream(tmp) as out:
                    out.write(text.encode())

            self._write_atomic(directory, f"{digest}.yaml", write)
        return path

    def _read(self, table: str, schema: pa.Schema, sweep: str | None) -> pa.Table:
        directory = self._dir(table, sweep)
        if self._fs.get_file_info(directory).type == pafs.FileType.NotFound:
            return schema.empty_table()
        try:
            dataset = ds.dataset(directory, schema=schema, format="parquet", filesystem=self._fs)
            return dataset.to_table()
        except (pa.ArrowInvalid, OSError) as e:
            raise StoreError(f"store {self.uri!r}: cannot read {table} ({e})") from e

    def read_trials(self, sweep: str | None = None) -> pa.Table:
        return self._read("trials", TRIALS_SCHEMA, sweep)

    def read_epochs(self, sweep: str | None = None) -> pa.Table:
        epochs = self._read("epochs", EPOCHS_SCHEMA, sweep)
        runs = self.read_trials(sweep)["run_id"]
        return epochs.filter(pa.compute.is_in(epochs["run_id"], value_set=runs))
