"""Clusters started as a team starts them, on loopback, for the scale-out tests and the
benchmark: a Dask scheduler and workers as `dask` processes, a Ray head and a second node as
`ray start` processes, an S3-protocol server (moto_server). Each is a context manager that
stops what it started, and only that, by process id."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
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
