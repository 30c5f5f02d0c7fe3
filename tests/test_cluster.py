"""A real multi-node Ray cluster on this machine: a head and a worker node started with
`ray start` (one CPU and two logical GPUs each), token authentication on, as a user would run
it. Sweeps across both nodes, `orch submit` through the Jobs API, a node lost mid-sweep, and
a user's model from a directory that only the driver has.

The cluster is private to this module: free ports, and its own Ray temp dir, so its
`ray_current_cluster` file does not make other processes' `ray.init()` join it. It is torn down
by killing exactly the processes it started (never `ray stop`, which stops every Ray on the
machine, including other people's embedded ones).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from cluster import ray_session  # noqa: E402
from cluster.actor import TrainerActor  # noqa: E402
from orchestrator.cli import main  # noqa: E402
from orchestrator.store import ParquetResultsStore  # noqa: E402
from tests.conftest import REPO  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.skipif(not Path("/proc").exists(), reason="finds Ray's processes through /proc (Linux)")]

QUICKSTART = str(REPO / "configs" / "quickstart.yaml")
VENV_BIN = Path(sys.executable).parent  # `ray` and the `python` that jobs run: as if activated


@dataclass
class Node:
    name: str
    process: subprocess.Popen
    log: Path
    raylet_pid: int = 0
    node_id: str = ""


@dataclass
class LocalCluster:
    """A head node plus worker nodes, each one `ray start --block` in its own session."""

    temp_dir: Path
    port: int = 0
    dashboard_port: int = 0
    nodes: list[Node] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")}
        env.update(PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", RAY_AUTH_MODE="token", RAY_USAGE_STATS_ENABLED="0")
        return env

    def start_head(self) -> Node:
        self.port, self.dashboard_port, client_port = _free_ports(3)
        return self._start("head", ["--head", "--port", str(self.port), "--dashboard-port", str(self.dashboard_port),
                                    "--ray-client-server-port", str(client_port)])

    def add_node(self, name: str) -> Node:
        return self._start(name, ["--address", self.address])

    def _start(self, name: str, args: list[str]) -> Node:
        (agent_port,) = _free_ports(1)  # default 52365 would clash between the nodes
        log = self.temp_dir / f"{name}.log"
        cmd = [str(VENV_BIN / "ray"), "start", "--block", *args, "--num-cpus", "1", "--num-gpus", "2",
               "--node-ip-address", "127.0.0.1", "--dashboard-agent-listen-port", str(agent_port),
               "--temp-dir", str(self.temp_dir), "--disable-usage-stats"]
        with log.open("wb") as out:
            process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env(), start_new_session=True)
        node = Node(name, process, log)
        self.nodes.append(node)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"`ray start` of node {name} exited: {log.read_text()[-2000:]}")
            raylet = _raylet_of(process.pid)
            if raylet is not None and "Ray runtime started" in log.read_text():
                node.raylet_pid, node.node_id = raylet
                return node
            time.sleep(0.5)
        raise RuntimeError(f"node {name} did not start in 90 s: {log.read_text()[-2000:]}")

    def kill(self, node: Node) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.process.pid, signal.SIGKILL)  # its own session: exactly this node's processes

    def stop(self) -> list[str]:
        """Stop every process this cluster started; returns those still alive 15 s after their
        node was killed (and kills them). SIGKILL, as `ray stop --force`: `ray start --block`
        takes 30 s or more to act on SIGTERM, and nothing here needs a clean shutdown."""
        for node in reversed(self.nodes):
            self.kill(node)
            node.process.wait()
        # Actor workers run in process groups of their own; they exit once their raylet is gone.
        deadline = time.monotonic() + 15
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.5)
        leftovers = []
        for pid, cmdline in self.processes():
            leftovers.append(f"{pid} {cmdline[:80]}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        return leftovers

    def processes(self) -> list[tuple[int, str]]:
        """Processes of this cluster still alive: its nodes' (they name its temp dir) and its
        raylets' workers (RAY_RAYLET_PID in their environment)."""
        raylets = {f"RAY_RAYLET_PID={n.raylet_pid}".encode() for n in self.nodes if n.raylet_pid}
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes()
                environ = set((proc / "environ").read_bytes().split(b"\0"))
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z" and (str(self.temp_dir).encode() in cmdline or environ & raylets):
                found.append((int(proc.name), cmdline.replace(b"\0", b" ").decode(errors="replace")))
        return found


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _raylet_of(start_pid: int) -> tuple[int, str] | None:
    """(pid, node id) of the raylet that `ray start` process ``start_pid`` runs."""
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) != start_pid or not cmdline[0].endswith(b"/raylet"):
            continue
        for arg in cmdline:
            if arg.startswith(b"--node_id="):
                return int(proc.name), arg.split(b"=", 1)[1].decode()
    return None


