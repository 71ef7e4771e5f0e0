"""Tiny QA engine throughput, measured side by side in one run.

(a) core_en (52 items) at concurrency 16 against a loopback OpenAI-compatible server answering
    in a fixed 300 ms: tinyqa's engine wall time against the physical limit
    latency x ceil(52 / concurrency);
(b) the same items as a plain sequential loop of litellm.completion calls (the TQB++ approach);
(c) items/s on the embedded model: tinyqa (llama.cpp's server through LiteLLM) against a bare
    llama-cpp-python loop over the same prompts and decoding parameters.
"""
from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from tinyqa import offline

offline.apply()   # first: LiteLLM's offline cost map, before anything imports LiteLLM
import litellm

from tinyqa.models import llm, local
from tinyqa.pack import resolve_packs
from tinyqa.suites import qa
from tinyqa.suites.templates import load_template

FAKESERVER = Path(__file__).resolve().parent.parent / "tests" / "fakeserver.py"

LATENCY, CONCURRENCY = 0.300, 16


def loopback() -> None:
    pack = resolve_packs("core_en")
    items = pack[0].items
    tmpl = load_template()
    with fixed_latency_server(LATENCY) as url:
        t = llm.target("openai/bench", url)
        qa.ask("warm", pack, t, tmpl, concurrency=CONCURRENCY, use_cache=False)
        t0 = time.perf_counter()
        rows = qa.ask("bench", pack, t, tmpl, concurrency=CONCURRENCY, use_cache=False)
        engine = time.perf_counter() - t0
        assert len(rows) == len(items) and not any(r["error"] for r in rows)
        t0 = time.perf_counter()
        for item in items:
            litellm.completion(model=t.model, api_base=t.api_base, api_key="no-key",
                               messages=tmpl.messages(item.text, item.lang), **llm.PARAMS)
        sequential = time.perf_counter() - t0
    limit = LATENCY * math.ceil(len(items) / CONCURRENCY)
    print(f"(a) {len(items)} items, {LATENCY * 1000:.0f} ms server, concurrency {CONCURRENCY}: "
          f"engine {engine:.3f} s, physical limit {limit:.3f} s, ratio {engine / limit:.2f}x (target <= 1.3x)")
    print(f"(b) sequential litellm.completion loop: {sequential:.3f} s, "
          f"{sequential / engine:.1f}x slower than the engine (target >= 8x)")


@contextlib.contextmanager
def fixed_latency_server(latency: float):
    """The scripted server in its own process, so that it does not share tinyqa's GIL."""
    proc = subprocess.Popen([sys.executable, str(FAKESERVER), str(latency)], stdout=subprocess.PIPE, text=True)
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait()


def embedded() -> None:
    from llama_cpp import Llama

    from tinyqa.models.llama_server import disable_extra_buffer_types

    disable_extra_buffer_types()   # as the server does

    pack = resolve_packs("core_en")
    items = pack[0].items
    tmpl = load_template()
    with local.serve() as base:
        t = llm.target("local", base)
        qa.ask("warm", [pack[0].model_copy(update={"items": items[:2]})], t, tmpl, use_cache=False)
        t0 = time.perf_counter()
        rows = qa.ask("bench", pack, t, tmpl, use_cache=False)
        ours = time.perf_counter() - t0
    check_baseline(rows)
    tokens_ours = sum(r["completion_tokens"] or 0 for r in rows)
    cores = len(os.sched_getaffinity(0))   # the bare loop gets the best of two settings, each measured
    bare = {}
    for n in sorted({max(1, cores - 1), cores}):
        model = Llama(str(local.gguf_path()), n_ctx=2048, n_threads=n, n_threads_batch=n, seed=0, verbose=False)
        model.create_chat_completion(messages=tmpl.messages(items[0].text), **_bare_params())
        t0 = time.perf_counter()
        tokens_bare = 0
        for item in items:
            out = model.create_chat_completion(messages=tmpl.messages(item.text, item.lang), **_bare_params())
            tokens_bare += out["usage"]["completion_tokens"]
        bare[n] = time.perf_counter() - t0
        del model
    best = min(bare, key=bare.get)
    print(f"(c) embedded model, {len(items)} items: tinyqa {len(items) / ours:.2f} items/s "
          f"({tokens_ours} tokens), bare llama-cpp-python loop "
          f"{', '.join(f'{len(items) / s:.2f} items/s on {n} threads' for n, s in bare.items())} "
          f"({tokens_bare} tokens); tinyqa at {bare[best] / ours:.0%} of the best bare loop (target >= 80%)")


def check_baseline(rows: list[dict]) -> None:
    """The answers are those packs/baselines holds for the embedded model."""
    import json

    base = json.loads((Path(__file__).resolve().parent.parent / "packs" / "baselines" / "qa-local-core_en.json")
                      .read_text())["items"]
    same = sum(base.get(f"{r['pack_id']}/{r['item_id']}", {}).get("prediction") == r["prediction"] for r in rows)
    contains = sum(bool(r["contains"]) for r in rows) / len(rows)
    print(f"(c) answers as in packs/baselines/qa-local-core_en.json: {same}/{len(rows)}; contains {contains:.0%}")


def _bare_params() -> dict:
    # llama.cpp's server defaults repeat_penalty to 1.1 (the library to 1.0): same decoding both ways.
    return {"temperature": llm.PARAMS["temperature"], "seed": llm.PARAMS["seed"],
            "max_tokens": llm.PARAMS["max_tokens"], "repeat_penalty": 1.1}


if __name__ == "__main__":
    parts = sys.argv[1:] or ["loopback", "embedded"]   # e.g. `qa_bench.py embedded` for (c) alone
    for part in parts:
        {"loopback": loopback, "embedded": embedded}[part]()
