"""The lm-eval flow: one task, `lm-eval`, that runs lm-evaluation-harness on a model and
writes the runs, metrics and items reports (tinyqa.suites.lmeval). The nightly flow calls the
task for each configured model; deployments put `lmeval_suite` on the `gpu` work pool."""
from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from tinyqa.flows import steps
from tinyqa.suites import lmeval
from tinyqa.suites.result import RunResult

# A full suite (MMLU, HellaSwag, ...) on one GPU takes minutes to hours; past this it is stuck.
TIMEOUT_S = 6 * 3600


@task(name="lm-eval", timeout_seconds=TIMEOUT_S, retries=0, cache_policy=NO_CACHE)
def lmeval_task(settings: lmeval.Settings, reports: str = str(Path("reports"))) -> RunResult:
    """Run lm-eval for `settings` (lm-eval task names and tinyqa packs as `tinyqa_<pack_id>`)
    and write the reports."""
    return steps.lmeval(settings, reports)


@flow(name="lmeval-suite")
def lmeval_suite(settings: lmeval.Settings, reports: str = str(Path("reports")),
                 timeout_s: float = TIMEOUT_S) -> RunResult:
    """lm-eval on one model: the `lm-eval` task with its timeout set to `timeout_s`."""
    return lmeval_task.with_options(timeout_seconds=timeout_s)(settings, reports)
