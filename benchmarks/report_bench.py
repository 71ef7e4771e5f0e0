"""Report store and dashboard at scale: write N synthetic runs of core_en (52 items each) into
a store, then time the dashboard build and a DuckDB aggregate over the store.

    .venv/bin/python benchmarks/report_bench.py [--runs 1000] [--store DIR] [--out DIR]

Runs are scored by the real suite code (tinyqa.suites.qa.item_row and metrics) from scripted
answers: three models whose skill drifts over time (one regresses for a stretch), with
lognormal latencies, token counts, and a cost for the priced one. Without --store the store
and the page go to a temporary folder that is removed afterwards.
"""
from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tinyqa import offline

offline.apply()   # first: LiteLLM's offline cost map, before anything imports LiteLLM
from tinyqa.models.llm import Answer  # noqa: E402
from tinyqa.pack import Pack, load_pack, shipped_dir  # noqa: E402
from tinyqa.reports import dashboard, store  # noqa: E402
from tinyqa.suites import qa  # noqa: E402

# model -> (skill at the start, skill change over the whole period, p50 latency s, USD per 1k tokens)
MODELS = {
    "openai/gpt-4o-mini": (0.88, -0.02, 0.55, 0.0006),
    "ollama/llama3": (0.62, 0.12, 0.9, None),
    "local": (0.34, 0.02, 0.25, None),
}
DIFFICULTY = {"easy": 1.0, "medium": 0.0, "hard": -1.0}


def _skill(model: str, frac: float) -> float:
    """The model's log-odds of a right answer at `frac` (0..1) through the period; the first
    model has a regression between 55% and 70% of the way."""
    start, change, _, _ = MODELS[model]
    p = start + change * frac
    if model == "openai/gpt-4o-mini" and 0.55 < frac < 0.7:
        p -= 0.25
    return math.log(p / (1 - p))


def synthetic_run(packs: list[Pack], model: str, started: datetime, frac: float,
                  rng: random.Random) -> tuple[dict, list[dict], list[dict]]:
    """One run's runs row, items rows and metrics rows, scored by the suite's own code."""
    from tinyqa import runinfo

    run_id = runinfo.new_run_id(started)
    _, _, p50, price = MODELS[model]
    items = []
    for pack in packs:
        others = [i.label for i in pack.items]
        for item in pack.items:
            logit = _skill(model, frac) + DIFFICULTY[item.tags.difficulty] + rng.gauss(0, 0.3)
            right = rng.random() < 1 / (1 + math.exp(-logit))
            wrong = rng.choice([o for o in others if o != item.label] or ["no idea"])
            text = (item.label if rng.random() < 0.4 else f"The answer is {item.label}.") if right else f"Perhaps {wrong}?"
            prompt, completion = 40 + len(item.text) // 4, rng.randint(4, 24)
            failed = rng.random() < 0.004
            answer = Answer(text=None if failed else text, latency_s=rng.lognormvariate(math.log(p50), 0.45),
                            attempts=3 if failed else 1, prompt_tokens=prompt, completion_tokens=completion,
                            cost_usd=None if price is None else (prompt + completion) * price / 1000,
                            error="Timeout: synthetic" if failed else None)
            items.append(qa.item_row(run_id, pack.id, item, answer))
    errors = sum(r["error"] is not None for r in items)
    run = {"run_id": run_id, "started_at": started, "finished_at": started + timedelta(seconds=20),
           "suite": qa.SUITE, "model": model, "api_base": None, "prompt_template": "qa-v1",
           "prompt_hash": "0" * 64, "pack_ids": [p.id for p in packs], "git_sha": None,
           "trigger": "nightly", "tinyqa_version": "0.1.0", "status": "errors" if errors else "complete"}
    return run, items, qa.metrics(run_id, items)


def fill(root: Path | str, runs: int, packs: list[Pack], models: list[str] | None = None,
         end: datetime | None = None, every: timedelta = timedelta(hours=8), seed: int = 7) -> None:
    """Write `runs` synthetic runs, cycling through `models`, one every `every`, ending at `end`."""
    models = models or list(MODELS)
    rng = random.Random(seed)
    end = end or datetime.now(timezone.utc)
    for k in range(runs):
        started = end - every * (runs - 1 - k)
        run, items, metrics = synthetic_run(packs, models[k % len(models)], started, k / max(1, runs - 1), rng)
        date = f"{started:%Y-%m-%d}"
        store.write(root, "items", items, run["run_id"], date)
        store.write(root, "metrics", metrics, run["run_id"], date)
        store.write(root, "runs", [run], run["run_id"], date)


