"""The pull-request gate: tokenizer drift and tiny QA against a baseline, then a verdict."""
from __future__ import annotations

import re
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import SecretStr

from tinyqa import runinfo
from tinyqa.flows.drift import tokenizer_drift, tokenizer_for
from tinyqa.flows.qa import tiny_qa
from tinyqa.pack import shipped_dir
from tinyqa.suites import gate as gate_suite
from tinyqa.suites.templates import DEFAULT


def drift_baseline_for(tokenizer: str) -> Path | None:
    """The committed drift baseline for a tokenizer spec (packs/baselines/drift-<slug>.json)."""
    slug = re.sub(r"[^a-z0-9]+", "-", tokenizer.lower()).strip("-")
    path = shipped_dir() / "baselines" / f"drift-{slug}.json"
    return path if path.is_file() else None


@task(name="gate-verdict", cache_policy=NO_CACHE)
def decide(rows: list[dict], baseline: dict | None, thresholds: dict) -> list[dict]:
    checks = gate_suite.verdict(rows, baseline, gate_suite.Thresholds(**thresholds))
    return [c.__dict__ for c in checks]


@flow(name="gate")
def gate(model: str, packs: list[str], baseline: str | None = None, api_base: SecretStr | None = None,
         template: str = DEFAULT, tokenizer: str | None = None, drift_baseline: str | None = None,
         repeats: int = 1, thresholds: dict | None = None, use_cache: bool = True,
         reports: str = str(Path("reports"))) -> dict:
    """Drift (when the tokenizer can be had offline), then tiny QA `repeats` times (per-item
    majority), then the checks against the baseline."""
    t = gate_suite.Thresholds(**(thresholds or {}))
    notices: list[str] = []
    tokenizer = tokenizer or tokenizer_for(model)
    drift_future = None
    if tokenizer is None:
        notices.append(f"drift skipped: no offline tokenizer known for {model} (pass --tokenizer)")
    else:
        drift_base = drift_baseline or drift_baseline_for(tokenizer)
        if drift_base is None:
            notices.append(f"drift: no baseline for tokenizer {tokenizer}; fingerprinted only")
        # Alongside tiny QA, which mostly waits on the model.
        drift_future = tokenizer_drift.submit(tokenizer, packs, str(drift_base) if drift_base else None, reports,
                                              max_changed=t.max_drifted)
    runs = [tiny_qa(model, packs, runinfo.revealed(api_base), template, use_cache=use_cache and repeats == 1,
                    reports=reports, return_items=True) for _ in range(repeats)]
    drift = drift_future.result() if drift_future else None
    rows = gate_suite.majority([r["items"] for r in runs], t.metric)
    base = gate_suite.load_baseline(Path(baseline)) if baseline else None
    checks = decide(rows, base, t.model_dump())
    if drift is not None:
        checks.append({"pack_id": "drift", "name": f"tokenizer {tokenizer}", "passed": drift["passed"],
                       "message": "; ".join(drift["failures"]) or (
                           f"{drift['items']} items fingerprinted, none changed" if drift["new"] is not None
                           else f"{drift['items']} items fingerprinted (no baseline to compare)"),
                       "details": drift["changed"]})
    errors = sum(r["errors"] for r in runs)
    return {"runs": [{k: v for k, v in r.items() if k != "items"} for r in runs], "checks": checks,
            "drift": drift, "errors": errors, "notices": notices,
            "passed": all(c["passed"] for c in checks)}
