"""Claims: several drivers on one sweep split its trials through the store (issue 20).

One contract, two protocols: exclusive create (local and mounted paths) and write-then-list
(object stores; exercised here through pyarrow's generic filesystem API on a real directory).
Races use real processes started at once."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time

import pyarrow.fs as pafs
import pytest

from orchestrator.driver._claimed import ClaimedTrials
from orchestrator.plan import PlannedTrials
from orchestrator.store import ClaimBook, ClaimOutcome, ParquetResultsStore
from orchestrator.trial import TrialStatus
from tests.conftest import finished, grid_specs

pytestmark = pytest.mark.unit

PROTOCOLS = ["exclusive-create", "write-then-list"]


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def book(tmp_path, protocol: str, clock=None, **kwargs) -> ClaimBook:
    return ClaimBook(pafs.LocalFileSystem(), str(tmp_path / "claims" / "s"), local=protocol == "exclusive-create",
                     expires_after=60.0, clock=clock or Clock(), settle_seconds=0.0, **kwargs)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_first_claim_wins_and_the_second_driver_is_told_it_is_held(tmp_path, protocol):
    a, b = book(tmp_path, protocol), book(tmp_path, protocol)
    assert a.claim("t1") is ClaimOutcome.CLAIMED
    assert b.claim("t1") is ClaimOutcome.HELD
    assert a.claim("t1") is ClaimOutcome.CLAIMED  # held already: still mine
    assert a.holds("t1") and not b.holds("t1")
    assert b.claim("t2") is ClaimOutcome.CLAIMED


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_done_trial_is_never_claimed_again_except_by_a_later_rerun(tmp_path, protocol):
    clock = Clock(1000.0)
    a = book(tmp_path, protocol, clock)
    a.claim("t1")
    a.mark_done("t1")
    assert book(tmp_path, protocol, clock).claim("t1") is ClaimOutcome.DONE
    clock.now = 5000.0  # long after: a done marker never expires
    assert book(tmp_path, protocol, clock).claim("t1") is ClaimOutcome.DONE
    rerun = book(tmp_path, protocol, clock, rerun=True)  # started after the trial was done
    assert rerun.claim("t1") is ClaimOutcome.CLAIMED
    assert rerun.holder("t1").generation == 2


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_stale_claim_is_taken_over_and_its_old_holder_learns_it_lost_it(tmp_path, protocol):
    clock_a, clock_b = Clock(1000.0), Clock(1000.0)
    a, b = book(tmp_path, protocol, clock_a), book(tmp_path, protocol, clock_b)
    assert a.claim("t1", {"training.learning_rate": 0.01}) is ClaimOutcome.CLAIMED
    clock_b.now = 1000.0 + 60.0  # exactly the expiry: still alive
    assert b.claim("t1") is ClaimOutcome.HELD
    clock_b.now = 1000.0 + 61.0
    assert b.claim("t1") is ClaimOutcome.TAKEN_OVER
    assert b.holder("t1").driver == b.driver and b.holder("t1").generation == 2
    assert a.heartbeat() == ["t1"] and a.held == []
    assert a.claim("t1") is ClaimOutcome.HELD  # b's claim is fresh


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_heartbeats_keep_a_claim_alive_past_the_expiry(tmp_path, protocol):
    clock = Clock(1000.0)
    a, b = book(tmp_path, protocol, clock), book(tmp_path, protocol, clock)
    a.claim("t1")
    clock.now = 1050.0
    assert a.heartbeat() == []
    clock.now = 1100.0  # 100 s after the claim, 50 s after the heartbeat
    assert b.claim("t1") is ClaimOutcome.HELD
    assert b.holder("t1").heartbeat == 1050.0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_released_trial_is_free_at_once(tmp_path, protocol):
    a, b = book(tmp_path, protocol), book(tmp_path, protocol)
    a.claim("t1")
    a.release("t1")
    assert a.held == []
    assert b.claim("t1") is ClaimOutcome.CLAIMED


def test_an_unreadable_claim_blocks_only_until_its_file_is_older_than_the_expiry(tmp_path):
    folder = tmp_path / "claims" / "s" / "t1"
    folder.mkdir(parents=True)
    (folder / "1.claim").write_text("not json")
    now = os.stat(folder / "1.claim").st_mtime
    assert book(tmp_path, "exclusive-create", Clock(now + 1)).claim("t1") is ClaimOutcome.HELD
    assert book(tmp_path, "exclusive-create", Clock(now + 61)).claim("t1") is ClaimOutcome.TAKEN_OVER


def _race(root: str, protocol: str, trials: list[str], start, results, end) -> None:
    b = ClaimBook(pafs.LocalFileSystem(), root, local=protocol == "exclusive-create", expires_after=60.0,
                  settle_seconds=0.3)
    start.wait()
    results.put((b.driver, [t for t in trials if b.claim(t).mine]))
    end.wait(timeout=120)  # alive until every driver has claimed: a gone driver's claims are free


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("stale", [False, True], ids=["fresh", "takeover"])
def test_drivers_racing_for_the_same_trials_each_trial_gets_exactly_one_holder(tmp_path, protocol, stale):
    root = str(tmp_path / "claims" / "s")
    # Fewer on the object-store protocol: each new claim there waits its settle time (0.3 s here).
    trials = [f"t{i:02d}" for i in range(20 if protocol == "exclusive-create" else 6)]
    if stale:  # every trial held by a driver that stopped heartbeating long ago
        old = ClaimBook(pafs.LocalFileSystem(), root, local=protocol == "exclusive-create", clock=Clock(0.0))
        assert all(old.claim(t).mine for t in trials)
    context = multiprocessing.get_context("fork")
    start, results, end = context.Barrier(6), context.Queue(), context.Event()
    workers = [context.Process(target=_race, args=(root, protocol, trials, start, results, end)) for _ in range(6)]
    for w in workers:
        w.start()
    try:
        won = dict(results.get(timeout=60) for _ in workers)
    finally:
        end.set()
        for w in workers:
            w.join(timeout=60)
    claimed = sorted(t for ts in won.values() for t in ts)
    assert claimed == trials  # each trial once: no trial twice, none lost
    reader = ClaimBook(pafs.LocalFileSystem(), root, local=protocol == "exclusive-create")
    for driver, ts in won.items():
        assert all(reader.holder(t).driver == driver for t in ts)


# --- ClaimedTrials: the driver's side --------------------------------------------------------


def _source(specs) -> PlannedTrials:
    return PlannedTrials(list(specs))


def test_two_drivers_on_one_plan_split_it_and_each_trial_runs_once(tmp_path):
    specs = grid_specs(grid={"training.learning_rate": [0.1, 0.01]}, seeds=[0, 1])  # 4 trials
    store = ParquetResultsStore(str(tmp_path))
    one = ClaimedTrials(_source(specs), store.claims("t"), lambda trial_id: False)
    two = ClaimedTrials(_source(specs), store.claims("t"), lambda trial_id: False)
    try:
        taken = [one.take(), two.take(), one.take(), two.take()]
        assert sorted(s.trial_id for s in taken) == sorted(s.trial_id for s in specs)
        assert one.take() is None and two.take() is None
        assert one.waiting and two.waiting  # each holds two the other is running
        for spec in taken:
            (one if spec in taken[0::2] else two).finished(spec, finished(spec))
    finally:
        one.close()
        two.close()
    assert all(store.claims("t").claim(s.trial_id) is ClaimOutcome.DONE for s in specs)


def test_trials_another_driver_finishes_are_skipped_once_marked_done(tmp_path):
    specs = grid_specs(grid={"training.learning_rate": [0.1, 0.01]})  # 2 trials
    store = ParquetResultsStore(str(tmp_path))
    other = store.claims("t")
    assert all(other.claim(s.trial_id).mine for s in specs)
    clock = Clock(0.0)
    mine = ClaimedTrials(_source(specs), store.claims("t"), lambda trial_id: False, recheck_seconds=1.0, clock=clock)
    try:
        assert mine.take() is None and mine.waiting
        other.mark_done(specs[0].trial_id)
        assert mine.take() is None  # not looked at again before a second has passed
        clock.now = 1.5
        assert mine.take() is None and mine.waiting  # the first is done, the second still held
        assert mine.elsewhere == 1
        other.mark_done(specs[1].trial_id)
        clock.now = 3.0
        assert mine.take() is None and not mine.waiting and mine.elsewhere == 2
    finally:
        mine.close()


def test_a_trial_taken_over_from_a_dead_driver_resumes_from_its_checkpoint(tmp_path):
    (spec,) = grid_specs(grid={})
    spec = dataclasses.replace(spec, fresh_start=True)
    store = ParquetResultsStore(str(tmp_path))
    dead = ClaimBook(pafs.LocalFileSystem(), str(tmp_path / "claims" / "t"), local=True, clock=Clock(0.0))
    assert dead.claim(spec.trial_id).mine
    mine = ClaimedTrials(_source([spec]), store.claims("t"), lambda trial_id: False)
    try:
        taken = mine.take()
    finally:
        mine.close()
    assert taken.trial_id == spec.trial_id and taken.fresh_start is False


def test_a_taken_over_trial_its_dead_holder_had_stored_is_not_run_again(tmp_path):
    (spec,) = grid_specs(grid={})
    store = ParquetResultsStore(str(tmp_path))
    dead = ClaimBook(pafs.LocalFileSystem(), str(tmp_path / "claims" / "t"), local=True, clock=Clock(0.0))
    assert dead.claim(spec.trial_id).mine
    store.append(spec, finished(spec))  # stored, then killed before marking the claim done
    mine = ClaimedTrials(_source([spec]), store.claims("t"), lambda trial_id: trial_id in store.finished_trial_ids("t"))
    try:
        assert mine.take() is None and not mine.waiting and mine.elsewhere == 1
    finally:
        mine.close()


def test_a_failed_trial_is_released_so_a_later_run_retries_it(tmp_path):
    (spec,) = grid_specs(grid={})
    store = ParquetResultsStore(str(tmp_path))
    mine = ClaimedTrials(_source([spec]), store.claims("t"), lambda trial_id: False)
    try:
        taken = mine.take()
        mine.finished(taken, finished(taken, status=TrialStatus.FAILED))
    finally:
        mine.close()
    assert store.claims("t").claim(spec.trial_id) is ClaimOutcome.CLAIMED


def test_a_claim_whose_driver_process_on_this_host_is_gone_is_taken_over_at_once(tmp_path):
    import subprocess
    import sys

    root = str(tmp_path / "claims" / "s")
    code = ("import pyarrow.fs as f; from orchestrator.store import ClaimBook; "
            f"print(ClaimBook(f.LocalFileSystem(), {root!r}, local=True).claim('t1').name)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.stdout.strip() == "CLAIMED"
    fresh = book(tmp_path, "exclusive-create", Clock(float("-inf")))  # no expiry could have passed
    assert fresh.claim("t1") is ClaimOutcome.TAKEN_OVER


def test_a_claim_of_a_live_driver_process_on_this_host_is_respected(tmp_path):
    import subprocess
    import sys

    root = str(tmp_path / "claims" / "s")
    code = ("import sys, pyarrow.fs as f; from orchestrator.store import ClaimBook; "
            f"b = ClaimBook(f.LocalFileSystem(), {root!r}, local=True); print(b.claim('t1').name, flush=True); "
            "sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert holder.stdout.readline().strip() == "CLAIMED"
        assert ClaimBook(pafs.LocalFileSystem(), root, local=True).claim("t1") is ClaimOutcome.HELD
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_driver_that_looked_before_a_rival_claimed_still_cannot_claim_the_same_generation(tmp_path, protocol,
                                                                                            monkeypatch):
    # The interleaving a race makes: b looks (no claim yet), a claims, b creates generation 1.
    a, b = book(tmp_path, protocol, Clock(1000.0)), book(tmp_path, protocol, Clock(1000.5))
    assert a.claim("t1") is ClaimOutcome.CLAIMED
    monkeypatch.setattr(b, "holder", lambda trial_id: None)
    if protocol == "write-then-list":  # b's look before writing misses a's claim too
        real, looks = b._claims, []

        def first_look_finds_nothing(trial_id):
            looks.append(trial_id)
            return [] if len(looks) == 1 else real(trial_id)

        monkeypatch.setattr(b, "_claims", first_look_finds_nothing)
    assert b.claim("t1") is ClaimOutcome.HELD
    monkeypatch.undo()
    assert book(tmp_path, protocol).holder("t1").driver == a.driver


# --- a tpe search shared by drivers ----------------------------------------------------------


def _search(samples: int):
    from orchestrator.config import parse_experiment
    from orchestrator.driver import plan_run
    from orchestrator.store import InMemoryResultsStore

    experiment = parse_experiment({"name": "s", "sweep": {"method": "tpe", "samples": samples, "search_seed": 0,
                                                         "space": {"training.learning_rate": {"loguniform": [1e-4, 1e-1]}}}})
    return plan_run(experiment, InMemoryResultsStore()).source


def _taken_points(source) -> list[float]:
    points = []
    while (spec := source.take()) is not None:
        points.append(spec.point["training.learning_rate"])
    return points


def test_points_other_drivers_run_take_their_share_of_the_budget():
    alone = _search(5)
    assert len(_taken_points(alone)) == 5
    shared = _search(5)
    elsewhere = [{"training.learning_rate": 0.002}, {"training.learning_rate": 0.03}]
    shared.peers = lambda: ([], elsewhere)
    taken = _taken_points(shared)
    assert len(taken) == 3  # 5 in all, 2 of them run by another driver
    assert not {0.002, 0.03} & set(taken)


def test_outcomes_other_drivers_stored_are_told_once_and_count_in_the_budget():
    from orchestrator.search import Observation, SearchState

    shared = _search(4)
    stored = [Observation({"training.learning_rate": 0.01}, 0.9, SearchState.COMPLETED, 2)]
    shared.peers = lambda: (stored, [])
    assert len(_taken_points(shared)) == 3
    assert shared.sampler.told == 1  # asked again before every point: told once all the same


def test_a_shared_search_reads_the_store_again_only_when_another_drivers_claims_changed(tmp_path, monkeypatch):
    """Before each ask a shared tpe search learns what other drivers stored and run. Only
    another driver's result can be new to it, and each is stored before its claim changes
    (marked done) or goes stale: a driver alone reads the store once, and every other
    driver's outcome still reaches it."""
    import orchestrator.answers
    from orchestrator.config import parse_experiment
    from orchestrator.driver._claimed import search_peers
    from orchestrator.plan._expand import specs_for_point

    reads: list[int] = []
    real = orchestrator.answers.select_trials
    monkeypatch.setattr(orchestrator.answers, "select_trials", lambda *a, **k: (reads.append(1), real(*a, **k))[1])
    experiment = parse_experiment({"name": "s", "sweep": {"method": "tpe", "samples": 8, "search_seed": 0, "space": {
        "training.learning_rate": {"loguniform": [1e-4, 1e-1]}}}})
    (own, theirs, dead) = [specs_for_point(experiment, {"training.learning_rate": lr})[0] for lr in (0.001, 0.01, 0.05)]
    store = ParquetResultsStore(str(tmp_path))
    mine, other = store.claims("s", expires_after=0.5), store.claims("s")
    peers = search_peers(experiment, store, mine)

    assert peers() == ([], []) and len(reads) == 1
    assert mine.claim(own.trial_id, own.point).mine
    store.append(own, finished(own))
    mine.mark_done(own.trial_id)
    assert peers() == ([], []) and len(reads) == 1, "this driver's own trials are told directly: no read"

    def values(outcomes) -> dict[float, float]:
        return {o.point["training.learning_rate"]: o.value for o in outcomes}

    assert other.claim(theirs.trial_id, theirs.point).mine
    outcomes, running = peers()
    assert running == [theirs.point] and len(reads) == 2 and 0.01 not in values(outcomes)
    store.append(theirs, finished(theirs))
    assert peers()[1] == [theirs.point] and len(reads) == 2  # still held: its slot is counted
    other.mark_done(theirs.trial_id)
    outcomes, running = peers()
    assert running == [] and len(reads) == 3 and 0.01 in values(outcomes)

    # A driver that stored its result and died before marking it: its claim goes stale.
    assert other.claim(dead.trial_id, dead.point).mine
    assert peers()[1] == [dead.point] and len(reads) == 4
    store.append(dead, finished(dead))
    time.sleep(0.6)  # past this driver's expiry: no heartbeat came
    outcomes, running = peers()
    assert running == [] and len(reads) == 5 and 0.05 in values(outcomes)


