"""Process-level TensorFlow setup and the one strategy factory.

Runs inside a trainer process (a Ray actor, a test subprocess, a benchmark), once, before
any TensorFlow op: memory growth, thread pools and logical devices can only be set before
the TensorFlow runtime initialises. Following Model Garden's ``distribute_utils``, a single
factory turns a :class:`DeviceInfo` into a strategy, and zero GPUs gives a CPU path through
the same code (several logical CPUs stand in for several GPUs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["DeviceInfo", "configure_process", "make_strategy", "gpu_peak_mb", "gpu_total_mb"]


@dataclass(frozen=True)
class DeviceInfo:
    """The devices a trial's strategy spans: ``count`` GPUs, or ``count`` (logical) CPUs."""

    kind: Literal["GPU", "CPU"]
    count: int


# The arguments and result of the one configure_process call this process may make.
_configured: tuple[tuple[int, int, int | None], DeviceInfo] | None = None


def configure_process(replicas: int = 1, threads: int = 1, gpu_memory_mb: int | None = None) -> DeviceInfo:
    """Set up TensorFlow for this process; call once, before any TensorFlow op.

    - Memory growth on every visible GPU: Ray sets ``CUDA_VISIBLE_DEVICES`` per actor and
      several trials may share one GPU, while TensorFlow by default maps all its memory.
      ``gpu_memory_mb`` instead caps each GPU at that much (a fixed share when packing).
    - ``threads`` intra-op and inter-op threads: one per trainer is the fast layout on CPU
      (two single-thread trainers beat one two-thread trainer, see DESIGN.md).
    - No GPU and ``replicas > 1``: the CPU is split into ``replicas`` logical devices, so the
      multi-replica path runs (slowly) on any machine.

    Calling again with the same arguments returns the same :class:`DeviceInfo`; other
    arguments raise ``RuntimeError`` (TensorFlow cannot be reconfigured once initialised).
    """
    global _configured
    if replicas < 1 or threads < 1:
        raise ValueError(f"configure_process: replicas and threads must be >= 1, got {replicas=}, {threads=}")
    if _configured is not None:
        args, info = _configured
        if args == (replicas, threads, gpu_memory_mb):
            return info
        raise RuntimeError(
            f"configure_process(replicas={replicas}, threads={threads}, gpu_memory_mb={gpu_memory_mb}): "
            f"this process was already configured with replicas={args[0]}, threads={args[1]}, "
            f"gpu_memory_mb={args[2]}, and TensorFlow cannot be reconfigured after it initialises; "
            "run differently-shaped trials in a new process"
        )
    import tensorflow as tf

    try:
        info = _configure(tf, replicas, threads, gpu_memory_mb)
    except RuntimeError as e:
        raise RuntimeError(
            "configure_process must run before any TensorFlow op in this process "
            f"(TensorFlow said: {e}); call it first thing in the trainer process"
        ) from e
    _configured = ((replicas, threads, gpu_memory_mb), info)
    return info


def _configure(tf: Any, replicas: int, threads: int, gpu_memory_mb: int | None) -> DeviceInfo:
    gpus = tf.config.list_physical_devices("GPU")
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    if gpus:
        if len(gpus) < replicas:
            raise ValueError(
                f"resources.replicas={replicas} but this process sees {len(gpus)} GPU(s); "
                f"lower resources.replicas to {len(gpus)} or give each trainer more GPUs"
            )
        # Outside Ray all GPUs are visible; use only the first `replicas` of them.
        tf.config.set_visible_devices(gpus[:replicas], "GPU")
        for gpu in gpus[:replicas]:
            if gpu_memory_mb is None:
                tf.config.experimental.set_memory_growth(gpu, True)
            else:  # growth and a fixed limit exclude each other
                tf.config.set_logical_device_configuration(
                    gpu, [tf.config.LogicalDeviceConfiguration(memory_limit=gpu_memory_mb)]
                )
        return DeviceInfo("GPU", replicas)
    if replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(replicas)]
        )
    return DeviceInfo("CPU", replicas)


def make_strategy(info: DeviceInfo) -> tf.distribute.Strategy:
    """The strategy a trial runs under.

    ``count > 1``: a ``MirroredStrategy`` over the first ``count`` logical devices of
    ``info.kind``; on CPUs with ``ReductionToOneDevice`` (NCCL is GPU-only and absent across
    logical devices). ``count == 1``: the default strategy, because a one-device
    MirroredStrategy only adds per-step overhead and forbids ``steps_per_execution > 1``.
    """
    import tensorflow as tf

    if info.count <= 1:
        return tf.distribute.get_strategy()
    devices = [d.name for d in tf.config.list_logical_devices(info.kind)][: info.count]
    if len(devices) < info.count:
        raise RuntimeError(
            f"make_strategy: {info.count} {info.kind} devices wanted, {len(devices)} visible; "
            f"call configure_process(replicas={info.count}) before any TensorFlow op"
        )
    # On GPUs let TensorFlow pick (NCCL when it can, with its own fallback).
    cross_device_ops = tf.distribute.ReductionToOneDevice() if info.kind == "CPU" else None
    return tf.distribute.MirroredStrategy(devices, cross_device_ops=cross_device_ops)


def gpu_peak_mb(info: DeviceInfo) -> float | None:
    """The most GPU memory (MiB) this process's TensorFlow has had in use on any of its
    GPUs since it started: with memory growth TensorFlow reserves that much and never hands
    it back to the device. None on CPUs, or where TensorFlow cannot tell."""
    if info.kind != "GPU":
        return None
    import tensorflow as tf

    try:
        peaks = [tf.config.experimental.get_memory_info(f"GPU:{i}")["peak"] for i in range(info.count)]
    except (ValueError, RuntimeError, AttributeError):
        return None
    return max(peaks) / 2**20


def gpu_total_mb() -> float | None:
    """Memory (MiB) of this process's first visible GPU, from ``nvidia-smi``; None when
    there is no GPU or no nvidia-smi to ask. TensorFlow itself does not report it."""
    import os
    import subprocess

    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    if not visible:
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits", "-i", visible],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
        return float(out.split()[0])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None
