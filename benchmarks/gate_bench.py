"""The whole `tinyqa gate` command against its engine, measured side by side in one run.

core_en against a loopback OpenAI-compatible server answering in 300 ms (concurrency 16):
the engine's own time (ask + score, in process) against the wall time of the whole command
(interpreter start, imports, Prefect, drift, reports, JUnit) with
  - a cold PREFECT_HOME (a new empty folder: the ephemeral API migrates its database),
  - a warm PREFECT_HOME (the same folder again),
  - a running `prefect server` (PREFECT_API_URL set).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from qa_bench import LATENCY, fixed_latency_server  # noqa: E402

from tinyqa.models import llm  # noqa: E402
from tinyqa.pack import resolve_packs  # noqa: E402
from tinyqa.suites import qa  # noqa: E402
from tinyqa.suites.templates import load_template  # noqa: E402

BIN = Path(sys.executable).parent


def gate_wall(url: str, env: dict, work: Path) -> float:
    t0 = time.perf_counter()
    res = subprocess.run([str(BIN / "tinyqa"), "gate", "--model", "openai/bench", "--api-base", url,
                          "--packs", "core_en", "--tokenizer", "local", "--no-cache",
                          "--reports", str(work / "reports"), "--junit", str(work / "junit.xml")],
                         env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    assert res.returncode in (0, 1), res.stderr[-2000:]
    return wall


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="tinyqa-gate-bench-"))
    base_env = dict(os.environ, TINYQA_CACHE_DIR=str(work / "cache"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    base_env.pop("PREFECT_API_URL", None)
    with fixed_latency_server(LATENCY) as url:
        pack, tmpl = resolve_packs("core_en"), load_template()
        t = llm.target("openai/bench", url)
        qa.ask("warm", pack, t, tmpl, use_cache=False)
        t0 = time.perf_counter()
        qa.ask("bench", pack, t, tmpl, use_cache=False)
        engine = time.perf_counter() - t0
        home = work / "prefect-home"
        env = dict(base_env, PREFECT_HOME=str(home))
        cold = gate_wall(url, env, work)
        warm = min(gate_wall(url, env, work) for _ in range(2))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env_srv = dict(env, PREFECT_API_URL=f"http://127.0.0.1:{port}/api")
        server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                  env=env_srv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(120):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.5)
            gate_wall(url, env_srv, work)
            served = min(gate_wall(url, env_srv, work) for _ in range(2))
        finally:
            server.terminate()
            server.wait()
    print(f"engine (ask + score core_en, 300 ms server): {engine:.2f} s")
    print(f"gate command, cold PREFECT_HOME:  {cold:.2f} s  (engine + {cold - engine:.2f} s; target: within 15 s)")
    print(f"gate command, warm PREFECT_HOME:  {warm:.2f} s  (engine + {warm - engine:.2f} s; target: within 4 s)")
    print(f"gate command, running server:     {served:.2f} s  (engine + {served - engine:.2f} s)")


if __name__ == "__main__":
    main()
