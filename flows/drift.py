"""The tokenizer-drift task, `tokenizer-drift`, that the gate and nightly flows run: no model
is called; it fingerprints a tokenizer on the packs, compares it with a baseline and writes
the drift, metrics and runs reports (flows/steps.tokenizer_drift). (`tinyqa drift` runs the
same steps without Prefect: a drift check takes well under a second, less than a Prefect API
takes to start.)"""
from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from tinyqa.flows import steps
from tinyqa.suites.result import RunResult


@task(name="tokenizer-drift", cache_policy=NO_CACHE)
def tokenizer_drift(tokenizer: str, packs: list[str] | None = None, baseline: str | None = None,
                    reports: str = "reports", max_changed: int = 0) -> RunResult:
    """Run the drift suite for `tokenizer` (a spec, see tinyqa.suites.tokenizers) on `packs`
    against `baseline` and write its reports."""
    return steps.tokenizer_drift(tokenizer, packs, baseline, reports, max_changed)
