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
        for name in ("nightly/nightly", "gate/gate", "smoke/smoke", "lmeval", "validate-packs/validate-packs"):
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
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:   # SIGTERM not honoured: the whole group goes
                os.killpg(worker.pid, 9)
                worker.wait(30)


def _servers_of(home: Path) -> list[int]:
    """Processes whose environment names this PREFECT_HOME (the API servers started for it)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and f"PREFECT_HOME={home}".encode() in (proc / "environ").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def test_a_command_without_a_server_runs_in_process_and_with_prefect_runs_its_own(mini_pack, tmp_path):
    """No API configured: `tinyqa run` runs in process, without importing Prefect or starting
    a server, and writes its reports. With --prefect: the command's temporary server records
    the run in PREFECT_HOME's database, and neither a run nor an input error leaves it behind."""
    import sqlite3

    from fakeserver import ScriptedServer

    home = tmp_path / "prefect"
    env = dict(os.environ, PREFECT_HOME=str(home), TINYQA_CACHE_DIR=str(tmp_path / "cache"),
               PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", TINYQA_PROFILE="1")
    env.pop("PREFECT_API_URL", None)
    with ScriptedServer(lambda q, n: "Paris") as srv:
        run = ["tinyqa", "run", "--model", "openai/x", "--api-base", srv.url, "--packs", str(mini_pack)]
        plain = subprocess.run([*run, "--reports", str(tmp_path / "plain")], env=env, capture_output=True, text=True,
                               timeout=180)
        assert plain.returncode == 0, plain.stderr
        assert "tinyqa profile: imported: prefect no, litellm yes" in plain.stderr
        assert len(ds.dataset(tmp_path / "plain" / "runs", partitioning="hive").to_table()) == 1
        assert not (home / "prefect.db").exists() and _servers_of(home) == []
        ok = subprocess.run([*run, "--reports", str(tmp_path / "r"), "--prefect"], env=env, capture_output=True,
                            text=True, timeout=180)
    bad = subprocess.run(["tinyqa", "run", "--model", "nope", "--packs", str(mini_pack), "--prefect"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and bad.returncode == 2, ok.stderr + bad.stderr
    assert "imported: prefect yes" in ok.stderr
    with sqlite3.connect(home / "prefect.db") as db:
        assert db.execute("select count(*) from flow_run where state_type = 'COMPLETED'").fetchone()[0] == 1
    assert _servers_of(home) == []   # stopped before the command returned


def test_a_server_named_by_the_profile_is_used(server_env, mini_pack, tmp_path):
    """PREFECT_API_URL set in the active profile, not the environment: the run goes to that server."""
    from fakeserver import ScriptedServer

    env = dict(server_env, PREFECT_HOME=str(tmp_path / "home"))
    url = env.pop("PREFECT_API_URL")
    prefect(env, "config", "set", f"PREFECT_API_URL={url}")
    def flow_runs() -> int:
        return json.loads(urllib.request.urlopen(urllib.request.Request(
            f"{url}/flow_runs/count", data=b"{}", headers={"Content-Type": "application/json"})).read())

    before = flow_runs()
    with ScriptedServer(lambda q, n: "Paris") as srv:
        res = subprocess.run(["tinyqa", "run", "--model", "openai/x", "--api-base", srv.url, "--packs", str(mini_pack),
                              "--reports", str(tmp_path / "r")], env=env, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr
    assert flow_runs() == before + 1
    assert not (tmp_path / "home" / "prefect.db").exists()      # no temporary server of its own


def test_with_an_api_in_the_environment_the_run_is_a_flow_run_on_it(server_env, mini_pack, tmp_path):
    """PREFECT_API_URL set: `tinyqa run` is a `qa-run` flow run on that server, and `tinyqa gate`
    a `gate` flow run, as the deployments' are."""
    from fakeserver import ScriptedServer

    url = server_env["PREFECT_API_URL"]

    def flow_runs(name: str) -> int:
        body = json.dumps({"flows": {"name": {"any_": [name]}}}).encode()
        return json.loads(urllib.request.urlopen(urllib.request.Request(
            f"{url}/flow_runs/count", data=body, headers={"Content-Type": "application/json"})).read())

    before = flow_runs("qa-run"), flow_runs("gate")
    env = dict(server_env, TINYQA_PROFILE="1")
    with ScriptedServer(lambda q, n: "Paris") as srv:
        for command in ("run", "gate"):
            res = subprocess.run(["tinyqa", command, "--model", "openai/x", "--api-base", srv.url, "--packs",
                                  str(mini_pack), "--reports", str(tmp_path / "r")], env=env, capture_output=True,
                                 text=True, timeout=180)
            assert res.returncode in (0, 1), res.stderr[-2000:]
            assert "imported: prefect yes" in res.stderr
    assert (flow_runs("qa-run"), flow_runs("gate")) == (before[0] + 1, before[1] + 1)
