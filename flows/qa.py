"""The tiny QA flows: `qa_run` (any model, any packs) and `smoke` (the embedded model on core_en)."""
from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

import tinyqa
from tinyqa import config, runinfo
from tinyqa.models import llm, local
from tinyqa.pack import Pack, resolve_packs
from tinyqa.reports import store
from tinyqa.suites import qa
from tinyqa.suites.templates import DEFAULT, Template, load_template


@task(name="ask-and-score", cache_policy=NO_CACHE)
def ask_and_score(run_id: str, packs: list[Pack], target: llm.Target, template: Template,
                  concurrency: int | None, use_cache: bool) -> list[dict]:
    return qa.ask(run_id, packs, target, template, concurrency=concurrency, use_cache=use_cache)


@task(name="write-reports", retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def write_reports(reports: str, run: dict, items: list[dict], metrics: list[dict]) -> None:
    date = f"{run['started_at']:%Y-%m-%d}"
    # Items and metrics first: a runs row only appears once its run is complete.
    store.write(reports, "items", items, run["run_id"], date)
    store.write(reports, "metrics", metrics, run["run_id"], date)
    store.write(reports, "runs", [run], run["run_id"], date)


@contextlib.contextmanager
def reach(model: str, api_base: str | None):
    """The Target for `model` with its configured settings (tinyqa.toml), serving the
    embedded model for as long as it is needed."""
    settings = config.model_settings(model)
    if model == llm.LOCAL:
        with local.serve() as base:
            yield dataclasses.replace(llm.target(model, base), **settings)
    else:
        yield dataclasses.replace(llm.target(model, api_base), **settings)


@flow(name="qa-run")
def qa_run(model: str, packs: list[str], api_base: str | None = None, template: str = DEFAULT,
           concurrency: int | None = None, use_cache: bool = True, reports: str = str(Path("reports")),
           return_items: bool = False) -> dict:
    """Ask every item of `packs` of `model`, score, and write runs/items/metrics reports."""
    pack_objs = resolve_packs(packs)
    tmpl = load_template(template)
    started = runinfo.now()
    run_id = runinfo.new_run_id(started)
    with reach(model, api_base) as target:
        items = ask_and_score(run_id, pack_objs, target, tmpl, concurrency, use_cache)
    metrics = qa.metrics(run_id, items)
    errors = sum(r["error"] is not None for r in items)
    run = {
        "run_id": run_id, "started_at": started, "finished_at": runinfo.now(), "suite": qa.SUITE,
        "model": model, "api_base": None if model == llm.LOCAL else api_base,
        "prompt_template": tmpl.id, "prompt_hash": tmpl.sha256,
        "pack_ids": [p.id for p in pack_objs], "git_sha": runinfo.git_sha(),
        "trigger": runinfo.trigger(), "tinyqa_version": tinyqa.__version__,
        "status": "errors" if errors else "complete",
    }
    write_reports(reports, run, items, metrics)
    return {"run": run, "metrics": metrics, "errors": errors, **({"items": items} if return_items else {})}


@flow(name="smoke")
def smoke(packs: list[str] = ["core_en"], use_cache: bool = True,  # noqa: B006
          reports: str = str(Path("reports"))) -> dict:
    """The main job: the embedded local model on the gold set, reports written."""
    return qa_run(model=llm.LOCAL, packs=packs, use_cache=use_cache, reports=reports)
