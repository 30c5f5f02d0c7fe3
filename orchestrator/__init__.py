"""orch: TensorFlow hyper-parameter sweeps on Ray, results in Parquet.

This package is the pure core (config, sweep, scheduling, store, queries, CLI). It never
imports TensorFlow or Ray at import time; the CLI imports ``cluster`` only when a sweep runs.

The Python API (``orchestrator/api.py``) is loaded on first use::

    import orchestrator as orch
    summary = orch.run("configs/quickstart.yaml", store="orch-results", overrides={"training.epochs": 1})
    table = orch.results("orch-results", sweep="quickstart")
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "run", "results"]


def __getattr__(name: str) -> Any:
    # Lazy: `import orchestrator` stays as light as it was (every trainer process imports it).
    if name == "run":
        from orchestrator.api import run

        return run
    if name == "results":
        from orchestrator.api import results

        return results
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