def drift_run(root: Path | str, packs: list[Pack], tokenizer: str, started: datetime, changed: dict[str, float],
              rng: random.Random) -> None:
    """One synthetic tokenizer drift run: a runs row (suite `drift`) and a drift row per item,
    `changed[lang]` of each language's items with token ids unlike the baseline's."""
    import hashlib

    from tinyqa import runinfo

    run_id = runinfo.new_run_id(started)
    rows = []
    for pack in packs:
        for item in pack.items:
            base = hashlib.sha256(f"{tokenizer}{item.id}".encode()).hexdigest()[:16]
            moved = rng.random() < changed.get(item.lang, 0.0)
            rows.append({"run_id": run_id, "tokenizer": tokenizer, "item_id": item.id, "pack_id": pack.id,
                         "lang": item.lang, "n_tokens": len(item.text.encode()) // 3 + rng.randint(0, 3),
                         "ids_sha": base[::-1] if moved else base, "baseline_ids_sha": base, "changed": moved})
    run = {"run_id": run_id, "started_at": started, "finished_at": started + timedelta(seconds=2),
           "suite": "drift", "model": tokenizer, "pack_ids": [p.id for p in packs], "trigger": "nightly",
           "tinyqa_version": "0.1.0", "status": "complete"}
    date = f"{started:%Y-%m-%d}"
    store.write(root, "drift", rows, run_id, date)
    store.write(root, "runs", [run], run_id, date)


AGGREGATE = """
    select r.model, date_trunc('week', r.started_at) as week, count(distinct r.run_id) as runs,
           avg(i.contains::int) as contains, quantile_cont(i.latency_s, 0.95) as p95
    from items i join runs r using (run_id) group by all order by all"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--packs", default="core_en", help="shipped pack ids, comma-separated")
    ap.add_argument("--until", help="ISO time of the last run (default now)")
    ap.add_argument("--store", help="store folder or URL to fill (kept); default a temporary folder")
    ap.add_argument("--out", help="dashboard folder (kept); default a temporary folder")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tinyqa-bench-"))
    root = args.store or str(tmp / "reports")
    out = Path(args.out) if args.out else tmp / "site"
    try:
        packs = [load_pack(shipped_dir() / p) for p in args.packs.split(",")]
        end = datetime.fromisoformat(args.until) if args.until else datetime.now(timezone.utc)
        t0 = time.perf_counter()
        fill(root, args.runs, packs, end=end)
        rng = random.Random(3)
        langs = sorted({i.lang for p in packs for i in p.items})
        for k, tokenizer in enumerate(("local", "tiktoken:o200k_base", "tiktoken:cl100k_base")):
            drift_run(root, packs, tokenizer, end - timedelta(hours=k + 1),
                      {lang: rng.choice([0.0, 0.0, 0.05, 0.2]) * (k > 0) for lang in langs}, rng)
        t_write = time.perf_counter() - t0
        dashboard.vega_bundle()  # built once per vl-convert version, then cached; timed apart
        t0 = time.perf_counter()
        page = dashboard.build(root, out)
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        rows = store.connect(root).sql(AGGREGATE).fetchall()
        t_agg = time.perf_counter() - t0
        n_items = store.connect(root).sql("select count(*) from items").fetchall()[0][0]
        print(f"runs written      {args.runs} ({n_items} item rows) in {t_write:.1f} s "
              f"({1000 * t_write / args.runs:.1f} ms a run, 3 files each)")
        print(f"dashboard build   {t_build:.2f} s -> {page} ({page.stat().st_size / 1e6:.1f} MB)")
        print(f"duckdb aggregate  {t_agg:.2f} s (per model and week: runs, contains, p95 latency; {len(rows)} rows)")
        if t_build >= 10:
            sys.exit(f"dashboard build took {t_build:.1f} s, over the 10 s budget")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
