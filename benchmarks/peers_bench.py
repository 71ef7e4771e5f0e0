"""tinyqa against its peers, side by side in one run: tinyqa, promptfoo and inspect-ai ask the
same items (the same chat messages, the same decoding parameters) of the same loopback
OpenAI-compatible server, which answers every request after 300 ms; 16 requests in flight for
every tool; each tool a cold command (no warm worker for tinyqa, no Prefect API configured).

Two sizes: core_en (52 items) and every shipped pack (616 items). Interleaved rounds: each round
runs each tool once, in an order that rotates from round to round. Measured: the whole command's
wall time (start to exit) and its time to the first request (the server notes the arrival of
each request on the system's monotonic clock, which the bench shares). Printed: the medians
and the ratios tinyqa / inspect-ai and tinyqa / promptfoo.

The peers install themselves on the first run, outside the project's venv:
promptfoo from npm into benchmarks/.peers/node, inspect-ai from pip into its own venv
benchmarks/.peers/inspect-venv (both gitignored).

    .venv/bin/python benchmarks/peers_bench.py [--rounds 3] [--sizes 52,616] [--tools tinyqa,promptfoo,inspect-ai]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "benchmarks" / ".peers"
NODE_DIR, INSPECT_VENV = PEERS / "node", PEERS / "inspect-venv"
PROMPTFOO = NODE_DIR / "node_modules" / ".bin" / "promptfoo"
INSPECT = INSPECT_VENV / "bin" / "inspect"
sys.path.insert(0, str(ROOT / "tests"))
from fakeserver import ScriptedServer  # noqa: E402

LATENCY, CONCURRENCY = 0.300, 16
# tinyqa's decoding parameters (models/llm.py PARAMS), sent by every tool.
TEMPERATURE, SEED, MAX_TOKENS = 0.0, 1234, 48


def install() -> None:
    """The peers, each where it does not touch the project's venv; nothing if present."""
    if not PROMPTFOO.exists():
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        if not (NODE_DIR / "package.json").exists():
            (NODE_DIR / "package.json").write_text('{"name": "tinyqa-peers", "private": true}\n')
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "promptfoo"], cwd=NODE_DIR, check=True)
    if not INSPECT.exists():
        subprocess.run([sys.executable, "-m", "venv", str(INSPECT_VENV)], check=True)
        subprocess.run([str(INSPECT_VENV / "bin" / "pip"), "install", "-q", "inspect-ai", "openai"], check=True)


def version(tool: str) -> str:
    if tool == "promptfoo":
        return json.loads((NODE_DIR / "node_modules" / "promptfoo" / "package.json").read_text())["version"]
    if tool == "inspect-ai":
        out = subprocess.run([str(INSPECT_VENV / "bin" / "python"), "-c",
                              "import importlib.metadata as m; print(m.version('inspect-ai'))"],
                             capture_output=True, text=True)
        return out.stdout.strip()
    from tinyqa import __version__
    return __version__


def items(pack_ids: list[str]) -> list[dict]:
    """Every item of `pack_ids` as the chat messages tinyqa sends (its default template)."""
    from tinyqa.pack import resolve_packs
    from tinyqa.suites.templates import load_template

    tmpl = load_template()
    return [{"id": f"{p.id}/{i.id}", "messages": tmpl.messages(i.text, i.lang), "answers": list(i.answers)}
            for p in resolve_packs(pack_ids) for i in p.items]


def write_peer_inputs(work: Path, rows: list[dict], url: str) -> None:
    """promptfoo's config and tests, inspect-ai's task and dataset, for `rows`."""
    (work / "prompt.js").write_text(
        "module.exports = ({ vars }) => JSON.stringify(vars.messages);\n")
    tests = [{"vars": {"messages": r["messages"]},
              "assert": [{"type": "icontains-any", "value": r["answers"]}]} for r in rows]
    (work / "tests.json").write_text(json.dumps(tests, ensure_ascii=False))
    (work / "promptfooconfig.yaml").write_text(json.dumps({
        "description": "tinyqa peers bench",
        "prompts": ["file://prompt.js"],
        "providers": [{"id": "openai:chat:bench", "config": {
            "apiBaseUrl": url, "apiKey": "no-key", "temperature": TEMPERATURE, "seed": SEED,
            "max_tokens": MAX_TOKENS}}],
        "tests": "file://tests.json",
    }, ensure_ascii=False))
    (work / "samples.json").write_text(json.dumps(rows, ensure_ascii=False))
    (work / "peers_task.py").write_text(f'''
import json
from pathlib import Path

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser, GenerateConfig
from inspect_ai.scorer import includes
from inspect_ai.solver import generate

KINDS = {{"system": ChatMessageSystem, "user": ChatMessageUser}}


@task
def tinyqa_items():
    rows = json.loads((Path(__file__).parent / "samples.json").read_text())
    return Task(
        dataset=[Sample(id=r["id"], input=[KINDS[m["role"]](content=m["content"]) for m in r["messages"]],
                        target=r["answers"]) for r in rows],
        solver=generate(), scorer=includes(),
        config=GenerateConfig(temperature={TEMPERATURE}, seed={SEED}, max_tokens={MAX_TOKENS},
                              max_connections={CONCURRENCY}),
    )
''')


