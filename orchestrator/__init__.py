"""orch: TensorFlow hyper-parameter sweeps on Ray, results in Parquet.

This package is the pure core (config, sweep, scheduling, store, queries, CLI). It never
imports TensorFlow or Ray at import time; the CLI imports ``cluster`` only when a sweep runs.
"""

__version__ = "0.1.0"
