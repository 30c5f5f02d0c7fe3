"""Ray plumbing: connection, trainer actors, the executor. Imports ray; imports trainers
(and so TensorFlow) only inside actor processes.

``executor`` is the one place with Ray side effects during a sweep; it starts trainers
(``_startup``, ``actor``), puts the datasets in the object store (``data``), checks user models
(``validation``), picks ``fuse: auto`` (``autofuse``) and keeps halving rungs (``rungs``).
``connection``/``auth`` join or start a cluster; ``jobs`` submits sweeps as Ray jobs."""

from cluster.connection import ray_session
from cluster.executor import ExecutionSummary, RayExecutor
from cluster.warm import WarmPool

__all__ = ["ray_session", "RayExecutor", "ExecutionSummary", "WarmPool"]
