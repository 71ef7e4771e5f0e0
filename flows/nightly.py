"""The nightly evaluation: every configured model × pack × suite, then the dashboard.

Configured in tinyqa.toml:
```toml
[nightly]
models = ["local", "openai/gpt-4o-mini"]
packs = ["core_en", "core_fr"]          # default: every shipped pack
lmeval_tasks = ["tinyqa_core_en", "arc_easy", "gsm8k"]   # default: none
lmeval_backend = "hf"                   # default local-chat-completions (lm-eval's); hf scores multiple choice
lmeval_datasets = "/data/lmeval-mirror" # default $TINYQA_DATASETS (`tinyqa lmeval mirror` builds it)
lmeval_limit = 200                      # docs per task (default: all)
```
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from prefect import flow

from tinyqa import config
from tinyqa.flows.drift import tokenizer_drift
from tinyqa.flows.qa import tiny_qa
from tinyqa.flows.validate import require_valid, validate_packs
from tinyqa.pack import locate_packs, shipped_dir
from tinyqa.reports import store
from tinyqa.suites import drift as drift_suite
from tinyqa.suites import tokenizers
from tinyqa.suites.result import RunResult, exit_code


@dataclass
class NightlyResult:
    qa: list[RunResult] = field(default_factory=list)
    drift: list[RunResult] = field(default_factory=list)
    lmeval: list[RunResult] = field(default_factory=list)
    dashboard: str | None = None

    @property
    def runs(self) -> list[RunResult]:
        return [*self.qa, *self.drift, *self.lmeval]

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)

    @property
    def exit_code(self) -> int:
        """3 when items errored, 1 when a tokenizer drifted, else 0."""
        return exit_code(self.runs)


@flow(name="nightly")
def nightly(models: list[str] | None = None, packs: list[str] | None = None,
            lmeval_tasks: list[str] | None = None, reports: str = str(Path("reports")),
            site: str | None = "site", lmeval_backend: str | None = None,
            lmeval_datasets: str | None = None, lmeval_limit: float | None = None) -> NightlyResult:
    """Check the packs, then fan tiny QA out over model × pack (no response cache: the point is
    to ask again), run drift per model tokenizer and lm-eval per model (its tasks from the
    dataset mirror when one is set), then build the dashboard."""
    plan = config.nightly_plan(models, packs, lmeval_tasks, lmeval_backend, lmeval_datasets, lmeval_limit)
    models = plan.models
    packs, reports = portable_packs(plan.packs), portable_reports(reports)
    require_valid(validate_packs(packs))
    lmeval_runs = []
    if plan.lmeval_tasks:
        from tinyqa.suites import lmeval

        lmeval_runs = [lmeval.Settings(model=m, tasks=tuple(plan.lmeval_tasks), datasets=plan.lmeval_datasets,
                                       api_base=config.model_settings(m).get("api_base"),
                                       backend=plan.lmeval_backend or lmeval.DEFAULT_BACKEND,
                                       limit=lmeval.parse_limit(plan.lmeval_limit)) for m in models]
        for s in lmeval_runs:   # a bad setting fails now, not after the tiny packs
            lmeval.check(s)
    qa_futures = [tiny_qa.submit(m, [p], use_cache=False, reports=reports, settings=config.model_settings(m))
                  for m in models for p in packs]
    drift_futures = []
    for tok in sorted({t for m in models if (t := tokenizers.for_model(m))}):
        base = drift_suite.shipped_baseline(tok)
        drift_futures.append(tokenizer_drift.submit(tok, packs, str(base) if base else None, reports))
    result = NightlyResult()
    if lmeval_runs:
        from tinyqa.flows.lmeval import lmeval_task

        result.lmeval = [lmeval_task(s, reports) for s in lmeval_runs]
    result.qa = [f.result() for f in qa_futures]
    result.drift = [f.result() for f in drift_futures]
    if site:
        from tinyqa.reports import dashboard

        result.dashboard = str(dashboard.build(reports, site))
    return result


# The fan-out's tasks may run in other processes (Dask, Ray workers), started in other folders
# or on other machines: they get what this process resolved, not names relative to its folder.

def portable_packs(packs: list[str]) -> list[str]:
    """Shipped pack ids as they are (every worker has tinyqa's packs); pack folders as absolute
    paths, which workers on other machines must see at the same place (a shared disk, the image)."""
    return [name if folder == shipped_dir() / name else str(folder.resolve())
            for name, folder in zip(packs, locate_packs(packs))]


def portable_reports(reports: str) -> str:
    """A store URL as it is; a local store as an absolute path (a shared disk for other machines)."""
    return reports if store.is_url(reports) else os.path.abspath(store.local_path(reports))
