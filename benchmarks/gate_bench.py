"""The whole `tinyqa gate` command against its engine, measured side by side in one run.

core_en against a loopback OpenAI-compatible server answering in 300 ms (concurrency 16):
  - the engine's own time: ask + score core_en in a warm process (no imports, no Prefect);
  - the engine as a command: a new interpreter that imports LiteLLM and tinyqa's engine, asks
    and scores core_en once (what any LiteLLM-based script pays, before any orchestration);
  - the whole `tinyqa gate` command (interpreter, imports, Prefect API and flow runs, drift,
    reports, JUnit) with a cold PREFECT_HOME (a new folder: the API migrates a new database),
    a warm one (the same folder again), and a running `prefect server` (PREFECT_API_URL set).
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

from tinyqa import offline

offline.apply()   # first: LiteLLM's offline cost map, before anything imports LiteLLM
from tinyqa.models import llm  # noqa: E402
from tinyqa.pack import resolve_packs  # noqa: E402
from tinyqa.suites import qa  # noqa: E402
from tinyqa.suites.templates import load_template  # noqa: E402

BIN = Path(sys.executable).parent


ENGINE_COMMAND = """
import sys
from tinyqa.models import llm
from tinyqa.pack import resolve_packs
from tinyqa.suites import qa
from tinyqa.suites.templates import load_template
rows = qa.ask("bench", resolve_packs("core_en"), llm.target("openai/bench", sys.argv[1]), load_template(), use_cache=False)
assert not any(r["error"] for r in rows)
qa.metrics("bench", rows)
"""


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    assert res.returncode in (0, 1), res.stderr[-2000:]
    return wall


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="tinyqa-gate-bench-"))
    base_env = dict(os.environ, TINYQA_CACHE_DIR=str(work / "cache"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    base_env.pop("PREFECT_API_URL", None)
    with fixed_latency_server(LATENCY) as url:
        gate = [str(BIN / "tinyqa"), "gate", "--model", "openai/bench", "--api-base", url, "--packs", "core_en",
                "--tokenizer", "local", "--no-cache", "--reports", str(work / "reports"),
                "--junit", str(work / "junit.xml")]
        pack, tmpl = resolve_packs("core_en"), load_template()
        t = llm.target("openai/bench", url)
        qa.ask("warm", pack, t, tmpl, use_cache=False)
        t0 = time.perf_counter()
        qa.ask("bench", pack, t, tmpl, use_cache=False)
        engine = time.perf_counter() - t0
        engine_cmd = min(timed([sys.executable, "-c", ENGINE_COMMAND, url], base_env) for _ in range(2))
        env = dict(base_env, PREFECT_HOME=str(work / "prefect-home"))
        cold = timed(gate, env)
        warm = min(timed(gate, env) for _ in range(3))
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
            timed(gate, env_srv)
            served = min(timed(gate, env_srv) for _ in range(3))
        finally:
            server.terminate()
            server.wait()
    print(f"engine, warm process (ask + score core_en, 300 ms server): {engine:.2f} s")
    print(f"engine as a command (new interpreter, imports, ask + score): {engine_cmd:.2f} s")
    for name, wall, target in (("cold PREFECT_HOME", cold, 15), ("warm PREFECT_HOME", warm, 4),
                               ("running server", served, None)):
        goal = f"; target: within {target} s of the engine" if target else ""
        print(f"gate command, {name + ':':19s} {wall:5.2f} s  (engine + {wall - engine:.2f} s{goal}; "
              f"engine command + {wall - engine_cmd:.2f} s)")


if __name__ == "__main__":
    main()
