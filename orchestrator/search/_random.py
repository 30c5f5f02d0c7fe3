"""Independent uniform draws, each a pure function of (seed, draw number, field)."""

from __future__ import annotations

import hashlib
from typing import Any

from orchestrator.search._base import DeterministicSampler

__all__ = ["RandomSampler", "unit_number"]


def unit_number(seed: int, k: int, path: str) -> float:
    """A uniform number in [0, 1) from SHA-256 of (seed, k, path): the same on every machine,
    Python and NumPy version (a library RNG's stream may change between releases, and a
    changed stream would re-plan every trial id). Hashing the field name in keeps a field's
    draws the same when another field joins the space."""
    digest = hashlib.sha256(f"orch-random/{seed}/{k}/{path}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") >> 11) / float(1 << 53)


class RandomSampler(DeterministicSampler):
    """Draw ``k`` puts each field at ``from_unit(unit_number(seed, k, field))``."""

    method = "random"

    def draw(self, k: int) -> dict[str, Any]:
        return {path: d.from_unit(unit_number(self.seed, k, path)) for path, d in self.space.items()}
