"""The pull-request gate: tokenizer drift and tiny QA against a baseline, then a verdict.

The same flow behind `tinyqa gate` and the `gate` deployment: the thresholds come from
tinyqa.toml's [gate] table with the given overrides, the baseline from a file or the report
store (suites/gate.py has the rules), and the QA runs are written once the verdict is known,
so that a failed gate is never taken as a later gate's baseline.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from pydantic import SecretStr

from tinyqa import runinfo
from tinyqa.errors import InputError
from tinyqa.flows.drift import tokenizer_drift
from tinyqa.flows.qa import save, tiny_qa
from tinyqa.pack import resolve_packs
from tinyqa.reports import history, markdown
from tinyqa.suites import drift as drift_suite
from tinyqa.suites import gate as gate_suite
from tinyqa.suites import tokenizers
from tinyqa.suites.result import Check, GateResult
from tinyqa.suites.templates import DEFAULT, load_template


@flow(name="gate")
def gate(model: str, packs: list[str], baseline: str | None = None, api_base: SecretStr | None = None,
         template: str = DEFAULT, tokenizer: str | None = None, drift_baseline: str | None = None,
         repeats: int = 1, overrides: dict | None = None, use_cache: bool = True,
         reports: str = str(Path("reports")), strict_baseline: bool = False,
         quarantine: bool = False, estimate=None) -> GateResult:
    """Drift (when the tokenizer can be had offline) alongside tiny QA `repeats` times
    (per-item majority), then the checks against the baseline; the runs written with the
    verdict as their status, the verdict published as an artifact. A baseline made with
    another template, decoding or scorer version is named (refused with `strict_baseline`,
    before any request where it can be told then); flaky items are listed and, with
    `quarantine`, left out of the drop test."""
    t = gate_suite.thresholds(overrides)
    drift_note = None
    pack_ids = [p.id for p in resolve_packs(packs)]
    prompt_hash = load_template(template).sha256
    if baseline:
        base = gate_suite.load_baseline(Path(baseline))
        chosen = gate_suite.file_baseline(baseline, base)
    else:
        base, chosen = history.gate_baseline(reports, model, pack_ids, prompt_hash)
    if base is not None and strict_baseline:   # what can be told before asking: all but decoding
        early = [d for d in gate_suite.differences(base, {"prompt_hash": prompt_hash, "decoding": base.get("decoding")})
                 if not d.startswith("decoding")]
        if early:
            raise InputError(f"--strict-baseline: baseline {chosen.ref} is not comparable: " + "; ".join(early))
    tokenizer = tokenizer or tokenizers.for_model(model)
    drift_future = None
    if tokenizer is None:
        drift_note = f"drift skipped: no offline tokenizer known for {model} (pass --tokenizer)"
    else:
        drift_base = drift_baseline or drift_suite.shipped_baseline(tokenizer)
        if drift_base is None:
            drift_note = f"drift: no baseline for tokenizer {tokenizer}; fingerprinted only"
        # Alongside tiny QA, which mostly waits on the model.
        drift_future = tokenizer_drift.submit(tokenizer, packs, str(drift_base) if drift_base else None, reports,
                                              max_changed=t.max_drifted)
    runs = [tiny_qa(model, packs, runinfo.revealed(api_base), template, use_cache=use_cache and repeats == 1,
                    reports=reports, write=False) for _ in range(repeats)]
    drift = drift_future.result() if drift_future else None
    notices = []
    if base is not None:
        diffs = gate_suite.differences(base, runs[0].run)
        if diffs and strict_baseline:
            raise InputError(f"--strict-baseline: baseline {chosen.ref} is not comparable: " + "; ".join(diffs))
        if diffs:
            notices.append("baseline compared although made differently: " + "; ".join(diffs))
        chosen = dataclasses.replace(chosen, differences=tuple(diffs))
    flaky = history.flaky_items(reports, [{"run": r.run, "items": r.items} for r in runs], t.metric)
    checks = gate_suite.verdict(gate_suite.majority([r.items for r in runs], t.metric), base, t,
                                flaky=flaky, quarantine=quarantine)
    if drift is not None:
        checks += drift.checks or [Check.drift(tokenizer, True,
                                               f"{drift.details['items']} items fingerprinted (no baseline to compare)")]
    result = GateResult(model, checks, runs, drift, chosen, notices + list(runs[0].notices), drift_note,
                        estimate=estimate)
    for r in runs:   # their status is the verdict: a failed gate is nobody's baseline
        r.checks = checks
        save(reports, r)
    create_markdown_artifact(markdown.gate(result), key="tinyqa-gate", description=f"tinyqa gate · {model}")
    return result
