"""The sweep's datasets on the cluster: each distinct dataset loaded once, in a Ray worker,
into the object store, where every trainer reads it zero-copy. The driver never imports
``trainers`` (DESIGN.md): only a small summary of each dataset comes back to it."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import ray
from ray.exceptions import RayTaskError

from orchestrator.config import DatasetConfig
from orchestrator.errors import InputError
from orchestrator.trial import TrialSpec

__all__ = ["dataset_key", "put_datasets"]


# num_cpus=0: the trainers, started at the same time, hold every CPU for the whole sweep;
# this short task must not wait for one of them.
@ray.remote(num_cpus=0, num_returns=2)
def _load_dataset(config: DatasetConfig) -> tuple[dict[str, Any], Any]:
    # Runs in a Ray worker: the driver never imports `trainers` (DESIGN.md dependency rule).
    from trainers.datasets import load_dataset

    data = load_dataset(config)
    return {"train": len(data.y_train), "val": len(data.y_val), "test": len(data.y_test)}, data


def dataset_key(config: DatasetConfig) -> str:
    return json.dumps(dataclasses.asdict(config), sort_keys=True)


def put_datasets(specs: list[TrialSpec], cache: dict[str, tuple[ray.ObjectRef, int]] | None = None,
                 ) -> tuple[dict[str, ray.ObjectRef], dict[str, int]]:
    """Load each distinct dataset once, in a worker, into the object store. Bad or
    missing data fails here, before any trial launches. ``cache`` (a warm session's,
    cluster/warm.py): datasets loaded by an earlier sweep, by what they are; reused, and
    those loaded now are added."""
    from cluster.warm import data_cache_key

    configs = {dataset_key(s.dataset): s.dataset for s in specs}
    content = {key: data_cache_key(key, config) for key, config in configs.items()} if cache is not None else {}
    cached = {key: cache[content[key]] for key in configs if cache is not None and content[key] in cache}
    loads = {key: _load_dataset.remote(config) for key, config in configs.items() if key not in cached}  # all at once
    sizes: dict[str, int] = {key: count for key, (_, count) in cached.items()}
    for key, (summary_ref, _) in loads.items():
        try:
            # Only the small summary comes to the driver; the arrays stay in the store.
            sizes[key] = ray.get(summary_ref)["train"]
        except RayTaskError as e:
            cause = e.cause if e.cause is not None else e
            raise InputError(f"dataset {configs[key].name!r}: {cause}") from e
    refs = {key: arrays_ref for key, (_, arrays_ref) in loads.items()}
    if cache is not None:
        cache.update((content[key], (ref, sizes[key])) for key, ref in refs.items())
    return {**{key: ref for key, (ref, _) in cached.items()}, **refs}, sizes
