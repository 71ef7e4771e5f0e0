"""Start-up, side by side in one run: `tinyqa run` on core_en against a loopback server
answering in 300 ms, cold (a new process imports LiteLLM and Prefect and starts its Prefect
API) and warm (the next command served by the warm worker, tinyqa/worker.py). Reported from
TINYQA_PROFILE: the time from the process's start to its first request, and to its exit;
medians of interleaved rounds (PREFECT_HOME warm in both)."""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from qa_bench import LATENCY, fixed_latency_server  # noqa: E402

ROUNDS = 3


def profile(cmd: list[str], env: dict) -> dict[str, float]:
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    marks = {}
    for line in res.stderr.splitlines():
        if line.startswith("tinyqa profile: "):
            *name, value, _unit = line.removeprefix("tinyqa profile: ").split()
            marks[" ".join(name)] = float(value)
    return marks


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="tinyqa-startup-bench-"))
    env = dict(os.environ, TINYQA_CACHE_DIR=str(work / "cache"), PREFECT_HOME=str(work / "prefect"),
               TINYQA_PROFILE="1", TINYQA_WORKER_IDLE="120")
    env.pop("PREFECT_API_URL", None)
    env.pop("CI", None)
    results: dict[str, list[dict]] = {"cold": [], "warm": []}
    with fixed_latency_server(LATENCY) as url:
        cmd = [str(Path(sys.executable).parent / "tinyqa"), "run", "--model", "openai/bench", "--api-base", url,
               "--packs", "core_en", "--no-cache", "--reports", str(work / "reports")]
        profile(cmd, env | {"TINYQA_WORKER": "0"})          # warm PREFECT_HOME (its database migrated)
        profile(cmd, env | {"TINYQA_WORKER": "1"})          # starts the worker on its way out
        time.sleep(15)                                      # the worker warms up
        for _ in range(ROUNDS):
            results["cold"].append(profile(cmd, env | {"TINYQA_WORKER": "0"}))
            results["warm"].append(profile(cmd, env | {"TINYQA_WORKER": "1"}))
            assert "served by the warm worker" in results["warm"][-1], "the worker did not serve the command"
    subprocess.run(["pkill", "-f", "tinyqa.worker"], check=False)
    print(f"tinyqa run, core_en (52 items), {LATENCY * 1000:.0f} ms a request, 16 in flight, "
          f"median of {ROUNDS} interleaved rounds, {len(os.sched_getaffinity(0))} cores")
    print(f"{'':6} {'first request':>14} {'whole command':>14}")
    for kind, runs in results.items():
        first = statistics.median(r["first request"] for r in runs)
        whole = statistics.median(r["exit"] for r in runs)
        print(f"{kind:6} {first:13.2f}s {whole:13.2f}s")
    cold, warm = (statistics.median(r["first request"] for r in results[k]) for k in ("cold", "warm"))
    print(f"warm / cold, first request: {warm / cold:.2f}")


if __name__ == "__main__":
    main()
