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


def test_nightly_deployment_runs_through_a_worker(tmp_path):
    port = _port()
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_API_URL=f"http://127.0.0.1:{port}/api", TINYQA_CACHE_DIR=str(tmp_path / "cache"),
               PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    worker = None
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "prefect server did not start"
                time.sleep(0.5)
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
        for proc in (worker, server):
            if proc and proc.poll() is None:
                os.killpg(proc.pid, 15)
                proc.wait(30)
