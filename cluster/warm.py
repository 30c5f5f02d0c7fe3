"""Warm sessions: what one ``orch.session`` keeps between its sweeps.

A sweep's start-up is mostly not the sweep's: Ray starting, TensorFlow imported in every
trainer, the data loaded and checked, each user model built once (README: the quickstart's
phases). In a session those happen once. :class:`WarmPool` holds, between sweeps:

- the trainer actors, by *shape* (replicas, CPUs, GPUs, GPU memory cap): a sweep of the same
  shape takes them instead of starting new ones; one of another shape first stops them
  (they hold the CPUs its trainers need);
- the datasets in Ray's object store, by what they are (their config and, for the user's
  data, the digest of its content: a changed file is loaded again);
- the model checks that passed (the same model, loss and metrics on the same data);
- the progress queue the trainers were made with.

Nothing about results lives here: the store and resume semantics are those of any run.
Trainers still release each trial's state as always (trainers/release.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import ray

from orchestrator.data_identity import data_digest

__all__ = ["WarmPool", "data_cache_key"]

# A kept trainer that does not answer within this long is dead (its node went, it was killed).
_ALIVE_SECONDS = 30.0


def data_cache_key(dataset_key: str, config: Any) -> str:
    """What a loaded dataset is: its config, and the digest of the user's data (None for a
    built-in dataset, whose files do not change)."""
    return json.dumps([dataset_key, data_digest(config)])


@dataclass
class WarmPool:
    trainers: dict[tuple[Any, ...], list[Any]] = field(default_factory=dict)
    datasets: dict[str, tuple[ray.ObjectRef, int]] = field(default_factory=dict)  # cache key -> (arrays, train count)
    checked: set[str] = field(default_factory=set)  # model checks that passed
    events: Any = None  # the progress queue every kept trainer posts to
    served: int = 0  # trainers handed to a sweep again (what a test and the benchmark read)

    def progress_queue(self, make: Any) -> Any:
        if self.events is None:
            self.events = make()
        return self.events

    def take(self, shape: tuple[Any, ...], count: int) -> list[Any]:
        """Up to ``count`` kept trainers of ``shape`` that still answer; every other kept
        trainer is stopped, so that the sweep's new trainers find room."""
        for other in [s for s in self.trainers if s != shape]:
            _kill(self.trainers.pop(other))
        kept = self.trainers.pop(shape, [])
        taken, extra = kept[:count], kept[count:]
        _kill(extra)
        pings = {actor.describe.remote(): actor for actor in taken}  # all at once: one wait, not one per trainer
        answered, _ = ray.wait(list(pings), num_returns=len(pings), timeout=_ALIVE_SECONDS) if pings else ([], [])
        alive = []
        for ref, actor in pings.items():
            try:
                if ref not in answered:
                    raise TimeoutError
                ray.get(ref)
                alive.append(actor)
            except Exception:  # noqa: BLE001 - dead, unreachable or stuck: not worth keeping
                _kill([actor])
        self.served += len(alive)
        return alive

    def give(self, shape: tuple[Any, ...], actors: list[Any]) -> None:
        """Keep ``actors`` (idle, healthy) for the next sweep of ``shape``."""
        self.trainers.setdefault(shape, []).extend(actors)

    def close(self) -> None:
        """Stop every kept trainer and the progress queue (the session ends)."""
        for actors in self.trainers.values():
            _kill(actors)
        self.trainers.clear()
        self.datasets.clear()
        if self.events is not None:
            try:
                self.events.shutdown()
            except Exception:  # noqa: BLE001 - Ray may be gone already
                pass
            self.events = None


def _kill(actors: list[Any]) -> None:
    for actor in actors:
        try:
            ray.kill(actor, no_restart=True)
        except Exception:  # noqa: BLE001 - gone already
            pass
