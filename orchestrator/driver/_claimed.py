"""Several drivers, one sweep: the trials of a plan that this driver claims in the store.

:class:`ClaimedTrials` wraps the run's trial source (a plan, or a tpe search). Each trial it
hands out is claimed first (``orchestrator.store._claims``); a trial another driver holds is
put aside and looked at again every ``recheck_seconds``: skipped once that driver marks it
done, taken over (and resumed from its checkpoint) once that driver stops heartbeating. A
heartbeat thread keeps this driver's claims alive; a claim it loses (its heartbeats were
late, another driver took over) is reported in :attr:`lost`, and the executor stops that
trial and stores nothing of it: one writer per trial. A driver alone pays one small claim
file per trial and one heartbeat write per running trial every ``expires_after / 4`` s.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

from orchestrator.config import Experiment
from orchestrator.driver._run_plan import column_for_path
from orchestrator.plan import TrialSource
from orchestrator.search import Observation, history_from_rows
from orchestrator.store import ClaimBook, ClaimOutcome, ResultsStore
from orchestrator.trial import TrialResult, TrialSpec, TrialStatus

__all__ = ["ClaimedTrials", "search_peers"]


class ClaimedTrials(TrialSource):
    def __init__(
        self,
        source: TrialSource,
        book: ClaimBook,
        stored: Callable[[str], bool],
        *,
        recheck_seconds: float = 1.0,
        note: Callable[[str], None] = lambda text: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``stored(trial_id)``: whether the store holds a final result for the trial (asked
        only after taking a trial over, whose holder may have stored it just before dying)."""
        self._source = source
        self._book = book
        self._stored = stored
        self._recheck = recheck_seconds
        self._note = note
        self._clock = clock
        self.metric, self.goal = source.metric, source.goal
        self._aside: list[TrialSpec] = []  # held by another driver: looked at again later
        self._drained = False
        self._last_look = clock()
        self._lost: set[str] = set()
        self.elsewhere = 0  # trials of this run another driver finished
        self._lock = threading.Lock()  # the heartbeat thread and the launch loop share the book
        self._stop = threading.Event()
        self._beats = threading.Thread(target=self._heartbeats, name="orch-claims", daemon=True)
        self._beats.start()

    # --- TrialSource ---------------------------------------------------------------------

    def take(self) -> TrialSpec | None:
        with self._lock:
            spec = self._look_again()
            while spec is None and not self._drained:
                candidate = self._source.take()
                if candidate is None:
                    self._drained = True
                    break
                spec = self._claim(candidate)
            return spec

    @property
    def waiting(self) -> bool:
        """No trial to hand out now, but another driver holds some that may come back."""
        return bool(self._aside)

    @property
    def lost(self) -> set[str]:
        return set(self._lost)

    def finished(self, spec: TrialSpec, result: TrialResult) -> None:
        with self._lock:
            if result.status is TrialStatus.FAILED:
                self._book.release(spec.trial_id)  # failed trials run again on a re-run of the sweep
            else:
                self._book.mark_done(spec.trial_id)
        self._source.finished(spec, result)

    @property
    def total(self) -> int:
        return self._source.total

    def close(self) -> None:
        """Stop heartbeating and give up the claims of trials not finished (Ctrl-C, a sweep
        that stops): another driver takes them over at once instead of after the expiry."""
        self._stop.set()
        self._beats.join(timeout=5)
        with self._lock:
            self._book.release_all()
        if self.elsewhere:
            self._note(f"{self.elsewhere} trial{'s' if self.elsewhere != 1 else ''} of this run finished by "
                       "other drivers on the same store")
        self._source.close()

    # --- claims --------------------------------------------------------------------------

    def _claim(self, spec: TrialSpec) -> TrialSpec | None:
        outcome = self._book.claim(spec.trial_id, spec.point)
        if outcome is ClaimOutcome.HELD:
            self._aside.append(spec)
            return None
        if outcome is ClaimOutcome.DONE:
            self.elsewhere += 1
            self._source.finished_elsewhere(spec)
            return None
        if outcome is ClaimOutcome.TAKEN_OVER:
            if self._stored(spec.trial_id):  # its holder stored it, then died before marking it
                self._book.mark_done(spec.trial_id)
                self.elsewhere += 1
                self._source.finished_elsewhere(spec)
                return None
            self._note(f"took over {spec.trial_id} from a driver that stopped heartbeating; "
                       "resuming it from its checkpoint")
            return dataclasses.replace(spec, fresh_start=False)
        return spec

    def _look_again(self) -> TrialSpec | None:
        """The first trial put aside that can now be claimed (at most once per recheck)."""
        if not self._aside or self._clock() - self._last_look < self._recheck:
            return None
        self._last_look = self._clock()
        aside, self._aside = self._aside, []
        found = None
        for spec in aside:
            if found is None:
                found = self._claim(spec)
            else:
                self._aside.append(spec)
        return found

    def _heartbeats(self) -> None:
        while not self._stop.wait(self._book.expires_after / 4):
            with self._lock:
                lost = self._book.heartbeat()
            for trial_id in lost:
                self._lost.add(trial_id)
                self._note(f"lost the claim on {trial_id} (heartbeats too late; another driver took it "
                           "over): it stops here and is stored by that driver")


def search_peers(
    experiment: Experiment, store: ResultsStore, book: ClaimBook
) -> Callable[[], tuple[list[Observation], list[dict[str, Any]]]]:
    """For a tpe search shared by several drivers: before each ask, the outcomes the store
    holds (every driver's, one per point) and the points other drivers run now, so that the
    drivers spread out and the sweep ends at ``samples`` points in all, not per driver.

    The store is read again only when other drivers' claims changed since the last read (one
    claimed, stored and marked done, released, went stale, or was taken over): only another
    driver's result can be new to this sampler, and none is stored without its claim changing
    afterwards (a driver marks a trial done after storing it; one that dies first leaves a
    claim that goes stale). A driver alone reads the store once, instead of once per ask
    (measured: 500 tpe trials on 16 instant trainers, ~2/3 of the driver's time went to
    re-reading it, benchmarks/driver_throughput.py --method tpe)."""
    from orchestrator.answers import Where, select_trials  # the store's reader, as the plan uses it

    sweep = experiment.sweep
    paths, seeds = [*sweep.grid, *sweep.space], max(len(sweep.seeds), 1)
    claims_read: object = None  # other drivers' claims when the store was last read
    outcomes: list[Observation] = []

    def peers() -> tuple[list[Observation], list[dict[str, Any]]]:
        nonlocal claims_read, outcomes
        theirs, running = book.others()
        claims = (frozenset((c.trial_id, c.generation, c.driver, c.done) for c in theirs),
                  frozenset(c.trial_id for c in running))
        if claims != claims_read:
            rows = select_trials(store, Where.of(sweep=experiment.name)).to_pylist()
            outcomes = history_from_rows(rows, paths, sweep.metric, column_for_path, seeds=seeds)
            claims_read = claims
        return outcomes, [claim.point for claim in running if claim.point]

    return peers
