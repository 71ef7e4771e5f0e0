"""The tiny QA suite: ask every item of the chosen packs concurrently, score, summarise."""
from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import defaultdict

from rich.console import Console
from rich.progress import Progress

from tinyqa.models.cache import ResponseCache
from tinyqa.models.llm import Target, complete, run
from tinyqa.pack import Item, Pack
from tinyqa.suites import scoring
from tinyqa.suites.checkpoint import Checkpoint
from tinyqa.suites.stats import percentile, wilson
from tinyqa.suites.templates import Template

SUITE = "tinyqa"
PROPORTIONS = ("em", "contains", "em_extracted")


def item_row(run_id: str, pack_id: str, item: Item, answer) -> dict:
    """One items-table row: the answer scored against the label and aliases (case-sensitively
    for items tagged `match: case`). An item that errored carries its error and no scores: it
    is never counted as a wrong answer."""
    answered = answer.error is None
    pred = answer.text if answered else None
    extracted = scoring.extract_answer(pred) if answered else None
    args = (item.answers, item.lang, getattr(item.tags, "match", None) == "case")
    return {
        "run_id": run_id, "suite": SUITE, "pack_id": pack_id, "item_id": item.id,
        "lang": item.lang, "category": item.tags.category, "difficulty": item.tags.difficulty,
        "question": item.text, "gold": item.label, "prediction": pred,
        "em": scoring.exact_match(pred, *args) if answered else None,
        "contains": scoring.contains(pred, *args) if answered else None,
        "lev_ratio": scoring.lev_ratio(pred, *args) if answered else None,
        "latency_s": answer.latency_s, "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens, "cost_usd": answer.cost_usd,
        "cached": answer.cached, "attempts": answer.attempts, "error": answer.error,
        "extracted": extracted,
        "em_extracted": scoring.exact_match(extracted, *args) if answered else None,
        "f1": scoring.token_f1(pred, *args) if answered else None,
    }


async def _ask_all(run_id: str, packs: list[Pack], t: Target, template: Template, concurrency: int,
                   cache: ResponseCache | None, progress: Progress | None,
                   checkpoint: Checkpoint | None) -> list[dict]:
    gate = asyncio.Semaphore(concurrency)
    done = checkpoint.answered() if checkpoint else {}
    bar = progress.add_task(f"asking {t.label}", total=sum(len(p.items) for p in packs),
                            completed=len(done)) if progress else None

    async def one(pack: Pack, item: Item) -> dict:
        if (pack.id, item.id) in done:
            return done[(pack.id, item.id)]
        async with gate:
            answer = await complete(t, template.messages(item.text, item.lang), cache=cache,
                                    timeout=t.timeout)
        row = item_row(run_id, pack.id, item, answer)
        if checkpoint:
            checkpoint.append(row)
        if progress:
            progress.advance(bar)
        return row

    return await asyncio.gather(*(one(p, i) for p in packs for i in p.items))


def ask(run_id: str, packs: list[Pack], t: Target, template: Template, *,
        concurrency: int | None = None, use_cache: bool = True,
        checkpoint: Checkpoint | None = None) -> list[dict]:
    """Ask every item (at most `concurrency` in flight, default the target's); rows in pack
    and item order. Items already answered in `checkpoint` are not asked again; new answers
    are appended to it as they come. A progress bar shows on a terminal."""
    concurrency = concurrency or t.concurrency
    cache = ResponseCache() if use_cache else None
    progress = Progress(transient=True, console=Console(stderr=True)) if sys.stderr.isatty() else None
    with progress or contextlib.nullcontext():
        return run(_ask_all(run_id, packs, t, template, concurrency, cache, progress, checkpoint))


def _slices(row: dict) -> list[str]:
    return ["all", f"lang={row['lang']}", f"category={row['category']}",
            f"difficulty={row['difficulty']}"]


def metrics(run_id: str, rows: list[dict], suite: str = SUITE) -> list[dict]:
    """Per pack and slice: EM and contains with 95% Wilson intervals over answered items,
    mean Levenshtein ratio, errors; latency p50/p95 and tokens per pack."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        for s in _slices(r):
            groups[(r["pack_id"], s)].append(r)
    out = []

    def add(pack_id, slice_, metric, value, n, ci=(None, None)):
        out.append({"run_id": run_id, "suite": suite, "pack_id": pack_id, "slice": slice_,
                    "metric": metric, "value": value, "n": n, "ci_low": ci[0], "ci_high": ci[1]})

    for (pack_id, slice_), group in sorted(groups.items()):
        answered = [r for r in group if r["error"] is None]
        n = len(answered)
        for m in PROPORTIONS:
            k = sum(bool(r[m]) for r in answered)
            add(pack_id, slice_, m, k / n if n else None, n, wilson(k, n))
        for m in ("lev_ratio", "f1"):
            if n:
                add(pack_id, slice_, m, sum(r[m] for r in answered) / n, n)
        add(pack_id, slice_, "errors", float(len(group) - n), len(group))
        if slice_ == "all":
            lat = [r["latency_s"] for r in answered if not r["cached"]]
            add(pack_id, slice_, "latency_p50_s", percentile(lat, 50), n)
            add(pack_id, slice_, "latency_p95_s", percentile(lat, 95), n)
            for tok in ("prompt_tokens", "completion_tokens", "cost_usd"):
                vals = [r[tok] for r in answered if r[tok] is not None]
                if vals:
                    add(pack_id, slice_, tok, float(sum(vals)), len(vals))
    return out
