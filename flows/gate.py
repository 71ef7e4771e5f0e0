"""The pull-request gate: tokenizer drift and tiny QA against a baseline, then a verdict.

The same flow behind `tinyqa gate` and the `gate` deployment: the thresholds come from
tinyqa.toml's [gate] table with the given overrides, the baseline from a file or the report
store (suites/gate.py has the rules), and the QA runs are written once the verdict is known,
so that a failed gate is never taken as a later gate's baseline.
"""
from __future__ import annotations

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
    notices: list[str] = []
    pack_ids = [p.id for p in resolve_packs(packs)]
    prompt_hash = load_template(template).sha256
    if baseline:
        base = gate_suite.load_baseline(Path(baseline))
        notices.append(f"baseline: the file {baseline} (run {base.get('run_id')})")
    else:
        base, why = history.gate_baseline(reports, model, pack_ids, prompt_hash)
        notices.append(why)
    if base is not None and strict_baseline:   # what can be told before asking: all but decoding
        early = [d for d in gate_suite.differences(base, {"prompt_hash": prompt_hash, "decoding": base.get("decoding")})
                 if not d.startswith("decoding")]
        if early:
            raise InputError(f"--strict-baseline: baseline {baseline or base.get('run_id')} is not comparable: "
                             + "; ".join(early))
    tokenizer = tokenizer or tokenizers.for_model(model)
    drift_future = None
    if tokenizer is None:
        notices.append(f"drift skipped: no offline tokenizer known for {model} (pass --tokenizer)")
    else:
        drift_base = drift_baseline or drift_suite.shipped_baseline(tokenizer)
        if drift_base is None:
            notices.append(f"drift: no baseline for tokenizer {tokenizer}; fingerprinted only")
        # Alongside tiny QA, which mostly waits on the model.
        drift_future = tokenizer_drift.submit(tokenizer, packs, str(drift_base) if drift_base else None, reports,
                                              max_changed=t.max_drifted)
    runs = [tiny_qa(model, packs, runinfo.revealed(api_base), template, use_cache=use_cache and repeats == 1,
                    reports=reports, write=False) for _ in range(repeats)]
    drift = drift_future.result() if drift_future else None
    info = {"source": "file" if baseline else "store" if base else None, "path": baseline,
            "run_id": base.get("run_id") if base else None, "comparable": base is not None, "differences": []}
    if base is not None:
        info["differences"] = gate_suite.differences(base, runs[0].run)
        info["comparable"] = not info["differences"]
        if info["differences"] and strict_baseline:
            raise InputError(f"--strict-baseline: baseline {baseline or base.get('run_id')} is not comparable: "
                             + "; ".join(info["differences"]))
        if info["differences"]:
            notices.append("baseline compared although made differently: " + "; ".join(info["differences"]))
    flaky = history.flaky_items(reports, [{"run": r.run, "items": r.items} for r in runs], t.metric)
    checks = gate_suite.verdict(gate_suite.majority([r.items for r in runs], t.metric), base, t,
                                flaky=flaky, quarantine=quarantine)
    if drift is not None:
        checks += drift.checks or [Check("drift", f"tokenizer {tokenizer}", True,
                                         f"{drift.details['items']} items fingerprinted (no baseline to compare)")]
    result = GateResult(model, checks, runs, drift, baseline or (base["run_id"] if base else None),
                        notices + runs[0].notices, baseline_info=info, estimate=estimate)
    for r in runs:   # their status is the verdict: a failed gate is nobody's baseline
        r.checks = checks
        save(reports, r)
    create_markdown_artifact(markdown.gate(result), key="tinyqa-gate", description=f"tinyqa gate · {model}")
    return result
