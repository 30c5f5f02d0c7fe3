"""The cluster recipes in examples/ work as shipped: the KubeRay RayJob manifest has what
KubeRay requires and an entrypoint `orch` accepts; the multi-node Slurm script starts a Ray
head and a worker, waits for both, and runs the sweep across them (here the two "nodes" of
the allocation are this machine, `scontrol` and `srun` small shims that do what Slurm's do
for the script: list the nodes, run a command on one)."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from orchestrator.store import ParquetResultsStore
from tests.conftest import REPO

MANIFEST = REPO / "examples" / "kuberay" / "rayjob.yaml"
SLURM = REPO / "examples" / "slurm" / "ray-cluster.sbatch"


@pytest.mark.unit
def test_the_rayjob_manifest_has_the_fields_kuberay_requires_and_an_entrypoint_orch_accepts():
    from orchestrator.cli._main import _build_parser

    job = yaml.safe_load(MANIFEST.read_text())
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob") and job["metadata"]["name"]
    spec = job["spec"]
    cluster = spec["rayClusterSpec"]
    head = cluster["headGroupSpec"]
    assert isinstance(head["rayStartParams"], dict) and all(isinstance(v, str) for v in head["rayStartParams"].values())
    assert head["template"]["spec"]["containers"][0]["image"]
    for group in cluster["workerGroupSpecs"]:
        assert group["groupName"] and group["replicas"] >= 1 and isinstance(group["rayStartParams"], dict)
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        container = group["template"]["spec"]["containers"][0]
        assert container["image"] and "nvidia.com/gpu" in container["resources"]["limits"]
        assert {"secretRef": {"name": "orch-s3"}} in container["envFrom"]  # the store's credentials
    argv = shlex.split(spec["entrypoint"])
    assert argv[0] == "orch"
    args = _build_parser().parse_args(argv[1:])  # a typo'd flag would exit here
    assert args.command == "run" and args.store.startswith("s3://") and args.address == "auto"
    assert (REPO / args.config).is_file()
    yaml.safe_load(spec["runtimeEnvYAML"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shims(directory: Path) -> None:
    (directory / "scontrol").write_text('#!/bin/bash\n# scontrol show hostnames LIST\nprintf "node-a\\nnode-b\\n"\n')
    (directory / "srun").write_text(
        '#!/bin/bash\n# srun --nodes=1 --ntasks=1 -w NODE CMD...: run CMD here\n'
        'while [[ "$1" == -* ]]; do if [[ "$1" == "-w" ]]; then shift 2; else shift; fi; done\n'
        'if [[ "$1" == "hostname" ]]; then echo 127.0.0.1; exit 0; fi\nexec "$@"\n')
    for shim in ("scontrol", "srun"):
        (directory / shim).chmod(0o755)


def _ray_processes(temp_dir: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if str(temp_dir).encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
    return found


@pytest.mark.ray
@pytest.mark.skipif(not Path("/proc").exists(), reason="finds Ray's processes through /proc (Linux)")
def test_the_slurm_script_starts_a_head_and_a_worker_and_runs_the_sweep_across_both(tmp_path):
    shims = tmp_path / "bin"
    shims.mkdir()
    _shims(shims)
    experiment = tmp_path / "slurm.yaml"
    experiment.write_text((REPO / "configs" / "quickstart.yaml").read_text().replace("epochs: 10", "epochs: 1"))
    store = tmp_path / "store"
    temp_dir = Path(tempfile.mkdtemp(prefix="orch-slurm-", dir="/tmp"))  # Ray's sockets: a short path
    # Token authentication, as on the two-node test cluster (tests/test_cluster.py): Ray 2.60
    # turns it on for a head wherever a token file exists, so every client must send it.
    subprocess.run([str(Path(sys.executable).parent / "ray"), "get-auth-token", "--generate"], check=True,
                   capture_output=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="token", PATH=f"{shims}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
               SLURM_JOB_NODELIST="node-[a-b]", SLURM_CPUS_PER_TASK="1", RAY_PORT=str(_free_port()),
               RAY_START_ARGS=f"--temp-dir {temp_dir}", RAY_USAGE_STATS_ENABLED="0")
    log = tmp_path / "slurm.log"
    script = subprocess.Popen(["bash", str(SLURM), str(experiment), str(store)], cwd=REPO, env=env,
                              stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        returncode = script.wait(timeout=400)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(script.pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while _ray_processes(temp_dir) and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in _ray_processes(temp_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    text = log.read_text()
    assert returncode == 0, text[-3000:]
    assert "2 of 2 nodes joined" in text, text[-3000:]
    rows = ParquetResultsStore(str(store)).read_trials("quickstart").to_pylist()
    assert len(rows) == 4 and all(r["status"] == "completed" for r in rows)
    assert len({r["node_id"] for r in rows}) == 2, "the sweep ran on one node only"  # head and worker