def test_a_driver_whose_claim_was_taken_over_learns_it_from_its_heartbeat(tmp_path):
    (spec,) = grid_specs(grid={})
    root = str(tmp_path / "claims" / "t")
    slow = ClaimBook(pafs.LocalFileSystem(), root, local=True, expires_after=0.4)  # heartbeats every 0.1 s
    mine = ClaimedTrials(_source([spec]), slow, lambda trial_id: False)
    try:
        assert mine.take() is not None and mine.lost == set()
        later = ClaimBook(pafs.LocalFileSystem(), root, local=True, expires_after=0.4, clock=Clock(10**12))
        assert later.claim(spec.trial_id) is ClaimOutcome.TAKEN_OVER  # as if our heartbeats had stalled
        for _ in range(100):
            if mine.lost:
                break
            time.sleep(0.05)
        assert mine.lost == {spec.trial_id}
    finally:
        mine.close()
    assert later.holds(spec.trial_id)  # closing gave up nothing that was no longer ours


def test_the_executors_group_taker_waits_while_other_drivers_hold_trials_instead_of_ending():
    from orchestrator.plan import GroupTaker, TrialSource

    specs = grid_specs(grid={"training.learning_rate": [0.1, 0.01]})

    class HeldElsewhereThenFree(TrialSource):
        def __init__(self):
            self.free, self.given = False, 0

        def take(self):
            if not self.free or self.given == len(specs):
                return None
            self.given += 1
            return specs[self.given - 1]

        @property
        def waiting(self):
            return not self.free

        @property
        def total(self):
            return len(specs)

    source = HeldElsewhereThenFree()
    taker = GroupTaker(source, size=2, lookahead=2)
    assert taker.next_group() is None and not taker.exhausted  # none now: the sweep is not over
    source.free = True
    assert [s.trial_id for s in taker.next_group()] == [s.trial_id for s in specs]
    assert taker.next_group() is None and taker.exhausted
