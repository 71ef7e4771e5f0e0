"""Clusters started as a team starts them, on loopback, for the scale-out tests and the
benchmark: a Dask scheduler and workers as `dask` processes, a Ray head and a second node as
`ray start` processes, an S3-protocol server (moto_server). Each is a context manager that
stops what it started, and only that, by process id."""
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
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before listening on {port}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")
        time.sleep(0.1)


def stop(procs: list[subprocess.Popen], grace: float = 30) -> None:
    """Stop each process, the newest first (workers before what they report to): SIGTERM, wait,
    then SIGKILL its process group (each was started in a session of its own), so that
    nothing it started is left."""
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def start(args: list[str], log: Path, **kw) -> subprocess.Popen:
    """A child in a session of its own (so that its children can be found and stopped with
    it), its output in `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, **kw)


@contextlib.contextmanager
def dask_cluster(workers: int, folder: Path, env: dict | None = None, threads: int = 1):
    """`dask scheduler` and `workers` × `dask worker` (a nanny and a worker process each, one
    thread) on loopback, started in `folder`; yields the scheduler's address (tcp://…)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    common = {"cwd": folder, "env": env}
    procs = [start([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                   folder / "scheduler.log", **common)]
    address = f"tcp://127.0.0.1:{port}"
    try:
        wait_port(port, procs[0])
        for i in range(workers):
            procs.append(start([str(BIN / "dask"), "worker", address, "--host", "127.0.0.1", "--name", f"w{i}",
                                "--nthreads", str(threads), "--no-dashboard",
                                "--local-directory", str(folder / f"w{i}")], folder / f"worker{i}.log", **common))
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)
        yield address
    finally:
        stop(procs)


@contextlib.contextmanager
def s3_server(folder: Path, env: dict):
    """moto's standalone S3-protocol server on loopback; yields its endpoint URL."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = start([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], folder / "moto.log", env=env)
    try:
        wait_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop([proc])


@contextlib.contextmanager
def ray_cluster(folder: Path, env: dict | None = None, nodes: int = 2, cpus: int = 1):
    """`ray start --head` and `nodes - 1` nodes joining it (`ray start --address`), each with
    `cpus` CPUs, on 127.0.0.1, in the foreground (`--block`: stopping the command stops the
    node's processes). Ray turns 127.0.0.1 into the machine's own address for a node that joins
    a cluster unless the machine has no other: run this in a network namespace of its own
    (tests/ray_netns.py). Yields the head's GCS address (HOST:PORT, for drivers), its client
    address (ray://HOST:PORT) and its dashboard (for the state API)."""
    folder.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))   # Ray's socket paths must stay short
    gcs, client, dashboard = free_port(), free_port(), free_port()
    common = ["--block", "--node-ip-address=127.0.0.1", f"--num-cpus={cpus}", "--object-store-memory=100000000",
              "--disable-usage-stats"]

    def node_ports():
        return [f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
                f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}"]

    procs = [start([str(BIN / "ray"), "start", "--head", f"--port={gcs}", f"--ray-client-server-port={client}",
                    "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
                    f"--temp-dir={temp}", *common, *node_ports()], folder / "head.log", env=env, cwd=folder)]
    try:
        wait_port(gcs, procs[0], timeout=120)
        for i in range(1, nodes):
            procs.append(start([str(BIN / "ray"), "start", f"--address=127.0.0.1:{gcs}", *common, *node_ports()],
                               folder / f"node{i}.log", env=env, cwd=folder))
        wait_port(client, procs[0], timeout=120)
        wait_port(dashboard, procs[0], timeout=120)
        from ray.util.state import list_nodes

        deadline = time.monotonic() + 120
        while len([n for n in _quiet(list_nodes, f"http://127.0.0.1:{dashboard}") if n.state == "ALIVE"]) < nodes:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"the Ray cluster did not get {nodes} nodes (logs in {folder})")
            time.sleep(0.5)
        yield f"127.0.0.1:{gcs}", f"ray://127.0.0.1:{client}", f"http://127.0.0.1:{dashboard}"
    finally:
        stop(procs)
        shutil.rmtree(temp, ignore_errors=True)


def _quiet(call, address: str, **kw) -> list:
    """A call of Ray's state API; nothing while the dashboard is not answering yet."""
    try:
        return call(address=address, raise_on_missing_output=False, **kw)
    except Exception:  # noqa: BLE001 - ray raises its own kinds while starting
        return []
