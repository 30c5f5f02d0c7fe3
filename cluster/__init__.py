"""Ray plumbing: connection, trainer actors, the executor. Imports ray; imports trainers
(and so TensorFlow) only inside actor processes."""

from cluster.connection import ray_session
from cluster.executor import ExecutionSummary, RayExecutor

__all__ = ["ray_session", "RayExecutor", "ExecutionSummary"]
