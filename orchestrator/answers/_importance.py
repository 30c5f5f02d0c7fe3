"""Hyperparameter importance: how much of the spread of a metric each param explains.

Computed by Optuna's importance evaluators (a well-kept implementation, not ours) over an
in-memory study built from the store's trials: each completed trial becomes a finished
Optuna trial with its params and the metric as its value. Optuna is imported only here,
only when importance is asked for.

fANOVA (a random forest, then a functional ANOVA over it) is the estimate of choice: it
found the right param on 8 trials where PED-ANOVA did not. It takes seconds per few
hundred trials (measured: 4.5 s on 300, 17 s on 1,000, over 5 minutes on 10,000, on 2
busy cores), so a larger sweep is judged on a fixed random sample, and the answer says so.
Without scikit-learn (which fANOVA needs) PED-ANOVA is used.
"""

from __future__ import annotations

import math
import random
import warnings
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

__all__ = ["Importance", "param_importance", "MAX_IMPORTANCE_TRIALS"]

MAX_IMPORTANCE_TRIALS = 200  # fANOVA on a sample of this many: ~3 s


@dataclass(frozen=True)
class Importance:
    """Importance per param (summing to 1, largest first), how many trials it rests on
    (``used`` of ``completed``), the evaluator's name, and why it is empty if it is."""

    values: dict[str, float] = field(default_factory=dict)
    used: int = 0
    completed: int = 0
    method: str = ""
    note: str | None = None

    def describe(self) -> str:
        if self.note:
            return self.note
        trials = "trial" if self.completed == 1 else "trials"
        sample = (f"a random sample of {self.used:,} of {self.completed:,} completed {trials}"
                  if self.used < self.completed else f"{self.completed:,} completed {trials}")
        return f"{self.method} (Optuna) over {sample}"


def _usable(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and not math.isfinite(value))


def _distribution(values: list[Any], log: bool) -> tuple[Any, Any]:
    """An Optuna distribution for a param's values, and how to turn a value into its param."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric and len(set(values)) > 2:
        low, high = min(values), max(values)
        log = log and low > 0
        if all(isinstance(v, int) for v in values):
            return IntDistribution(int(low), int(high), log=log), int
        return FloatDistribution(float(low), float(high), log=log), float
    choices = sorted({str(v) for v in values})
    return CategoricalDistribution(choices), str


def param_importance(
    trials: pa.Table,
    params: list[str],
    metric: str,
    goal: str = "max",
    log_params: frozenset[str] | set[str] = frozenset(),
    limit: int = MAX_IMPORTANCE_TRIALS,
) -> Importance:
    """Importance of ``params`` for ``metric`` over the completed trials of ``trials`` with a
    value of it (null and NaN left out). Params with one value, or with missing values
    (a builder's param in another model's rows), are left out of the study."""
    rows = [r for r in trials.select(["status", metric, *params]).to_pylist()
            if r["status"] == "completed" and _usable(r[metric])]
    completed = len(rows)
    params = [p for p in params if len({str(r[p]) for r in rows}) > 1 and all(r[p] is not None for r in rows)]
    if completed < 3 or not params or len({r[metric] for r in rows}) == 1:
        why = (f"fewer than 3 completed trials with a {metric}" if completed < 3 else "no param varies" if not params
               else f"every trial has the same {metric}")
        return Importance(completed=completed, note=f"no importance: {why}")
    sample = random.Random(0).sample(rows, limit) if completed > limit else rows
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kinds = {p: _distribution([r[p] for r in sample], p in log_params) for p in params}
    study = optuna.create_study(direction="maximize" if goal == "max" else "minimize")
    study.add_trials([
        optuna.trial.create_trial(params={p: kinds[p][1](r[p]) for p in params},
                                  distributions={p: kinds[p][0] for p in params}, value=float(r[metric]))
        for r in sample
    ])
    try:
        # 32 trees (Optuna's default: 64) halve the time; the ranking of a few params holds.
        evaluator: Any = optuna.importance.FanovaImportanceEvaluator(n_trees=32, seed=0)
        method = "fANOVA"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks its evaluators experimental
            values = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except RuntimeError as e:  # e.g. "zero total variance in all trees": nothing to split on
        return Importance(completed=completed, note=f"no importance: fANOVA found nothing to explain ({e})")
    except ImportError:  # fANOVA needs scikit-learn
        method = "PED-ANOVA"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
    ordered = dict(sorted(((k, float(v)) for k, v in values.items()), key=lambda kv: -kv[1]))
    return Importance(ordered, used=len(sample), completed=completed, method=method)