def _trainer_pids_on(node: Node) -> list[int]:
    """Trainer actor processes running a trial on ``node`` (Ray titles them ``ray::_Trainer.run_trial``)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if not (proc / "cmdline").read_bytes().startswith(b"ray::_Trainer.run_trial"):
                continue
            if f"RAY_RAYLET_PID={node.raylet_pid}".encode() in (proc / "environ").read_bytes().split(b"\0"):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


@pytest.fixture(scope="module")
def cluster(s3_server):
    # s3_server first: it puts the S3 credentials in the environment the nodes inherit, as a
    # real cluster's nodes have theirs (instance role, or the variables set on every node).
    if ray.is_initialized():
        ray.shutdown()
    # The cluster's token: ~/.ray/auth_token, made once as a user would (`ray start` will not).
    subprocess.run([str(VENV_BIN / "ray"), "get-auth-token", "--generate"], check=True, capture_output=True)
    # A short path: Ray's unix sockets live under it (limit ~107 characters).
    local = LocalCluster(Path(tempfile.mkdtemp(prefix="orch-ray-", dir="/tmp")))
    try:
        local.start_head()
        local.add_node("worker")
        yield local
    finally:
        if ray.is_initialized():
            ray.shutdown()
        leftovers = local.stop()
        assert not leftovers, f"processes of the test cluster outlived it (killed now): {leftovers}"


def _stored(store_dir: Path, sweep: str) -> list[dict]:
    return ParquetResultsStore(str(store_dir)).read_trials(sweep).to_pylist()


def test_sweep_spreads_over_both_nodes_and_stores_each_trial_once(cluster, tmp_path):
    store_dir = tmp_path / "store"
    argv = ["run", QUICKSTART, "--address", cluster.address, "--store", str(store_dir),
            "--set", "training.epochs=1", "--set", "resources.trainers=2"]
    assert main(argv) == 0
    assert not ray.is_initialized()  # disconnected; the cluster itself goes on
    rows = _stored(store_dir, "quickstart")
    assert len(rows) == 4 and len({r["trial_id"] for r in rows}) == 4
    assert all(r["status"] == "completed" for r in rows)
    # One CPU per node and two one-CPU trainers: one trainer on each node.
    assert {r["node_id"] for r in rows} == {n.node_id for n in cluster.nodes}


def test_each_trainer_actor_gets_a_logical_gpu_from_ray(cluster):
    from ray.util.queue import Queue

    with ray_session(cluster.address):
        events = Queue(actor_options={"num_cpus": 0})
        actors = [TrainerActor.options(num_cpus=1, num_gpus=1).remote(replicas=1, threads=1, events=events)
                  for _ in range(2)]
        seen = ray.get([a.describe.remote() for a in actors], timeout=120)
    assert {s["node_id"] for s in seen} == {n.node_id for n in cluster.nodes}
    for s in seen:
        # Ray picked one of the node's two GPUs and exported it before TensorFlow started.
        assert s["cuda_visible_devices"] in ("0", "1")
        assert s["gpu_ids"] == [s["cuda_visible_devices"]]


def test_submitted_job_runs_the_sweep_on_the_cluster(cluster, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # a relative --store means this directory's, also for the job
    argv = ["submit", QUICKSTART, "--address", cluster.dashboard, "--store", "store",
            "--set", "training.epochs=1", "--name", "submitted"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    job_id = out.strip()
    assert job_id.startswith("raysubmit_")
    assert f"orch jobs logs {job_id} --address {cluster.dashboard} --follow" in err
    assert f"--store {tmp_path / 'store'}" in err

    assert main(["jobs", "logs", job_id, "--address", cluster.dashboard, "--follow"]) == 0
    out, err = capsys.readouterr()
    assert "sweep submitted: 4 completed" in out  # the job's own log, streamed
    assert f"job {job_id}: SUCCEEDED" in err

    rows = _stored(tmp_path / "store", "submitted")
    assert len(rows) == 4 and len({r["trial_id"] for r in rows}) == 4
    assert all(r["status"] == "completed" for r in rows)

    assert main(["jobs", "list", "--address", cluster.dashboard]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith(job_id)]
    assert "SUCCEEDED" in line and "submitted" in line
    assert main(["jobs", "stop", job_id, "--address", cluster.dashboard]) == 0
    assert "not running (SUCCEEDED)" in capsys.readouterr().err
    for verb in ("logs", "stop"):
        assert main(["jobs", verb, "raysubmit_nosuchjob", "--address", cluster.dashboard]) == 2
        assert f"no job 'raysubmit_nosuchjob' on the cluster at {cluster.dashboard}" in capsys.readouterr().err


def _orch(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_a_wrong_token_is_one_line_naming_the_fix(cluster, tmp_path):
    # A subprocess: Ray caches the token in a process once it has read it.
    env = {**cluster.env(), "RAY_AUTH_TOKEN": "not-the-token"}
    for args in (["run", QUICKSTART, "--address", cluster.address, "--store", str(tmp_path / "s")],
                 ["jobs", "list", "--address", cluster.dashboard]):
        done = _orch(*args, env=env)
        assert done.returncode == 2, done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert "refused this machine's authentication token" in line and "ray get-auth-token" in line
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("argv", [
    ["submit", QUICKSTART], ["jobs", "list"], ["jobs", "logs", "raysubmit_x"], ["jobs", "stop", "raysubmit_x"],
])
def test_an_unreachable_job_server_is_one_line_and_exit_2(argv, capsys):
    assert main([*argv, "--address", "http://127.0.0.1:1"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "no Ray job server answers at http://127.0.0.1:1" in line and "http://HEAD:8265" in line


def test_a_dashboard_url_in_ray_address_is_refused_by_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAY_ADDRESS", "http://127.0.0.1:8265")
    assert main(["run", QUICKSTART, "--store", str(tmp_path / "s")]) == 2
    assert "RAY_ADDRESS=http://127.0.0.1:8265 is a dashboard (Jobs API) address" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("fuse, trials", [(1, 4), (2, 8)], ids=["alone", "fused"])
def test_trials_of_a_lost_node_run_again_elsewhere_and_are_stored_once(cluster, tmp_path, fuse, trials):
    """Fused: groups of two (8 trials, 3 trainers); the lost node's group is retried trial by trial."""
    extra = cluster.add_node("extra")
    store_dir = tmp_path / "store"
    args = ["run", QUICKSTART, "--address", cluster.address, "--store", str(store_dir), "--name", "lost-node",
            "--set", "training.epochs=3", "--set", "resources.trainers=3", "--set", f"resources.fuse={fuse}",
            "--set", f"sweep.seeds={list(range(trials // 4))}"]
    env = cluster.env()
    with (tmp_path / "orch.log").open("w") as log:
        sweep = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", *args], cwd=REPO, env=env,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not _trainer_pids_on(extra):
            assert sweep.poll() is None and time.monotonic() < deadline, (tmp_path / "orch.log").read_text()
            time.sleep(0.2)
        cluster.kill(extra)  # the whole node: raylet, agents; its trainer loses its raylet
        try:
            returncode = sweep.wait(timeout=150)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the sweep did not finish within 150 s of losing a node:\n{(tmp_path / 'orch.log').read_text()[-3000:]}")
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
            sweep.wait()
    log = (tmp_path / "orch.log").read_text()
    assert returncode == 0, log[-3000:]
    rows = _stored(store_dir, "lost-node")
    assert len(rows) == trials and len({r["trial_id"] for r in rows}) == trials, log[-3000:]
    assert all(r["status"] == "completed" and r["epochs_run"] == 3 for r in rows)
    retried = [r for r in rows if r["attempts"] > 1]
    assert retried and all(r["node_id"] != extra.node_id for r in retried)


