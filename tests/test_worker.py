"""The warm worker (tinyqa/worker.py): the next command reuses it, with its own environment
and keys, on its own terminal, with its own exit code; the worker keeps no key, serves only
the code it imported, leaves when idle with nothing left running, and its Prefect API takes
only its own credential."""
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import GOLD, processes_of
from fakeserver import ScriptedServer

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def no_worker_left(cli_env):
    """A test that fails half-way leaves no worker to the next."""
    yield
    for pid in workers(cli_env):
        os.kill(pid, 15)


def workers(env) -> list[int]:
    return [pid for pid in processes_of(env)
            if b"tinyqa.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def wait_for(condition, what: str, limit: float = 120):
    """Wait for a state (not a time): `limit` only ends a test that would otherwise hang."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_the_next_command_runs_warm_with_its_own_keys_and_exit_code(tinyqa_bin, cli_env, mini_pack, tmp_path):
    env = {k: v for k, v in cli_env.items() if k != "CI"} | {
        "TINYQA_WORKER": "1", "TINYQA_WORKER_IDLE": "15", "TINYQA_PROFILE": "1"}

    def tinyqa(key, *args):
        return subprocess.run([tinyqa_bin, *args], capture_output=True, text=True, timeout=300,
                              env=env | {"OPENAI_API_KEY": key}, cwd=tmp_path)

    with ScriptedServer(lambda q, n: "Marlowe" if "Hamlet" in q else GOLD[q]) as srv:
        base = ["run", "--model", "openai/x", "--api-base", srv.url, "--packs", str(mini_pack), "--no-cache",
                "--reports", str(tmp_path / "r")]
        cold = tinyqa("sk-first-0000000000", *base)
        assert cold.returncode == 0 and "served by the warm worker" not in cold.stderr, cold.stderr
        wait_for(lambda: workers(env), "no worker started after the first command")
        (pid,) = workers(env)

        warm = tinyqa("sk-second-111111111", *base)
        assert warm.returncode == 0, warm.stderr
        assert "served by the warm worker" in warm.stderr and "mini" in warm.stdout   # on its own terminal
        keys = [{k.lower(): v for k, v in r["headers"].items()}["authorization"] for r in srv.requests]
        assert keys == ["Bearer sk-first-0000000000"] * 4 + ["Bearer sk-second-111111111"] * 4

        floor = tinyqa("sk-third-2222222222", *base, "--min-em", "1.0")            # Hamlet is wrong: exit 1
        bad = tinyqa("sk-third-2222222222", "run", "--model", "openai/x", "--packs", "no_such_pack")
        assert "served by the warm worker" in floor.stderr and floor.returncode == 1
        assert bad.returncode == 2 and "unknown pack 'no_such_pack'" in bad.stderr and "Traceback" not in bad.stderr

        # A Prefect API the worker keeps takes its own credential only (another local user's request: 401).
        for api in [p for p in processes_of(env) if b"uvicorn" in Path(f"/proc/{p}/cmdline").read_bytes()]:
            assert b"PREFECT_SERVER_API_AUTH_STRING=tinyqa:" in Path(f"/proc/{api}/environ").read_bytes()
            argv = Path(f"/proc/{api}/cmdline").read_bytes().split(b"\0")
            port = int(argv[argv.index(b"--port") + 1])
            assert _status(f"http://127.0.0.1:{port}/api/flows/filter") == 401
            assert _status(f"http://127.0.0.1:{port}/api/health", post=False) == 200

        # The worker itself never held a key: not in its environment, not in its log.
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert b"OPENAI_API_KEY" not in environ and b"sk-" not in environ
        assert workers(env) == [pid]                       # one worker served them all
    wait_for(lambda: not processes_of(env), "the idle worker or its Prefect API is still running")
    logs = list(Path(env["TINYQA_CACHE_DIR"]).rglob("*.log")) + list(Path("/tmp").glob(f"tinyqa-{os.getuid()}/*.log"))
    assert not any(b"sk-" in p.read_bytes() for p in logs)


def _status(url: str, post: bool = True) -> int:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=b"{}" if post else None, method="POST" if post else "GET",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_off_unless_asked_and_in_ci(tinyqa_bin, cli_env, tmp_path):
    for extra in ({"CI": "true", "TINYQA_WORKER": "1"}, {"TINYQA_WORKER": "0"}, {}):
        env = {k: v for k, v in cli_env.items() if k != "TINYQA_WORKER"} | extra
        res = subprocess.run([tinyqa_bin, "run", "--model", "openai/x", "--packs", "no_such_pack"],
                             capture_output=True, text=True, env=env, timeout=120)
        assert res.returncode == 2 and workers(env) == []


def test_a_code_change_names_another_worker(tmp_path):
    from tinyqa import worker

    code = tmp_path / "flows"
    code.mkdir()
    (code / "qa.py").write_text("x = 1\n")
    before = worker.key([code])
    assert worker.key([code]) == before
    os.utime(code / "qa.py", ns=(0, 10**18))
    assert worker.key([code]) != before
    assert worker.key([code], {"PREFECT_HOME": "/elsewhere"}) != worker.key([code])
