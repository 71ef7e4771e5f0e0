"""The commands that ask a model: run, smoke, gate, nightly. Each calls its operation in
tinyqa/api.py and renders the result (render.py)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from tinyqa import api
from tinyqa.cli.base import ApiBase, ModelOpt, NoCache, PacksOpt, PrefectOpt, Reports, Verbose, app, metric_names
from tinyqa.cli import render
from tinyqa.cli.render import err
from tinyqa.settings import DEFAULT_REPORTS


@app.command()
def run(
    model: Annotated[Optional[str], typer.Option(help="LiteLLM model string, or `local` for the embedded model.")] = None,
    packs: PacksOpt = "core_en",
    api_base: Annotated[Optional[str], typer.Option(help="Base URL of the model's server (with --resume: instead of the recorded one).")] = None,
    template: Annotated[str, typer.Option(help="Prompt template name or TOML file.")] = "qa-v1",
    concurrency: Annotated[Optional[int], typer.Option(min=1, max=256, help="Requests in flight (default 16; 1 for `local`).")] = None,
    no_cache: NoCache = False,
    resume: Annotated[Optional[str], typer.Option(help="Finish an interrupted run: its answered items are not asked again.")] = None,
    min_em: Annotated[float, typer.Option(min=0, max=1, help="Fail below this EM per pack.")] = 0.0,
    min_contains: Annotated[float, typer.Option(min=0, max=1, help="Fail below this contains per pack.")] = 0.0,
    reports: Reports = DEFAULT_REPORTS,
    prefect: PrefectOpt = None,
    verbose: Verbose = False,
) -> None:
    """Run the tiny QA suite on any model and packs; write reports; print the summary."""
    started = time.time()
    try:
        result = api.run(model=model, packs=packs, api_base=api_base, template=template, concurrency=concurrency,
                         use_cache=not no_cache, reports=reports, resume=resume, min_em=min_em,
                         min_contains=min_contains, prefect=prefect, verbose=verbose)
    except KeyboardInterrupt:
        _resume_hint(reports, started)
        raise
    render.finish_run(result, reports)


def _resume_hint(reports: str, since: float) -> None:
    from tinyqa.reports.checkpoint import Checkpoint

    folder = Checkpoint.folder(reports)
    for cp in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        if cp.stat().st_mtime >= since:
            err.print(f"tinyqa: interrupted; answered items are kept: finish with `tinyqa run --resume {cp.stem}"
                      f"{'' if reports == DEFAULT_REPORTS else f' --reports {reports}'}`", markup=False)


@app.command()
def smoke(
    packs: PacksOpt = "core_en",
    reports: Reports = DEFAULT_REPORTS,
    min_contains: Annotated[Optional[float], typer.Option(min=0, max=1, help="Fail below this contains per pack (default 0.3).")] = None,
    no_cache: NoCache = False,
    prefect: PrefectOpt = None,
    verbose: Verbose = False,
) -> None:
    """The main job: the embedded local model answers core_en; reports written; pass/fail on floors."""
    result = api.smoke(packs=packs, use_cache=not no_cache, reports=reports, min_contains=min_contains,
                       prefect=prefect, verbose=verbose)
    render.finish_run(result, reports)


@app.command()
def gate(
    model: ModelOpt,
    packs: PacksOpt = "core_en",
    baseline: Annotated[Optional[Path], typer.Option(help="Baseline file (default: the latest comparable passing run in --reports).")] = None,
    api_base: ApiBase = None,
    template: Annotated[str, typer.Option(help="Prompt template name or TOML file.")] = "qa-v1",
    tokenizer: Annotated[Optional[str], typer.Option(help="Tokenizer for drift (default: the model's own, if known offline).")] = None,
    drift_baseline: Annotated[Optional[Path], typer.Option(help="Drift baseline (default: packs/baselines/drift-<tokenizer>.json).")] = None,
    repeats: Annotated[int, typer.Option(min=1, max=15, help="Runs per item; the verdict uses the per-item majority.")] = 1,
    junit: Annotated[Optional[Path], typer.Option(help="Write a JUnit XML report here.")] = None,
    markdown: Annotated[Optional[Path], typer.Option(help="Write the verdict as Markdown here (a pull-request comment).")] = None,
    metric: Annotated[Optional[str], typer.Option(help=f"{metric_names()} (default contains).")] = None,
    min_em: Annotated[Optional[float], typer.Option(help="Floor for EM per pack.")] = None,
    min_contains: Annotated[Optional[float], typer.Option(help="Floor for contains per pack.")] = None,
    max_drop: Annotated[Optional[float], typer.Option(help="Largest tolerated drop per pack and language (default 0.05).")] = None,
    alpha: Annotated[Optional[float], typer.Option(help="Significance level of the paired test (default 0.05).")] = None,
    max_drifted: Annotated[Optional[int], typer.Option(help="Items allowed to tokenize differently (default 0).")] = None,
    strict_baseline: Annotated[bool, typer.Option("--strict-baseline", help="Refuse (exit 2) a baseline made with another prompt template, decoding or scorer version.")] = False,
    quarantine: Annotated[bool, typer.Option("--quarantine", help="Leave flaky items (right and wrong in identical earlier runs) out of the drop test; still reported.")] = False,
    max_usd: Annotated[Optional[float], typer.Option("--max-usd", min=0, help="Refuse (exit 2) before any request when the expected cost is above this.")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the verdict as JSON here.")] = None,
    no_cache: NoCache = False,
    reports: Reports = DEFAULT_REPORTS,
    prefect: PrefectOpt = None,
    verbose: Verbose = False,
) -> None:
    """The pull-request gate: drift + tiny QA against a baseline; exit 1 on a regression, 3 on
    an infrastructure failure. Thresholds come from the gate table of tinyqa.toml, overridden here.
    The expected cost is printed before the first request."""
    started = time.perf_counter()
    overrides = {"metric": metric, "min_em": min_em, "min_contains": min_contains, "max_drop": max_drop,
                 "alpha": alpha, "max_drifted": max_drifted}
    result = api.gate(model=model, packs=packs, baseline=baseline, api_base=api_base, template=template,
                      tokenizer=tokenizer, drift_baseline=drift_baseline, repeats=repeats, overrides=overrides,
                      use_cache=not no_cache, reports=reports, prefect=prefect, verbose=verbose,
                      strict_baseline=strict_baseline, quarantine=quarantine, max_usd=max_usd,
                      on_estimate=render.estimate)
    render.gate(result, model, time.perf_counter() - started, junit, markdown, json_out)


@app.command()
def nightly(
    models: Annotated[Optional[str], typer.Option(help="Models, comma-separated (default: tinyqa.toml [nightly], else local).")] = None,
    packs: Annotated[Optional[str], typer.Option(help="Packs, comma-separated (default: tinyqa.toml [nightly], else every shipped pack).")] = None,
    lmeval_tasks: Annotated[Optional[str], typer.Option(help="lm-eval tasks per model, comma-separated (default: tinyqa.toml [nightly], else none).")] = None,
    lmeval_backend: Annotated[Optional[str], typer.Option(help="lm-eval's backend (default: tinyqa.toml [nightly], else local-chat-completions; hf scores multiple choice).")] = None,
    lmeval_datasets: Annotated[Optional[str], typer.Option(help="lm-eval's dataset mirror (default: tinyqa.toml [nightly], else $TINYQA_DATASETS).")] = None,
    lmeval_limit: Annotated[Optional[float], typer.Option(help="lm-eval docs per task (default: tinyqa.toml [nightly], else all).")] = None,
    task_runner: Annotated[Optional[str], typer.Option(help="thread, dask, dask://HOST:PORT, ray or ray://HOST:PORT (default $TINYQA_TASK_RUNNER, else thread).")] = None,
    reports: Reports = DEFAULT_REPORTS,
    site: Annotated[Path, typer.Option(help="Dashboard folder.")] = Path("site"),
    verbose: Verbose = False,
) -> None:
    """What the nightly deployment runs, here: check the packs, tiny QA on every model × pack
    (fanned out on the task runner), drift per tokenizer, lm-eval, then the dashboard. Exit 3
    when items errored, 1 when a pack is invalid or a tokenizer drifted."""
    result = api.nightly(models=models, packs=packs, lmeval_tasks=lmeval_tasks, lmeval_backend=lmeval_backend,
                         lmeval_datasets=lmeval_datasets, lmeval_limit=lmeval_limit, task_runner=task_runner,
                         reports=reports, site=site, verbose=verbose)
    render.nightly(result, reports)
