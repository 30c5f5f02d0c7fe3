"""Stores of hand-made results for report and plot tests: a grid (optimizer x activation x
2 seeds, the quickstart's shape) and a random search (12 points x 2 seeds over a
log-uniform learning rate, a log batch size and a dropout), with metrics that differ by
param and epoch, as real sweeps' do. No training involved."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone

from orchestrator.config import parse_experiment
from orchestrator.plan import expand_sweep
from orchestrator.trial import EpochRecord, TrialResult, TrialSpec, TrialStatus

GRID = {"name": "grid", "training": {"epochs": 4},
        "sweep": {"grid": {"training.optimizer": ["sgd", "adam"], "model.activation": ["relu", "sigmoid"]},
                  "seeds": [0, 1]}}
SEARCH = {"name": "search", "training": {"epochs": 4},
          "sweep": {"method": "random", "samples": 12, "seeds": [0, 1],
                    "space": {"training.learning_rate": {"loguniform": [1e-5, 1e-1]},
                              "training.batch_size": {"int": [32, 512], "log": True},
                              "model.dropout": {"uniform": [0.0, 0.5]}}}}


def result(spec: TrialSpec, index: int, status: TrialStatus = TrialStatus.COMPLETED) -> TrialResult:
    """Accuracy that rises by epoch to a level set by the params (adam, relu and a learning
    rate near 1e-3 are better), plus seed noise; sigmoid + sgd stuck at chance, as in DESIGN.md."""
    t, rng = spec.training, random.Random(index)
    level = 0.97 - 0.04 * abs(math.log10(t.learning_rate) + 3) - 0.03 * (t.optimizer == "sgd")
    level -= 0.02 * (spec.model.activation == "sigmoid") + 0.05 * spec.model.dropout + rng.gauss(0, 0.004)
    if t.optimizer == "sgd" and spec.model.activation == "sigmoid":
        level = 0.1135
    seconds = 0.5 + 60.0 / t.batch_size
    records = [EpochRecord(e, 2.3 / (1 + e), level * (1 - 0.4 ** e), 2.4 / (1 + e), level * (1 - 0.45 ** e), seconds)
               for e in range(1, t.epochs + 1)]
    start = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=index)
    train = sum(r.seconds for r in records)
    return TrialResult(
        trial_id=spec.trial_id, status=status, started_at=start, ended_at=start + timedelta(seconds=train + 2),
        epochs=records, test_loss=0.1, test_accuracy=level, param_count=61706, global_batch_size=t.batch_size,
        train_seconds=train, total_seconds=train + 2.0, host="h", device_kind="CPU", device_count=1,
        error=None if status is TrialStatus.COMPLETED else "boom",
    )


def fill(store, *configs: dict) -> dict[str, list[TrialSpec]]:
    """Every trial of each config, stored with :func:`result`; the experiments saved too."""
    specs = {}
    for config in configs:
        experiment = parse_experiment(config)
        store.save_config(experiment)
        specs[experiment.name] = expand_sweep(experiment)
        store.append_many([(s, result(s, i)) for i, s in enumerate(specs[experiment.name])])
    return specs
