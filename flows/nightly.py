"""The nightly evaluation: every configured model × pack × suite, then the dashboard.

Configured in tinyqa.toml:
```toml
[nightly]
models = ["local", "openai/gpt-4o-mini"]
packs = ["core_en", "core_fr"]          # default: every shipped pack
lmeval_tasks = ["tinyqa_core_en"]       # default: none
```
"""
from __future__ import annotations

from pathlib import Path

from prefect import flow

from tinyqa import config
from tinyqa.flows.drift import tokenizer_drift, tokenizer_for
from tinyqa.flows.gate import drift_baseline_for
from tinyqa.flows.qa import tiny_qa
from tinyqa.flows.runners import task_runner
from tinyqa.flows.validate import require_valid, validate_packs
from tinyqa.pack import shipped_ids


def settings() -> dict:
    cfg, _ = config.load()
    return dict(getattr(cfg, "nightly", None) or {})


@flow(name="nightly")
def nightly(models: list[str] | None = None, packs: list[str] | None = None,
            lmeval_tasks: list[str] | None = None, reports: str = str(Path("reports")),
            site: str | None = "site") -> dict:
    """Check the packs, then fan tiny QA out over model × pack (no response cache: the point is
    to ask again), run drift per model tokenizer and lm-eval per model, then build the dashboard."""
    cfg = settings()
    models = models or cfg.get("models") or ["local"]
    packs = packs or cfg.get("packs") or shipped_ids()
    lmeval_tasks = lmeval_tasks if lmeval_tasks is not None else cfg.get("lmeval_tasks", [])
    require_valid(validate_packs(packs))
    qa_futures = [tiny_qa.submit(m, [p], use_cache=False, reports=reports) for m in models for p in packs]
    drift_futures = []
    for tok in {t for m in models if (t := tokenizer_for(m))}:
        base = drift_baseline_for(tok)
        drift_futures.append(tokenizer_drift.submit(tok, packs, str(base) if base else None, reports))
    lmeval_results = []
    if lmeval_tasks:
        from tinyqa.flows.lmeval import lmeval_task

        lmeval_results = [lmeval_task(model=m, tasks=lmeval_tasks, reports=reports) for m in models]
    qa_results = [f.result() for f in qa_futures]
    drift_results = [f.result() for f in drift_futures]
    page = None
    if site:
        from tinyqa.reports import dashboard

        page = str(dashboard.build(reports, site))
    return {"qa": [r["run"]["run_id"] for r in qa_results], "errors": sum(r["errors"] for r in qa_results),
            "drift": drift_results, "lmeval": lmeval_results, "dashboard": page}


def with_runner(spec: str | None = None):
    """The nightly flow on the task runner named by `spec` (see tinyqa.flows.runners)."""
    return nightly.with_options(task_runner=task_runner(spec))