def test_with_the_store_on_s3_a_lost_nodes_trial_resumes_on_another_node_from_its_checkpoint(
        cluster, s3_server, tmp_path):
    """No shared disk: the nodes reach each other's checkpoints only through the bucket."""
    extra = cluster.add_node("extra")
    uri = s3_server.store_uri(s3_server.new_bucket())
    args = ["run", QUICKSTART, "--address", cluster.address, "--store", uri, "--name", "s3-lost",
            "--set", "training.epochs=20", "--set", "resources.trainers=3", "--set", "outputs.tensorboard=false"]
    with (tmp_path / "orch.log").open("w") as log:
        sweep = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", *args], cwd=REPO, env=cluster.env(),
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    prefix = uri.split("?")[0].removeprefix("s3://") + "/checkpoints/s3-lost"
    try:
        deadline = time.monotonic() + 240
        # Every running trial (one on each node) has a checkpoint in the bucket.
        while not (_trainer_pids_on(extra)
                   and len([f for f in s3_server.files(prefix) if f.endswith("/state.json")]) >= 3):
            assert sweep.poll() is None and time.monotonic() < deadline, (tmp_path / "orch.log").read_text()[-3000:]
            time.sleep(0.3)
        cluster.kill(extra)
        returncode = sweep.wait(timeout=300)
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
            sweep.wait()
    log = (tmp_path / "orch.log").read_text()
    assert returncode == 0, log[-3000:]
    rows = ParquetResultsStore(uri).read_trials("s3-lost").to_pylist()
    assert len(rows) == 4 and all(r["status"] == "completed" and r["epochs_run"] == 20 for r in rows)
    retried = [r for r in rows if r["attempts"] > 1]
    assert retried, log[-3000:]
    for r in retried:
        assert r["node_id"] != extra.node_id
        assert r["resumed_epochs"] >= 1  # from the checkpoint the lost node left in the bucket
    assert not s3_server.files(prefix)


