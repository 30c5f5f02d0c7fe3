"""When a trial saves a resume point (``outputs.checkpoint_every``).

A checkpoint is worth what it saves: the training a killed or crashed run would otherwise do
again. A number N saves every N epochs, whatever they cost; ``auto`` saves once at least
:data:`AUTO_CHECKPOINT_SECONDS` of the trial's wall time have passed since its last save
(or its start), so that a trial of tiny epochs pays for no file per epoch and a long trial
still loses at most about that much, plus one epoch, when it is interrupted. No trial saves
at the epoch it ends: its result follows at once and its checkpoints are deleted then.

Pure Python: the trainer (trainers/fused_branch.py) asks, and writes.
"""

from __future__ import annotations

__all__ = ["AUTO_CHECKPOINT_SECONDS", "checkpoint_due"]

# At most this much training is done again after an interruption, with ``auto``; a LeNet-5
# checkpoint costs ~0.03-0.07 s to write here, so ``auto`` spends under 1% of the time on them.
AUTO_CHECKPOINT_SECONDS = 10.0


def checkpoint_due(every: int | str, epoch: int, ending: bool, seconds_since_last: float) -> bool:
    """Whether a trial saves a checkpoint at the end of ``epoch`` (1-based), given
    ``outputs.checkpoint_every`` (an int, 0 for never, or "auto"), whether the trial ends at
    this epoch, and the wall seconds since its last checkpoint (or since it started)."""
    if ending:
        return False
    if every == "auto":
        return seconds_since_last >= AUTO_CHECKPOINT_SECONDS
    return bool(every) and epoch % int(every) == 0
