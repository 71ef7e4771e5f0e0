"""The tokenizer-drift flow: one task, `tokenizer-drift`, that the gate and nightly flows call
too. No model is called; the task fingerprints a tokenizer on the packs, compares it with a
baseline and writes the drift, metrics and runs reports."""
from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from tinyqa.suites import drift as drift_suite
from tinyqa.suites import tokenizers


@task(name="tokenizer-drift", cache_policy=NO_CACHE)
def tokenizer_drift(tokenizer: str, packs: list[str] | None = None, baseline: str | None = None,
                    reports: str | None = str(Path("reports")), max_changed: int = 0,
                    max_metric_delta: float = 0.01, fail_on_identity: bool = True) -> dict:
    """Run the drift suite for `tokenizer` (a spec, see tinyqa.suites.tokenizers) and return its
    summary: `passed`, the changed items (`pack_id/item_id`), the identity parts that changed,
    the failures, the run id and timings."""
    res = drift_suite.run(tokenizer, packs, Path(baseline) if baseline else None, None,
                          reports or None,
                          drift_suite.Thresholds(max_changed, max_metric_delta, fail_on_identity))
    return res.summary()


def tokenizer_for(model: str) -> str | None:
    """The tokenizer spec of the model under test, when it can be loaded offline (the gate
    skips drift with a notice otherwise)."""
    return tokenizers.for_model(model)


@flow(name="drift")
def drift(tokenizer: str = "local", packs: list[str] | None = None, baseline: str | None = None,
          reports: str = str(Path("reports"))) -> dict:
    """Tokenizer drift on its own: fingerprint `tokenizer` on `packs` (default: every shipped
    pack), compare with `baseline`, write reports; returns the task's summary."""
    return tokenizer_drift(tokenizer, packs, baseline, reports)
