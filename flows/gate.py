"""The pull-request gate: tokenizer drift and tiny QA against a baseline, then a verdict.

The same steps (flows/steps.gate) behind `tinyqa gate` and the `gate` deployment: the
thresholds come from tinyqa.toml's [gate] table with the given overrides, the baseline from a
file or the report store (suites/gate.py has the rules), and the QA runs are written once the
verdict is known, so that a failed gate is never taken as a later gate's baseline. On Prefect,
drift is a task submitted alongside the tiny QA tasks, and the verdict an artifact.
"""
from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from pydantic import SecretStr

from tinyqa import runinfo
from tinyqa.flows import steps
from tinyqa.flows.drift import tokenizer_drift
from tinyqa.flows.qa import publish, tiny_qa
from tinyqa.reports import markdown
from tinyqa.suites import gate as gate_suite
from tinyqa.suites.result import GateResult
from tinyqa.suites.templates import DEFAULT


@flow(name="gate")
def gate(model: str, packs: list[str], baseline: str | None = None, api_base: SecretStr | None = None,
         template: str = DEFAULT, tokenizer: str | None = None, drift_baseline: str | None = None,
         repeats: int = 1, overrides: dict | None = None, use_cache: bool = True,
         reports: str = str(Path("reports")), strict_baseline: bool = False,
         quarantine: bool = False) -> GateResult:
    """Drift (when the tokenizer can be had offline) alongside tiny QA `repeats` times
    (per-item majority), then the checks against the baseline; the runs written with the
    verdict as their status, the verdict published as an artifact. A baseline made with
    another template, decoding or scorer version is named (refused with `strict_baseline`);
    flaky items are listed and, with `quarantine`, left out of the drop test."""
    base_url = runinfo.revealed(api_base)
    result = steps.gate(
        model, packs, baseline, template, tokenizer, drift_baseline, repeats, gate_suite.thresholds(overrides),
        reports, alongside=tokenizer_drift.submit, publish=publish, strict_baseline=strict_baseline,
        quarantine=quarantine,
        ask=lambda: tiny_qa(model, packs, base_url, template, use_cache=use_cache and repeats == 1,
                            reports=reports, write=False))
    create_markdown_artifact(markdown.gate(result), key="tinyqa-gate", description=f"tinyqa gate · {model}")
    return result