def test_a_sweep_job_runs_the_config_from_its_uploaded_directory(tmp_path, monkeypatch):
    from cluster.jobs import sweep_job
    from orchestrator.config import load_experiment

    config = tmp_path / "exp" / "grid.yaml"
    config.parent.mkdir()
    config.write_text("dataset:\n  name: mnist\n  data_dir: data/mnist\n")
    monkeypatch.chdir(tmp_path)
    overrides = ["training.epochs=1"]
    experiment = load_experiment(config, overrides=overrides)
    job = sweep_job("exp/grid.yaml", experiment, store="exp/results", overrides=overrides, rerun=True)
    assert job.entrypoint.split() == [
        "python", "-m", "orchestrator.cli", "run", "grid.yaml", "--store", str(tmp_path / "exp" / "results"),
        "--set", "training.epochs=1", "--set", f"dataset.data_dir={tmp_path / 'data' / 'mnist'}", "--rerun",
    ]
    assert job.runtime_env["working_dir"] == str(config.parent)
    assert [Path(p).name for p in job.runtime_env["py_modules"]] == ["orchestrator", "cluster", "trainers"]
    assert {".git", "__pycache__", "orch-results", "/results"} <= set(job.runtime_env["excludes"])
    assert job.metadata["orch_sweep"] == "grid"


# A builder that only runs from a copy Ray shipped (a runtime environment's directory), never
# from the directory it was written in: as on a cluster whose nodes do not have that directory.
_SHIPPED_ONLY = '''import keras


def build(params, input_shape, num_classes):
    if "runtime_resources" not in __file__:
        raise RuntimeError(f"imported from {__file__}, not from a copy Ray shipped")
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Dense(params["units"], activation="relu")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))
'''


def test_a_user_model_from_a_local_directory_runs_on_both_nodes(cluster, tmp_path, capsys):
    user = tmp_path / "user"
    user.mkdir()
    (user / "shipped_model.py").write_text(_SHIPPED_ONLY)
    (user / "exp.yaml").write_text(
        "dataset:\n  name: mnist_sample\nmodel:\n  builder: shipped_model.py:build\n  params: {units: 16}\n"
        "training:\n  epochs: 1\n  batch_size: 512\nresources:\n  trainers: 2\n"
        "sweep:\n  grid:\n    model.params.units: [8, 16]\n"
    )
    store_dir = tmp_path / "store"
    common = [str(user / "exp.yaml"), "--store", str(store_dir)]
    assert main(["run", *common, "--address", cluster.address, "--name", "by-address"]) == 0
    capsys.readouterr()
    assert main(["submit", *common, "--address", cluster.dashboard, "--name", "by-job"]) == 0
    job_id = capsys.readouterr().out.strip()
    assert main(["jobs", "logs", job_id, "--address", cluster.dashboard, "--follow"]) == 0
    for sweep in ("by-address", "by-job"):
        rows = _stored(store_dir, sweep)
        assert sorted(r["model_units"] for r in rows) == [8, 16] and all(r["status"] == "completed" for r in rows), rows
        alive = {n.node_id for n in cluster.nodes if n.process.poll() is None}  # a lost-node test killed one
        assert {r["node_id"] for r in rows} == alive


def test_a_job_refuses_a_builder_outside_its_uploaded_directory(tmp_path):
    from cluster.jobs import sweep_job
    from orchestrator.config import load_experiment
    from orchestrator.errors import InputError

    (tmp_path / "models.py").write_text("def build(params, input_shape, num_classes):\n    pass\n")
    config = tmp_path / "exp" / "grid.yaml"
    config.parent.mkdir()
    config.write_text("model:\n  builder: ../models.py:build\n")
    with pytest.raises(InputError, match="is outside .*exp, the directory uploaded for the job; move the builder"):
        sweep_job(config, load_experiment(config), store=str(tmp_path / "store"))
