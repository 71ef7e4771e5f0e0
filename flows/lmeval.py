"""The lm-eval flow: one task, `lm-eval`, that runs lm-evaluation-harness on a model and
writes the runs, metrics and items reports (tinyqa.suites.lmeval). The nightly flow calls the
task for each configured model; deployments put `lmeval_suite` on the `gpu` work pool."""
from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import SecretStr

from tinyqa import runinfo
from tinyqa.reports import store
from tinyqa.suites import lmeval

# A full suite (MMLU, HellaSwag, ...) on one GPU takes minutes to hours; past this it is stuck.
TIMEOUT_S = 6 * 3600


def write(reports: str, result: dict) -> None:
    """Write a run's items and metrics, then its runs row (a runs row means a complete run)."""
    run = result["run"]
    date = f"{run['started_at']:%Y-%m-%d}"
    store.write(reports, "items", result["items"], run["run_id"], date)
    store.write(reports, "metrics", result["metrics"], run["run_id"], date)
    store.write(reports, "runs", [run], run["run_id"], date)


@task(name="lm-eval", timeout_seconds=TIMEOUT_S, retries=0, cache_policy=NO_CACHE)
def lmeval_task(model: str, tasks: list[str], backend: str = "local-chat-completions",
                api_base: str | None = None, limit: float | None = None,
                batch_size: int | str | None = None, num_fewshot: int | None = None, seed: int = 1234,
                chat_template: bool | None = None, concurrency: int | None = None,
                model_args: dict | None = None, allow_hub: bool = False,
                reports: str = str(Path("reports")), verbose: bool = False,
                return_items: bool = False) -> dict:
    """Run lm-eval on `model` for `tasks` (lm-eval task names and tinyqa packs as
    `tinyqa_<pack_id>`), write the reports, and return the run row, metrics rows, the
    cross-check with tinyqa's EM on tinyqa tasks, timings and the items (or their count)."""
    settings = lmeval.Settings(model=model, tasks=tuple(tasks), backend=backend, api_base=api_base,
                               limit=limit, batch_size=batch_size, num_fewshot=num_fewshot, seed=seed,
                               chat_template=chat_template, concurrency=concurrency,
                               model_args=dict(model_args or {}), allow_hub=allow_hub)
    result = lmeval.run(settings, verbose=verbose)
    write(reports, result)
    return {**result, "items": result["items"] if return_items else len(result["items"])}


@flow(name="lmeval-suite")
def lmeval_suite(model: str, tasks: list[str], backend: str = "local-chat-completions",
                 api_base: SecretStr | None = None, limit: float | None = None,
                 batch_size: int | str | None = None, num_fewshot: int | None = None, seed: int = 1234,
                 chat_template: bool | None = None, concurrency: int | None = None,
                 model_args: dict | None = None, allow_hub: bool = False,
                 reports: str = str(Path("reports")), timeout_s: float = TIMEOUT_S,
                 verbose: bool = False, return_items: bool = False) -> dict:
    """lm-eval on one model: the `lm-eval` task with its timeout set to `timeout_s`."""
    return lmeval_task.with_options(timeout_seconds=timeout_s)(
        model=model, tasks=tasks, backend=backend, api_base=runinfo.revealed(api_base), limit=limit, batch_size=batch_size,
        num_fewshot=num_fewshot, seed=seed, chat_template=chat_template, concurrency=concurrency,
        model_args=model_args, allow_hub=allow_hub, reports=reports, verbose=verbose,
        return_items=return_items)
