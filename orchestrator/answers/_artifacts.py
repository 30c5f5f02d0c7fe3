"""What trainers left beside the results, read back from any store: a trial's saved model
(``orch.load_model``) and a sweep's TensorBoard event files (``orch tensorboard``).

Artifacts sit under the store's root on its own filesystem (a local directory, NFS,
``s3://``, ``gs://``; see trainers/artifacts.py), so these read through pyarrow's filesystem
like the results do. Keras is imported only to load a model."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.fs as pafs

from orchestrator.answers._query import select_trials
from orchestrator.answers._report_data import sweep_goal
from orchestrator.answers._where import QueryError, Where
from orchestrator.store import ResultsStore, open_filesystem

__all__ = ["load_model", "model_path", "sync_tensorboard"]


def _root(store: ResultsStore) -> tuple[pafs.FileSystem, str]:
    root = store.artifacts_root
    if root is None:
        raise QueryError("this store keeps no artifacts (it is in memory); use a directory or a URI as the store")
    return open_filesystem(root)


def _pick_trial(store: ResultsStore, sweep: str, trial: str) -> str:
    if sweep not in store.sweeps():
        raise QueryError(f"no sweep {sweep!r} in the store (sweeps there: {', '.join(store.sweeps()) or 'none'})")
    trials = select_trials(store, Where.of(sweep=sweep).with_default_status())
    if trial != "best":
        if not pc.any(pc.equal(trials["trial_id"], trial)).as_py():
            raise QueryError(f"no completed trial {trial!r} in sweep {sweep!r}; orch results {sweep} lists them")
        return trial
    metric, goal = sweep_goal({sweep: t[-1]} if (t := store.read_configs(sweep)) else {}, None, None)
    done = trials.filter(pc.is_finite(pc.field(metric))) if metric in trials.column_names else trials.slice(0, 0)
    if done.num_rows == 0:
        raise QueryError(f"sweep {sweep!r} has no completed trial with a {metric}; nothing is best")
    order = "descending" if goal == "max" else "ascending"
    return done.sort_by([(metric, order)])["trial_id"][0].as_py()


def model_path(store: ResultsStore, sweep: str, trial: str = "best") -> tuple[str, str]:
    """``(trial_id, path)`` of the model saved for ``trial`` (an id, or ``"best"`` by the
    sweep's own metric and goal) on the store's filesystem."""
    trial_id = _pick_trial(store, sweep, trial)
    fs, base = _root(store)
    path = f"{base}/models/{sweep}/{trial_id}.keras"
    if fs.get_file_info(path).type != pafs.FileType.File:
        raise QueryError(f"trial {trial_id} of {sweep!r} has no saved model; run the sweep with "
                         "--set outputs.save_model=true (add --rerun for trials already stored)")
    return trial_id, path


def load_model(store: ResultsStore, sweep: str, trial: str = "best") -> Any:
    """The Keras model saved for ``trial`` of ``sweep`` (``outputs.save_model``), from any store."""
    import keras

    trial_id, path = model_path(store, sweep, trial)
    fs, _ = _root(store)
    if isinstance(fs, pafs.LocalFileSystem):
        return keras.models.load_model(path)
    with tempfile.TemporaryDirectory(prefix="orch-model-") as scratch:
        local = Path(scratch) / f"{trial_id}.keras"
        pafs.copy_files(path, str(local), source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem())
        return keras.models.load_model(local)


def sync_tensorboard(store: ResultsStore, sweep: str, cache: Path) -> tuple[Path, int]:
    """A directory TensorBoard can read for ``sweep``: the store's own for a local store, else
    ``cache/<sweep>`` with the store's event files copied in (only new or changed ones);
    returns it and the number of files copied."""
    if sweep not in store.sweeps():
        raise QueryError(f"no sweep {sweep!r} in the store (sweeps there: {', '.join(store.sweeps()) or 'none'})")
    fs, base = _root(store)
    remote = f"{base}/tensorboard/{sweep}"
    if isinstance(fs, pafs.LocalFileSystem):
        if not Path(remote).is_dir():
            raise QueryError(f"sweep {sweep!r} has no TensorBoard logs (outputs.tensorboard was off)")
        return Path(remote), 0
    infos = [i for i in fs.get_file_info(pafs.FileSelector(remote, recursive=True, allow_not_found=True))
             if i.type == pafs.FileType.File and not i.base_name.startswith(".")]
    if not infos:
        raise QueryError(f"sweep {sweep!r} has no TensorBoard logs in the store (outputs.tensorboard was off)")
    target = cache / sweep
    copied = 0
    for info in infos:
        local = target / info.path[len(remote) + 1:]
        if local.is_file() and local.stat().st_size == info.size:
            continue  # event files only grow: the same size is the same file
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".tmp-{local.name}")
        pafs.copy_files(info.path, str(tmp), source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem())
        tmp.replace(local)
        copied += 1
    return target, copied
