"""Results store as plain Parquet files on any pyarrow filesystem (local path or URI).

Layout under the root::

    trials/<sweep>/<trial_id>-<run_id>.parquet    one trial row (what the driver writes per trial)
    trials/<sweep>/batch-<id>.parquet             trial rows of one ``append_many`` call
    trials/<sweep>/compacted-<id>.parquet         trial rows merged by ``compact``
    epochs/<sweep>/...                            the same names, holding those runs' epoch rows
    configs/<sweep>/<config-hash>.yaml            resolved experiment, once per distinct config
    claims/<sweep>/<trial_id>/...                 which driver runs which trial (orchestrator/store/_claims.py)
    _compactions                                  changes whenever a compaction commits

Every file is written to a dot-prefixed temporary name in its final directory and then
renamed, so readers (which skip dot-files) never see a partial file. The trial row is
written last and is what makes a run visible; epoch rows without one are ignored.

Compaction, and why readers never see a row twice or miss one: a compacted file records in
its Parquet metadata the names of the files it replaces, and readers leave those out. The
compactor (one at a time, under a lock) writes the compacted file, renames it into place,
changes ``_compactions``, and only then deletes the files it replaced. A reader notes
``_compactions``, lists the directory, opens the files, and notes ``_compactions`` again:

- a replaced file that is still listed is left out, since its compacted file is listed too;
- a file deleted after the listing fails to open: the reader lists again;
- a compacted file renamed in while the directory was being listed may have been missed,
  together with files it replaced that were deleted meanwhile; but then ``_compactions``
  changed before those deletions, so the second note differs and the reader lists again.

Other tools (DuckDB, pandas) that glob the directory during a compaction can see both a
compacted file and the files it replaces; ``orch``'s readers never do.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import yaml

from orchestrator.config import Experiment
from orchestrator.store._claims import DEFAULT_CLAIM_EXPIRY, ClaimBook
from orchestrator.store._files import base_name, first_line, is_data, open_filesystem, scan_local, write_atomic
from orchestrator.store._base import Compaction, ResultsStore, StoreError, StoreWarning, Sweeps, sweep_list
from orchestrator.store._schema import EPOCHS_SCHEMA, SCHEMA_VERSION, TRIALS_SCHEMA, extra_columns

__all__ = ["ParquetResultsStore", "DEFAULT_STORE"]

DEFAULT_STORE = "./orch-results"

_COMPACTED = "compacted-"
_BATCH = "batch-"
_ONE_RUN = re.compile(r"^([0-9a-f]+)-[0-9a-f]+\.parquet$")  # <trial_id>-<run_id>.parquet
_REPLACES = b"orch.replaces"
_GENERATION = "_compactions"
_READ_ATTEMPTS = 50
# Compacted files are sorted by trial; row groups this size let a read of one trial's
# epochs skip all but one group by its min/max statistics (16k rows decode in ~1 ms).
_ROW_GROUP_ROWS = 16_384
_TABLES = (
    ("trials", TRIALS_SCHEMA, [("sweep", "ascending"), ("trial_id", "ascending"), ("ended_at", "ascending")]),
    ("epochs", EPOCHS_SCHEMA, [("sweep", "ascending"), ("trial_id", "ascending"), ("run_id", "ascending"),
                               ("epoch", "ascending")]),
)
_FORMAT = ds.ParquetFileFormat()


class _Vanished(Exception):
    """A listed file was gone when opened: a compaction replaced it. List again."""


def _empty(schema: pa.Schema, columns: Sequence[str] | None) -> pa.Table:
    table = schema.empty_table()
    return table if columns is None else table.select(list(columns))


class ParquetResultsStore(ResultsStore):
    def __init__(self, uri: str = DEFAULT_STORE) -> None:
        self.uri = uri
        self._fs, self._root = open_filesystem(uri)
        self._local = isinstance(self._fs, pafs.LocalFileSystem)
        info = self._fs.get_file_info(self._root)
        if info.type == pafs.FileType.File:
            raise StoreError(f"store {uri!r} is a file, not a directory; pass a directory with --store")
        # Files never change once written, so what was learnt about one stays true.
        self._manifests: dict[str, frozenset[str]] = {}
        self._damaged: dict[str, str] = {}
        self._user_fields: dict[str, list[pa.Field]] = {}

    @property
    def artifacts_root(self) -> str | None:
        # A local directory, or the store's URI: trainers then write through its filesystem
        # (trainers/artifact_files.py), so artifacts sit beside the results on any store.
        return self._root if self._local else self.uri

    def claims(self, sweep: str, expires_after: float | None = None, rerun: bool = False) -> ClaimBook:
        return ClaimBook(self._fs, self._dir("claims", sweep), local=self._local,
                         expires_after=expires_after or DEFAULT_CLAIM_EXPIRY, rerun=rerun)

    def _dir(self, table: str, sweep: str | None = None) -> str:
        return f"{self._root}/{table}" + (f"/{sweep}" if sweep else "")

    # --- writing -------------------------------------------------------------------------

    def _write_atomic(self, directory: str, name: str, write: Callable[[str], None]) -> None:
        write_atomic(self._fs, directory, name, write)

    def _write(self, sweep: str, trials: pa.Table, epochs: pa.Table) -> None:
        if trials.num_rows == 1:
            name = f"{trials['trial_id'][0].as_py()}-{trials['run_id'][0].as_py()}.parquet"
        else:
            name = f"{_BATCH}{uuid.uuid4().hex}.parquet"
        for table_name, table in (("epochs", epochs), ("trials", trials)):  # trial rows last
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

    def read_configs(self, sweep: str) -> list[str]:
        selector = pafs.FileSelector(self._dir("configs", sweep), allow_not_found=True)
        infos = [i for i in self._fs.get_file_info(selector)
                 if i.type == pafs.FileType.File and i.base_name.endswith(".yaml") and not i.base_name.startswith(".")]
        texts = []
        for info in sorted(infos, key=lambda i: (i.mtime_ns or 0, i.base_name)):
            with self._fs.open_input_stream(info.path) as stream:
                texts.append(stream.read().decode("utf-8", errors="replace"))
        return texts

    # --- listing -------------------------------------------------------------------------

    def _list_dir(self, directory: str) -> list[str]:
        """Paths of the data files under ``directory`` (dot-files are temporary)."""
        if self._local:
            # os.scandir gets names and types from the directory itself; a FileSelector
            # stats every file, several times slower at 10,000 files.
            return scan_local(directory)
        selector = pafs.FileSelector(directory, recursive=True, allow_not_found=True)
        return [i.path for i in self._fs.get_file_info(selector) if i.type == pafs.FileType.File and is_data(i.base_name)]

    def _list(self, table: str, sweep: Sweeps) -> list[str]:
        sweeps = sweep_list(sweep)
        if sweeps is None:
            return self._list_dir(self._dir(table))
        return [path for s in sweeps for path in self._list_dir(self._dir(table, s))]

    def _sweep_dirs(self, table: str) -> list[str]:
        if self._local:
            with contextlib.suppress(FileNotFoundError), os.scandir(self._dir(table)) as entries:
                return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))
            return []
        selector = pafs.FileSelector(self._dir(table), allow_not_found=True)
        return sorted(i.base_name for i in self._fs.get_file_info(selector) if i.type == pafs.FileType.Directory)

    def _manifest(self, path: str) -> frozenset[str]:
        """Paths of the files a compacted file replaces (cached: files never change)."""
        if path not in self._manifests:
            try:
                metadata = pq.read_schema(path, filesystem=self._fs).metadata or {}
            except (pa.ArrowException, OSError) as e:
                if self._gone(path):
                    raise _Vanished(path) from e
                self._skip_damaged(path, first_line(e))
                return frozenset()
            directory = path.rsplit("/", 1)[0]
            names = metadata.get(_REPLACES, b"").decode().split("\n")
            self._manifests[path] = frozenset(f"{directory}/{name}" for name in names if name)
        return self._manifests[path]

    def _visible(self, paths: list[str]) -> list[str]:
        """``paths`` less the files that a listed compacted file replaces, and damaged files."""
        replaced: set[str] = set()
        for path in paths:
            if base_name(path).startswith(_COMPACTED):
                replaced.update(self._manifest(path))
        visible = []
        for path in paths:
            if path in self._damaged:
                self._skip_damaged(path, self._damaged[path])
            elif path not in replaced:
                visible.append(path)
        return visible

    def _gone(self, path: str) -> bool:
        return self._fs.get_file_info(path).type == pafs.FileType.NotFound

    def _skip_damaged(self, path: str, reason: str) -> None:
        self._damaged[path] = reason
        warnings.warn(
            f"store {self.uri!r}: skipping damaged file {path} ({reason}); its rows are left out of every "
            "query: restore it from a backup or move it out of the store",
            StoreWarning,
            stacklevel=2,
        )

    def _generation(self) -> bytes:
        try:
            with self._fs.open_input_stream(f"{self._root}/{_GENERATION}") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    # --- reading -------------------------------------------------------------------------

    def _dataset(self, paths: list[str], schema: pa.Schema) -> ds.Dataset:
        # Columns a file lacks (written before they existed) read as nulls.
        return ds.FileSystemDataset.from_paths(paths, schema=schema, format=_FORMAT, filesystem=self._fs)

    def _scan(self, paths: list[str], schema: pa.Schema, where: pc.Expression | None,
              columns: list[str] | None) -> pa.Table:
        if not paths:
            return _empty(schema, columns)
        try:
            return self._dataset(paths, schema).to_table(columns=columns, filter=where)
        except (pa.ArrowException, OSError):
            pass  # a file vanished or is damaged: find which, one file at a time
        parts = []
        for path in paths:
            try:
                parts.append(self._dataset([path], schema).to_table(columns=columns, filter=where))
            except (pa.ArrowException, OSError) as e:
                if self._gone(path):
                    raise _Vanished(path) from e
                self._skip_damaged(path, first_line(e))
        return pa.concat_tables(parts) if parts else _empty(schema, columns)

    def _read(self, table: str, schema: pa.Schema, sweep: Sweeps, trial_ids: Sequence[str] | None,
              where: pc.Expression | None, columns: Sequence[str] | None) -> pa.Table:
        columns = None if columns is None else list(columns)
        if columns is not None and (unknown := [c for c in columns if c not in schema.names and not (
                extra_columns([c], table))]):
            raise KeyError(f"no column {unknown[0]!r} in the {table} table")
        ids = None if trial_ids is None else set(trial_ids)
        if ids is not None:
            by_id = pc.field("trial_id").isin(sorted(ids))
            where = by_id if where is None else by_id & where
        for _ in range(_READ_ATTEMPTS):
            generation = self._generation()
            try:
                paths = self._visible(self._list(table, sweep))
                if ids is not None:  # a one-run file holds one trial: its name says which
                    paths = [p for p in paths if (m := _ONE_RUN.match(base_name(p))) is None or m.group(1) in ids]
                found = self._with_extra_columns(paths, schema, table)
                if columns is not None and (unknown := [c for c in columns if c not in found.names]):
                    raise KeyError(f"no column {unknown[0]!r} in the {table} table")
                result = self._scan(paths, found, where, columns)
            except _Vanished:
                continue
            if self._generation() == generation:
                return result
        raise StoreError(f"store {self.uri!r}: the {table} table kept changing during {_READ_ATTEMPTS} reads; try again")

    def read_trials(self, sweep: Sweeps = None, *, trial_ids=None, where=None, columns=None) -> pa.Table:
        return self._read("trials", TRIALS_SCHEMA, sweep, trial_ids, where, columns)

    def read_epochs(self, sweep: Sweeps = None, *, trial_ids=None, where=None, columns=None, run_ids=None) -> pa.Table:
        if run_ids is None:
            run_ids = self.read_trials(sweep, trial_ids=trial_ids, columns=["run_id"])["run_id"].combine_chunks()
        stored = pc.field("run_id").isin(pa.array(run_ids, pa.string()))
        return self._read("epochs", EPOCHS_SCHEMA, sweep, trial_ids, stored if where is None else stored & where, columns)

    def sweeps(self) -> list[str]:
        return [s for s in self._sweep_dirs("trials") if self._list_dir(self._dir("trials", s))]

    # --- compaction ----------------------------------------------------------------------

    def compact(self, sweep: Sweeps = None, *, min_files: int = 2) -> Compaction:
        """Merge each sweep directory's files into one sorted file, when it has at least
        ``min_files``. Safe while a sweep writes (new files are left for next time) and
        while readers read (see the module docstring). Damaged files are left in place."""
        start = time.perf_counter()
        report = Compaction()
        if self._fs.get_file_info(self._root).type == pafs.FileType.NotFound:
            return report
        with self._compaction_lock():
            for table, schema, order in _TABLES:
                for name in sweep_list(sweep) or self._sweep_dirs(table):
                    self._compact_dir(self._dir(table, name), schema, order, min_files, report)
        report.seconds = time.perf_counter() - start
        return report

    @contextlib.contextmanager
    def _compaction_lock(self) -> Iterator[None]:
        try:
            import fcntl
        except ImportError:  # not POSIX: one compaction at a time is up to the user
            fcntl = None
        if not self._local or fcntl is None:
            yield
            return
        with open(f"{self._root}/.compaction.lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(f"store {self.uri!r}: another compaction is running; wait for it to end") from None
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _compact_dir(self, directory: str, schema: pa.Schema, order: list[tuple[str, str]], min_files: int,
                     report: Compaction) -> None:
        listed = self._list_dir(directory)
        visible = self._visible(listed)
        # Files an interrupted compaction already merged but did not delete yet.
        covered = [p for p in listed if p not in visible and p not in self._damaged]
        if len(visible) < min_files and not covered:
            return
        schema = self._compaction_schema(visible, schema)
        good = [p for p in visible if p not in self._damaged]
        data = self._scan(good, schema, None, None)
        good = [p for p in good if p not in self._damaged]  # the scan may have found more
        report.skipped += [p for p in listed if p in self._damaged]
        data = data.sort_by(order)
        replaces = "\n".join(sorted(base_name(p) for p in good + covered))
        meta = {**(schema.metadata or {}), b"orch.schema_version": SCHEMA_VERSION.encode(), _REPLACES: replaces.encode()}
        data = data.replace_schema_metadata(meta)

        def write(tmp: str) -> None:
            pq.write_table(data, tmp, filesystem=self._fs, row_group_size=_ROW_GROUP_ROWS)
            written = pq.read_metadata(tmp, filesystem=self._fs).num_rows
            if written != data.num_rows:
                raise StoreError(f"store {self.uri!r}: compacted file has {written} rows, expected {data.num_rows}")

        self._write_atomic(directory, f"{_COMPACTED}{uuid.uuid4().hex[:16]}.parquet", write)
        self._write_atomic(self._root, _GENERATION, lambda tmp: self._put(tmp, uuid.uuid4().hex.encode()))
        for path in good + covered:  # only now: readers have the compacted file and know to list again
            self._delete(path)
        report.files_before += len(good) + len(covered)
        report.files_after += 1
        report.rows += data.num_rows

    def _with_extra_columns(self, paths: list[str], schema: pa.Schema, table: str) -> pa.Schema:
        """``schema`` plus the columns a sweep adds (builders' ``model_<key>``, metrics'
        columns: ``_schema.extra_columns``) that the files have (read from
        each file's footer once: files never change). A key stored as ints in one sweep and
        floats in another reads as floats; other disagreements as the first type seen."""
        extra: dict[str, pa.Field] = {}
        for path in paths:
            if path not in self._user_fields:
                try:
                    names = pq.read_schema(path, filesystem=self._fs)
                except (pa.ArrowException, OSError):
                    continue  # the scan finds out what is wrong with it
                self._user_fields[path] = [f.with_nullable(True) for f in names if extra_columns([f.name], table)]
            for f in self._user_fields[path]:
                seen = extra.get(f.name)
                if seen is None or (pa.types.is_integer(seen.type) and pa.types.is_floating(f.type)):
                    extra[f.name] = f
        return pa.schema([*schema, *sorted(extra.values(), key=lambda f: f.name)], metadata=schema.metadata)

    def _compaction_schema(self, paths: list[str], schema: pa.Schema) -> pa.Schema:
        """``schema`` plus the columns that only files written by a newer ``orch`` have, so
        that compacting never drops data. Known columns keep their type: files are cast to
        it, as every read does, and a file that cannot be is skipped as damaged."""
        extra: dict[str, pa.Field] = {}
        for path in paths:
            try:
                file_schema = pq.read_schema(path, filesystem=self._fs)
            except (pa.ArrowException, OSError) as e:
                self._skip_damaged(path, first_line(e))
                continue
            for f in file_schema:
                if f.name in schema.names:
                    continue
                seen = extra.get(f.name)
                # A builder's param written as ints by one trial and floats by another
                # (rate: 1, rate: 0.5) compacts to floats, as every read takes it.
                if seen is None or (pa.types.is_integer(seen.type) and pa.types.is_floating(f.type)):
                    extra[f.name] = f.with_nullable(True)
        return pa.schema([*schema, *extra.values()])

    def _delete(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._fs.delete_file(path)

    def _put(self, path: str, data: bytes) -> None:
        with self._fs.open_output_stream(path) as out:
            out.write(data)