def commands(tool: str, work: Path, url: str, pack_ids: list[str]) -> tuple[list[str], dict]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_", "TINYQA_", "INSPECT_", "PROMPTFOO_")) and k != "CI"}
    env |= {"HOME": str(work / "home"), "OPENAI_API_KEY": "no-key"}
    if tool == "tinyqa":
        return ([str(Path(sys.executable).parent / "tinyqa"), "run", "--model", "openai/bench", "--api-base", url,
                 "--packs", ",".join(pack_ids), "--no-cache", "--concurrency", str(CONCURRENCY),
                 "--reports", str(work / "reports")],
                env | {"TINYQA_WORKER": "0", "TINYQA_CACHE_DIR": str(work / "tinyqa-cache")})
    if tool == "promptfoo":
        return ([str(PROMPTFOO), "eval", "-c", str(work / "promptfooconfig.yaml"), "--max-concurrency",
                 str(CONCURRENCY), "--no-cache", "--no-progress-bar", "--no-table"],
                env | {"PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1",
                       "PROMPTFOO_CONFIG_DIR": str(work / "promptfoo")})
    if tool == "inspect-ai":
        return ([str(INSPECT), "eval", "peers_task.py", "--model", "openai/bench",
                 "--model-base-url", url, "-M", "responses_api=false", "--max-connections", str(CONCURRENCY), "--display", "none",
                 "--log-dir", str(work / "inspect-logs"), "--no-fail-on-error"],
                env | {"INSPECT_DISPLAY": "none"})
    raise ValueError(tool)


def once(tool: str, work: Path, srv: ScriptedServer, pack_ids: list[str], n: int) -> tuple[float, float]:
    """One cold command: (whole command, first request), seconds from its start."""
    cmd, env = commands(tool, work, srv.url, pack_ids)
    srv.requests.clear()
    start = time.monotonic()
    res = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True)
    whole = time.monotonic() - start
    if res.returncode != 0 and not (tool == "promptfoo" and res.returncode == 100):   # 100: a check failed
        raise SystemExit(f"{tool} failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    asked = len(srv.requests)
    if asked < n:
        raise SystemExit(f"{tool} sent {asked} requests for {n} items")
    return whole, srv.requests[0]["t"] - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", default="52,616", help="52 (core_en) and/or 616 (every shipped pack)")
    ap.add_argument("--tools", default="tinyqa,promptfoo,inspect-ai")
    args = ap.parse_args()
    tools = args.tools.split(",")
    install()
    from tinyqa.pack import shipped_ids

    sizes = {"52": ["core_en"], "616": shipped_ids()}
    print(f"peers: {', '.join(f'{t} {version(t)}' for t in tools)}; {len(os.sched_getaffinity(0))} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    gold: dict[str, str] = {}   # the server answers each question with its label: every check passes
    with ScriptedServer(lambda q, n: gold.get(q, "Paris"), latency=LATENCY) as srv:
        for size in args.sizes.split(","):
            pack_ids = sizes[size]
            rows = items(pack_ids)
            gold.update((r["messages"][-1]["content"], r["answers"][0]) for r in rows)
            results: dict[str, list[tuple[float, float]]] = {t: [] for t in tools}
            with tempfile.TemporaryDirectory(prefix="tinyqa-peers-") as tmp:
                work = Path(tmp)
                (work / "home").mkdir()
                write_peer_inputs(work, rows, srv.url)
                for tool in tools:                      # warm the disk cache; not counted
                    once(tool, work, srv, pack_ids, len(rows))
                for r in range(args.rounds):
                    order = tools[r % len(tools):] + tools[:r % len(tools)]
                    for tool in order:
                        results[tool].append(once(tool, work, srv, pack_ids, len(rows)))
                shutil.rmtree(work / "home", ignore_errors=True)
            limit = LATENCY * -(-len(rows) // CONCURRENCY)
            print(f"\n{len(rows)} items ({', '.join(pack_ids) if len(pack_ids) < 3 else f'{len(pack_ids)} packs'}), "
                  f"{LATENCY * 1000:.0f} ms a request, {CONCURRENCY} in flight (latency bound {limit:.1f} s), "
                  f"median of {args.rounds} interleaved rounds")
            print(f"{'tool':<11} {'whole command':>14} {'first request':>14}   runs (whole)")
            med = {}
            for tool in tools:
                whole = statistics.median(w for w, _ in results[tool])
                first = statistics.median(f for _, f in results[tool])
                med[tool] = (whole, first)
                runs = " ".join(f"{w:.2f}" for w, _ in results[tool])
                print(f"{tool:<11} {whole:13.2f}s {first:13.2f}s   {runs}")
            if "tinyqa" in med:
                for peer in (t for t in tools if t != "tinyqa"):
                    print(f"tinyqa / {peer:<10} whole {med['tinyqa'][0] / med[peer][0]:.2f}x, "
                          f"first request {med['tinyqa'][1] / med[peer][1]:.2f}x")


if __name__ == "__main__":
    main()
