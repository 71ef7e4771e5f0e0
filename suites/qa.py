"""The tiny QA suite: ask every item of the chosen packs concurrently, score, summarise."""
from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import defaultdict
from datetime import datetime

from rich.console import Console
from rich.progress import Progress

from tinyqa import phases, runinfo
from tinyqa.errors import InfraError
from tinyqa.models import llm
from tinyqa.models.cache import ResponseCache
from tinyqa.models.llm import Target, complete
from tinyqa.pack import Item, Pack
from tinyqa.suites import scoring
from tinyqa.suites.result import RunResult
from tinyqa.suites.stats import percentile, wilson
from tinyqa.suites.templates import Template

SUITE = "tinyqa"
# Refusals of the same kind, with nothing answered yet, that stop a run: the provider
# refuses the requests themselves (a bad key, an unknown model, a rejected parameter).
REFUSALS = 3


def item_row(run_id: str, pack_id: str, item: Item, answer: llm.Answer) -> dict:
    """One items-table row: the answer scored by every scorer against the label and aliases
    (case-sensitively for items tagged `match: case`). An item that errored carries its
    error and no scores: it is never counted as a wrong answer."""
    pred = answer.text if answer.error is None else None
    case = getattr(item.tags, "match", None) == "case"
    return {
        "run_id": run_id, "suite": SUITE, "pack_id": pack_id, "item_id": item.id,
        "lang": item.lang, "category": item.tags.category, "difficulty": item.tags.difficulty,
        "question": item.text, "gold": item.label, "prediction": pred,
        **scoring.score(pred, item.answers, item.lang, case),
        "latency_s": answer.latency_s, "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens, "cost_usd": answer.cost_usd,
        "cached": answer.cached, "attempts": answer.attempts, "error": answer.error,
        "item_sha256": item.sha256,
        "prediction_chars": None if pred is None else answer.chars,
        "prediction_sha256": None if pred is None else answer.sha256,
    }


async def _ask_all(run_id: str, packs: list[Pack], t: Target, template: Template, concurrency: int,
                   cache: ResponseCache | None, progress: Progress | None, checkpoint) -> list[dict]:
    gate = asyncio.Semaphore(concurrency)
    done = checkpoint.answered() if checkpoint else {}
    total = sum(len(p.items) for p in packs)
    bar = progress.add_task(f"asking {t.label}", total=total, completed=len(done)) if progress else None
    refused: list[str] = []
    answered = bool(done)
    stopped = False

    async def one(pack: Pack, item: Item) -> dict | None:
        nonlocal answered, stopped
        if (pack.id, item.id) in done:
            return done[(pack.id, item.id)]
        async with gate:
            if stopped:          # not sent: the provider refuses the requests themselves
                return None
            answer = await complete(t, template.messages(item.text, item.lang), cache=cache, timeout=t.timeout)
        answered |= answer.error is None
        if answer.fatal and not answered:
            refused.append(answer.error)
            kinds = {e.split(":")[0] for e in refused}
            stopped = len(refused) >= min(REFUSALS, total) and len(kinds) == 1
        row = item_row(run_id, pack.id, item, answer)
        if checkpoint:
            checkpoint.append(row)
        if progress:
            progress.advance(bar)
        return row

    pairs = [(p, i) for p in packs for i in p.items]
    rows = await asyncio.gather(*(one(p, i) for p, i in pairs))
    phases.mark("answers in")
    if stopped and not answered:
        raise InfraError(f"{t.label}: the provider refused every request ({len(refused)} sent, none answered, "
                         f"the other {total - len(refused)} not sent): {refused[0]}")
    if stopped:   # a request in flight was answered after all: the items held back are asked now
        stopped = False
        again = iter(await asyncio.gather(*(one(p, i) for r, (p, i) in zip(rows, pairs) if r is None)))
        rows = [r if r is not None else next(again) for r in rows]
    return rows


def ask(run_id: str, packs: list[Pack], t: Target, template: Template, *,
        concurrency: int | None = None, use_cache: bool = True, checkpoint=None) -> list[dict]:
    """Ask every item (at most `concurrency` in flight, default the target's); rows in pack
    and item order. Items already answered in `checkpoint` (a reports.checkpoint.Checkpoint)
    are not asked again; new answers are appended to it as they come. When the provider
    refuses the first requests alike and answers none, the run stops (InfraError) instead of
    failing every item. A progress bar shows on a terminal."""
    concurrency = concurrency or t.concurrency
    cache = ResponseCache() if use_cache else None
    progress = Progress(transient=True, console=Console(stderr=True)) if sys.stderr.isatty() else None
    with progress or contextlib.nullcontext():
        return llm.on_loop(_ask_all(run_id, packs, t, template, concurrency, cache, progress, checkpoint))


def run(run_id: str, started: datetime, model: str, packs: list[Pack], t: Target, template: Template, *,
        concurrency: int | None = None, use_cache: bool = True, checkpoint=None) -> RunResult:
    """One tiny QA run of `model` (asked through `t`): items, metrics and the runs row with
    the decoding parameters the provider was sent and notes on what it did not take."""
    items = ask(run_id, packs, t, template, concurrency=concurrency, use_cache=use_cache, checkpoint=checkpoint)
    sent, notes = llm.decoding(t)
    row = runinfo.run_row(run_id, started, SUITE, model, pack_ids=[p.id for p in packs],
                          api_base=None if model == llm.LOCAL else t.api_base, prompt_template=template.id,
                          prompt_hash=template.sha256, decoding=sent, notes=notes)
    row["scorer_version"] = scoring.SCORER_VERSION
    return RunResult(row, items=items, metrics=metrics(run_id, items), notices=notes)


def _slices(row: dict) -> list[str]:
    return ["all", f"lang={row['lang']}", f"category={row['category']}",
            f"difficulty={row['difficulty']}"]


def metrics(run_id: str, rows: list[dict], suite: str = SUITE) -> list[dict]:
    """Per pack and slice: each scorer over answered items (a proportion with its 95% Wilson
    interval, or a mean), errors; latency p50/p95 and tokens per pack."""
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
        for s in scoring.SCORERS:
            if s.kind == "proportion":
                k = sum(bool(r[s.name]) for r in answered)
                add(pack_id, slice_, s.name, k / n if n else None, n, wilson(k, n))
            elif n:
                add(pack_id, slice_, s.name, sum(r[s.name] for r in answered) / n, n)
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
