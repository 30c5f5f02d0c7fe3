"""orch: TensorFlow hyper-parameter sweeps on Ray, results in Parquet.

This package is the pure core. Its packages, in the order a sweep flows through them:
``config`` (the experiment file) -> ``search`` (samplers) -> ``plan`` (trials and every
decision about them) -> ``driver`` (runs a sweep; hands trials to ``cluster``'s executor,
whose actors run ``trainers``; ``progress`` shows it) -> ``store`` (Parquet) -> ``answers``
(queries, tables, plots, SQL) -> ``cli`` (``orch``). Beside them, the domain: ``trial`` (``TrialSpec``, ``TrialResult``),
``data_identity``, ``usercode`` (user code located and hashed, never imported here),
``errors``, ``address``. It never imports TensorFlow or Ray at import time; the driver and
the CLI import ``cluster`` only when a sweep runs.

The Python API (``orchestrator/api.py``) is loaded on first use::

    import orchestrator as orch
    summary = orch.run("configs/quickstart.yaml", store="orch-results", overrides={"training.epochs": 1})
    table = orch.results("orch-results", sweep="quickstart")
    orch.report("orch-results", "quickstart")      # shows inline in a notebook; .save("r.html")
    model = orch.load_model("orch-results", "quickstart", "best")  # outputs.save_model
"""

from __future__ import annotations

from typing import Any

from orchestrator._version import __version__

__all__ = ["__version__", "run", "results", "report", "load_model", "session", "shutdown"]


def __getattr__(name: str) -> Any:
    # Lazy: `import orchestrator` stays as light as it was (every trainer process imports it).
    if name == "run":
        from orchestrator.api import run

        return run
    if name in ("session", "shutdown", "Session"):
        import orchestrator.api

        return getattr(orchestrator.api, name)
    if name == "results":
        from orchestrator.api import results

        return results
    if name == "report":
        from orchestrator.api import report

        return report
    if name == "load_model":
        from orchestrator.api import load_model

        return load_model
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
