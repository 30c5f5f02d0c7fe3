"""The trainers' per-epoch events on their way to the progress view, off the executor's
launch path (cluster/executor.py)."""

from __future__ import annotations

import queue
import threading
from typing import Any

from ray.util.queue import Empty, Queue

from cluster._startup import TRAINER_DIED

__all__ = ["ProgressEvents"]


class ProgressEvents:
    """The trainers' per-epoch events, fetched from the progress queue (an actor) on a
    background thread, so that the launch loop never waits on a Ray round trip to show
    progress (measured: two round trips per result took ~60% of the loop with tiny trials,
    benchmarks/driver_throughput.py). The loop takes what has arrived with :meth:`arrived`
    and hands it to the progress view, which is only ever called from the loop's thread.
    Progress lines only: results come back with the trials themselves."""

    def __init__(self, events: Queue, poll: float) -> None:
        self._events = events
        self._poll = poll
        self._arrived: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fetch, name="orch-progress-events", daemon=True)
        self._thread.start()

    def _fetch(self) -> None:
        while not self._stop.is_set():
            try:
                self._arrived.put(self._events.get(block=True, timeout=self._poll))
                waiting = self._events.qsize()  # and whatever came with it, in one call
                for item in self._events.get_nowait_batch(waiting) if waiting else ():
                    self._arrived.put(item)
            except Empty:
                continue
            except TRAINER_DIED:
                return  # the queue is gone (the sweep is ending): no more progress lines

    def arrived(self) -> list[tuple[str, Any]]:
        items = []
        while True:
            try:
                items.append(self._arrived.get_nowait())
            except queue.Empty:
                return items

    def close(self) -> None:
        """Stop fetching (its blocking get ends within ``poll``), then take what is left in
        one call: a warm session's next sweep reads the same queue. Idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=self._poll + 5.0)
        try:
            waiting = self._events.qsize()
            for item in self._events.get_nowait_batch(waiting) if waiting else ():
                self._arrived.put(item)
        except (Empty, *TRAINER_DIED):
            pass
