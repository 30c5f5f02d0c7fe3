"""Search beyond the grid: spaces, and samplers that suggest points and learn from outcomes.

Pure Python: no TensorFlow, no Ray; scipy (Sobol) and Optuna (TPE) are imported only when
such a sampler is made. The pieces, in the order a sweep uses them:

- :func:`parse_space`, :func:`check_search`: ``sweep.space`` YAML -> distributions
  (:class:`Uniform`, :class:`LogUniform`, :class:`IntRange`, :class:`Choice`);
- :func:`search_points`: every point of a deterministic sweep (grid, random, sobol), up
  front, for the planner;
- :func:`make_sampler`: the :class:`Sampler` the executor asks and tells (one per grid
  point, :class:`PerGridPoint`); :func:`history_from_rows` rebuilds it from the store;
- :class:`ScriptedSampler`: a scripted fake for executor tests.
"""

from orchestrator.search._base import (
    DeterministicSampler,
    Goal,
    Observation,
    Sampler,
    SearchState,
    SpaceSampler,
    Suggestion,
    point_key,
)
from orchestrator.search._distributions import Choice, Distribution, IntRange, LogUniform, Uniform
from orchestrator.search._fake import ScriptedSampler
from orchestrator.search._grid import GridSampler
from orchestrator.search._history import combine_seeds, history_from_rows
from orchestrator.search._plan import SAMPLERS, PerGridPoint, make_sampler, search_points, seed_for
from orchestrator.search._random import RandomSampler, unit_number
from orchestrator.search._sobol import SobolSampler
from orchestrator.search._space import (
    KINDS,
    METHODS,
    FieldKind,
    Space,
    check_search,
    kind_of_hint,
    parse_space,
    space_size,
)
from orchestrator.search._tpe import TPESampler

__all__ = [
    "Choice", "Distribution", "IntRange", "LogUniform", "Uniform",
    "FieldKind", "Space", "KINDS", "METHODS", "parse_space", "check_search", "kind_of_hint", "space_size",
    "Goal", "SearchState", "Suggestion", "Observation", "Sampler", "SpaceSampler", "DeterministicSampler", "point_key",
    "GridSampler", "RandomSampler", "SobolSampler", "TPESampler", "unit_number",
    "SAMPLERS", "PerGridPoint", "make_sampler", "search_points", "seed_for",
    "combine_seeds", "history_from_rows", "ScriptedSampler",
]
