"""Claims: which driver runs which trial, when several drivers share one sweep and one store.

A driver claims a trial before it launches it, heartbeats its claims while it runs them, and
marks each claim done once the trial's result is stored (a driver that stops early releases
the claims it still holds). Other drivers skip a trial whose claim is alive or done, and
take over one whose holder stopped heartbeating (a killed driver).

Layout under the store root, one folder per trial so that a look at one trial reads one
small folder::

    claims/<sweep>/<trial_id>/<generation>.claim               local and mounted paths
    claims/<sweep>/<trial_id>/<generation>.<driver>.claim      object stores (s3://, gs://)

Each claim is JSON: the driver's id, host and pid, the trial's point, and the time of its
last heartbeat. The trial's holder is the claim of the highest generation; taking over a
stale claim means creating the next generation, which only one driver can win:

- on a local or mounted (NFS) path by exclusive create: the claim is written whole under a
  temporary name, then hard-linked to its final name, which fails if the name exists (POSIX
  ``link`` is atomic, on NFS too); so exactly one driver holds a generation;
- on an object store by write-then-list: a contender that sees no claim of the generation
  writes its own file, waits ``settle_seconds`` for rivals' writes to land, lists them, and
  the earliest written (then the smallest driver id) wins; the others delete theirs. This
  holds while the drivers' clocks agree, and a write lands, within the settle time (S3 and
  GCS list what was written, strongly consistent); a new claim costs that wait there.

A stale generation is deleted by the driver that took the trial over; a reader whose file
vanished between listing and reading lists again, and then sees the newer generation.

A claim is stale when its heartbeat is older than ``expires_after`` seconds by the reader's
clock (the expiry must exceed the heartbeat interval, a quarter of it, plus clock skew), or
at once when its holder ran on the reader's host and that process is gone (a driver killed
and started again on one machine goes on without waiting for the expiry).
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import pyarrow.fs as pafs

__all__ = ["Claim", "ClaimBook", "ClaimOutcome", "DEFAULT_CLAIM_EXPIRY"]

DEFAULT_CLAIM_EXPIRY = 60.0  # seconds without a heartbeat before another driver takes over
# Object stores: how long a new claim waits for rivals' writes to land before it counts them;
# more than the clock skew between drivers plus a write's latency.
DEFAULT_SETTLE_SECONDS = 1.0
_LIST_ATTEMPTS = 20


class ClaimOutcome(enum.Enum):
    CLAIMED = "claimed"  # this driver holds the trial now (new, taken over, or held already)
    TAKEN_OVER = "taken over"  # claimed from a stale holder: resume from its checkpoint
    HELD = "held"  # another driver's claim is alive: look again later
    DONE = "done"  # another driver stored its result (or this one did, earlier)

    @property
    def mine(self) -> bool:
        return self in (ClaimOutcome.CLAIMED, ClaimOutcome.TAKEN_OVER)


@dataclass(frozen=True)
class Claim:
    trial_id: str
    generation: int
    driver: str
    host: str
    pid: int
    heartbeat: float  # unix time of the last heartbeat
    written: float  # unix time the claim was first written (object stores: the tie-break)
    point: dict[str, Any] = field(default_factory=dict, hash=False)
    done: bool = False  # the holder stored the trial's result: a marker that it needs no driver

    def alive(self, now: float, expires_after: float) -> bool:
        return now - self.heartbeat <= expires_after

    def text(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=repr)

    @classmethod
    def parse(cls, text: str) -> Claim:
        return cls(**json.loads(text))


class ClaimBook:
    """One driver's view of the claims of one sweep in a store (see the module docstring).

    Not thread-safe by itself: the driver calls it from one thread at a time (its heartbeat
    thread and its launch loop share one lock, see ``orchestrator.driver``)."""

    def __init__(
        self,
        fs: pafs.FileSystem,
        directory: str,
        *,
        local: bool,
        expires_after: float = DEFAULT_CLAIM_EXPIRY,
        driver: str | None = None,
        clock: Callable[[], float] = time.time,
        rerun: bool = False,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
    ) -> None:
        if not expires_after > 0:
            raise ValueError(f"expires_after must be > 0 seconds, got {expires_after}")
        self._fs = fs
        self._dir = directory
        self._local = local
        self.expires_after = expires_after
        self.driver = driver or uuid.uuid4().hex[:12]
        self._host = socket.gethostname()
        self._clock = clock
        self._settle = settle_seconds
        # --rerun: trials marked done before this driver started are run again.
        self._done_before = clock() if rerun else None
        self._held: dict[str, Claim] = {}  # trial id -> my claim

    # --- reading ------------------------------------------------------------------------

    def holder(self, trial_id: str) -> Claim | None:
        """The trial's current claim (highest generation), or None if it has none."""
        claims = self._claims(trial_id)
        if not claims:
            return None
        top = max(c.generation for c in claims)
        return min((c for c in claims if c.generation == top), key=lambda c: (c.written, c.driver))

    def holds(self, trial_id: str) -> bool:
        """Whether this driver still holds the trial (no one took it over)."""
        mine = self._held.get(trial_id)
        if mine is None:
            return False
        current = self.holder(trial_id)
        return current is not None and (current.generation, current.driver) == (mine.generation, mine.driver)

    @property
    def held(self) -> list[str]:
        return list(self._held)

    def current(self) -> list[Claim]:
        """Every trial's current claim in this sweep, done ones included."""
        if self._local:
            try:
                trial_ids = [n for n in os.listdir(self._dir) if not n.startswith(".")]
            except FileNotFoundError:
                return []
        else:
            selector = pafs.FileSelector(self._dir, allow_not_found=True)
            trial_ids = [i.base_name for i in self._fs.get_file_info(selector) if i.type == pafs.FileType.Directory]
        return [claim for trial_id in sorted(trial_ids) if (claim := self.holder(trial_id)) is not None]

    def others(self) -> tuple[list[Claim], list[Claim]]:
        """Other drivers' current claims in this sweep (done ones included), and those of them
        that are live: trials they run now. One listing for both."""
        now = self._clock()
        theirs = [c for c in self.current() if c.driver != self.driver]
        return theirs, [c for c in theirs if not c.done and c.alive(now, self.expires_after) and not self._gone(c)]

    # --- claiming -----------------------------------------------------------------------

    def claim(self, trial_id: str, point: Mapping[str, Any] | None = None) -> ClaimOutcome:
        """Claim the trial for this driver, unless another driver's claim is alive or marks
        the trial done; a stale claim (its holder stopped heartbeating) is taken over."""
        if trial_id in self._held and self.holds(trial_id):
            return ClaimOutcome.CLAIMED
        current = self.holder(trial_id)
        now = self._clock()
        if current is not None and current.done:
            if self._done_before is None or current.heartbeat >= self._done_before:
                return ClaimOutcome.DONE
        elif current is not None and current.alive(now, self.expires_after) and not self._gone(current):
            return ClaimOutcome.HELD
        generation = 1 if current is None else current.generation + 1
        mine = Claim(trial_id, generation, self.driver, self._host, os.getpid(), now, now, dict(point or {}))
        if not self._create(mine):
            return ClaimOutcome.HELD  # another driver won this generation a moment ago
        self._held[trial_id] = mine
        if generation > 1:
            self._forget_older(trial_id, generation)
        return ClaimOutcome.TAKEN_OVER if current is not None and not current.done else ClaimOutcome.CLAIMED

    def heartbeat(self) -> list[str]:
        """Refresh every claim this driver holds; returns the trial ids it lost (taken over
        by another driver after this one missed its heartbeats), which it holds no more."""
        lost = []
        now = self._clock()
        for trial_id, mine in list(self._held.items()):
            if not self.holds(trial_id):
                lost.append(trial_id)
                del self._held[trial_id]
                continue
            fresh = replace(mine, heartbeat=now)
            self._put(self._path(fresh), fresh.text())
            self._held[trial_id] = fresh
        return lost

    def mark_done(self, trial_id: str) -> None:
        """The trial's result is stored: the claim stays as a marker that no driver needs to
        run it (a driver whose plan predates the result would otherwise claim it afresh)."""
        mine = self._held.pop(trial_id, None)
        if mine is not None and self._holds_file(mine):
            done = replace(mine, heartbeat=self._clock(), done=True)
            self._put(self._path(done), done.text())

    def release(self, trial_id: str) -> None:
        """Give the trial up unfinished (the driver stops): another driver may take it at once."""
        mine = self._held.pop(trial_id, None)
        if mine is not None and self._holds_file(mine):
            self._delete(self._path(mine))

    def release_all(self) -> None:
        for trial_id in list(self._held):
            self.release(trial_id)

    def _gone(self, claim: Claim) -> bool:
        """Its holder ran on this host and its process has ended (killed, crashed): no need
        to wait for the expiry to know it will never heartbeat again."""
        if claim.host != self._host or claim.pid <= 0 or claim.pid == os.getpid():
            return False
        try:
            os.kill(claim.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            return False
        return _zombie(claim.pid)

    # --- files --------------------------------------------------------------------------

    def _trial_dir(self, trial_id: str) -> str:
        return f"{self._dir}/{trial_id}"

    def _path(self, claim: Claim) -> str:
        name = f"{claim.generation}.claim" if self._local else f"{claim.generation}.{claim.driver}.claim"
        return f"{self._trial_dir(claim.trial_id)}/{name}"

    def _names(self, trial_id: str) -> list[str]:
        if self._local:
            try:
                return [n for n in os.listdir(self._trial_dir(trial_id)) if n.endswith(".claim")]
            except (FileNotFoundError, NotADirectoryError):
                return []
        selector = pafs.FileSelector(self._trial_dir(trial_id), allow_not_found=True)
        try:
            infos = self._fs.get_file_info(selector)
        except FileNotFoundError:  # made by a rival between pyarrow's look and its listing
            return []
        return [i.base_name for i in infos if i.base_name.endswith(".claim")]

    def _claims(self, trial_id: str) -> list[Claim]:
        """Every claim file of the trial. A file that vanishes between the listing and the
        read was replaced by a newer generation (or released): list again."""
        for _ in range(_LIST_ATTEMPTS):
            claims = []
            for name in self._names(trial_id):
                path = f"{self._trial_dir(trial_id)}/{name}"
                try:
                    with self._fs.open_input_stream(path) as f:
                        claims.append(Claim.parse(f.read().decode()))
                except FileNotFoundError:
                    break
                except (ValueError, TypeError, KeyError):
                    claims.append(self._unreadable(trial_id, name, path))
            else:
                return claims
        raise OSError(f"claims of trial {trial_id} under {self._dir} kept changing; is something deleting them?")

    def _unreadable(self, trial_id: str, name: str, path: str) -> Claim:
        """A claim file that is not ours to read (written by something else): it holds its
        generation, and is stale once the file is older than the expiry, so it never blocks
        a trial for good."""
        head = name.split(".")[0]
        mtime = self._fs.get_file_info(path).mtime
        stamp = mtime.timestamp() if mtime is not None else 0.0
        return Claim(trial_id, int(head) if head.isdigit() else 0, "?", "?", 0, stamp, stamp)

    def _holds_file(self, mine: Claim) -> bool:
        current = self.holder(mine.trial_id)
        return current is not None and (current.generation, current.driver) == (mine.generation, mine.driver)

    def _create(self, claim: Claim) -> bool:
        """Write ``claim`` as its generation's only holder; False if another driver won it."""
        directory = self._trial_dir(claim.trial_id)
        self._fs.create_dir(directory, recursive=True)
        if self._local:
            tmp = f"{directory}/.tmp-{uuid.uuid4().hex}"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(claim.text())
            try:
                os.link(tmp, self._path(claim))  # atomic, and fails if the name exists
                return True
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
        # Object stores: write, let every rival's write land, then the earliest written wins.
        # A rival that wrote after this one's settle is seen as later by it and loses.
        if any(c.generation == claim.generation for c in self._claims(claim.trial_id)):
            return False
        self._put(self._path(claim), claim.text())
        time.sleep(self._settle)
        rivals = [c for c in self._claims(claim.trial_id) if c.generation == claim.generation]
        winner = min(rivals, key=lambda c: (c.written, c.driver), default=claim)
        if winner.driver != claim.driver:
            self._delete(self._path(claim))
            return False
        return True

    def _forget_older(self, trial_id: str, generation: int) -> None:
        """Delete the stale generations this driver took the trial over from."""
        for name in self._names(trial_id):
            head = name.split(".")[0]
            if head.isdigit() and int(head) < generation:
                self._delete(f"{self._trial_dir(trial_id)}/{name}")

    def _put(self, path: str, text: str) -> None:
        if self._local:
            # The holder rewrites its own claim: a temporary file renamed over it, so that a
            # reader never sees half a heartbeat.
            tmp = f"{path.rsplit('/', 1)[0]}/.tmp-{uuid.uuid4().hex}"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
            return
        with self._fs.open_output_stream(path) as out:  # one PUT: whole or absent
            out.write(text.encode())

    def _delete(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError, OSError):
            self._fs.delete_file(path)


def _zombie(pid: int) -> bool:
    """Ended but not yet reaped (a container's pid 1 may never reap it): as good as gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
