"""Real Prefect parts: a `prefect server` on loopback, a process work pool and worker, the
deployments of prefect.yaml, and the nightly deployment run to completion writing reports."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyarrow.dataset as ds
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prefect(env, *args, timeout=180):
    res = subprocess.run([str(BIN / "prefect"), *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=timeout)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return res.stdout


@pytest.fixture(scope="module")
def server_env(tmp_path_factory):
    """A real `prefect server start` on loopback, and the environment that reports to it."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = _port()
    env = dict(os.environ, PREFECT_HOME=str(home / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_API_URL=f"http://127.0.0.1:{port}/api", TINYQA_CACHE_DIR=str(home / "cache"),
               PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "prefect server did not start"
                time.sleep(0.5)
        yield env
    finally:
        os.killpg(server.pid, 15)
        server.wait(30)


def test_provider_limit_on_the_server_throttles_every_request(server_env, mini_pack, tmp_path):
    """`prefect gcl create tinyqa-<host>-<port> --limit 1`: one request at a time reaches that
    provider, whatever --concurrency says; without the limit, they overlap."""
    from fakeserver import ScriptedServer

    def run(srv, name):
        res = subprocess.run(["tinyqa", "run", "--model", "openai/x", "--api-base", srv.url, "--packs", str(mini_pack),
                              "--concurrency", "4", "--no-cache", "--reports", str(tmp_path / name)],
                             env=server_env, capture_output=True, text=True, timeout=180)
        assert res.returncode == 0, res.stderr[-2000:]

    with ScriptedServer(lambda q, n: "Paris", latency=0.3) as srv:
        run(srv, "free")
        assert srv.max_in_flight == 4
        host_port = srv.url.split("//")[1].split("/")[0]
        name = "tinyqa-" + host_port.replace(".", "-").replace(":", "-")
        prefect(server_env, "global-concurrency-limit", "create", name, "--limit", "1")
        srv.max_in_flight = 0
        run(srv, "limited")
        assert srv.max_in_flight == 1
        # With a slot decay it is a rate limit: 2 requests a second, whatever their latency.
        prefect(server_env, "global-concurrency-limit", "update", name, "--slot-decay-per-second", "2")
        srv.latency, first = 0.0, len(srv.requests)
        run(srv, "rate")
        starts = [r["t"] for r in srv.requests[first:]]
        assert len(starts) == 4 and starts[-1] - starts[0] >= 1.2, starts
    assert sum(srv.asked.values()) == 12


def test_nightly_deployment_runs_through_a_worker(server_env, tmp_path):
    env = server_env
    worker = None
    try:
        prefect(env, "work-pool", "create", "cpu", "--type", "process")
        prefect(env, "work-pool", "create", "gpu", "--type", "process")
        prefect(env, "--no-prompt", "deploy", "--all")
        listed = prefect(env, "deployment", "ls")
        for name in ("nightly/nightly", "gate/gate", "smoke/smoke", "lmeval"):
            assert name in listed
        reports = tmp_path / "reports"
        params = {"models": ["local"], "packs": ["core_en"], "reports": str(reports), "site": str(tmp_path / "site")}
        worker = subprocess.Popen([str(BIN / "prefect"), "worker", "start", "--pool", "cpu"],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        out = prefect(env, "deployment", "run", "nightly/nightly", "--params", json.dumps(params),
                      "--watch", "--watch-timeout", "500", timeout=560)
        assert "Completed" in out or "COMPLETED" in out, out[-2000:]
        runs = ds.dataset(reports / "runs", partitioning="hive").to_table().to_pylist()
        assert any(r["model"] == "local" and r["pack_ids"] == ["core_en"] and r["status"] == "complete" for r in runs)
        assert (tmp_path / "site" / "index.html").is_file()
    finally:
        if worker and worker.poll() is None:
            os.killpg(worker.pid, 15)
            worker.wait(30)
