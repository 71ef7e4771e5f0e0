"""The steps of tinyqa's runs as plain functions, without Prefect: tiny QA (ask, score, check
the floors, write), the gate (drift alongside tiny QA, the verdict, the runs written with it),
drift and lm-eval (run, write).

The flows of this folder wrap these same functions as Prefect flows and tasks (their retries,
artifacts and concurrency limits on a Prefect API); `tinyqa/api.py` calls them directly when
no Prefect API is configured (docs/orchestration.md). What differs between the two is handed
in: `attempt` (the id a retried attempt finds its checkpoint by: Prefect's task run id, or
one of `orchestration.attempt_id`), `shared` (a provider's Prefect concurrency limit, or
none), `publish` (Prefect artifacts, or none) and `alongside` (a Prefect task's submit, or a
thread's). This module imports nothing of Prefect.
"""
from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from tinyqa import config, phases, runinfo
from tinyqa.errors import InfraError, InputError, TinyQAError
from tinyqa.models import llm, local
from tinyqa.pack import resolve_packs
from tinyqa.reports.checkpoint import Checkpoint
from tinyqa.suites import drift as drift_suite
from tinyqa.suites import gate as gate_suite
from tinyqa.suites import qa, tokenizers
from tinyqa.suites.result import Check, GateResult, RunResult
from tinyqa.suites.templates import DEFAULT, load_template

# The smoke floor: SmolLM2-135M passes it honestly on core_en (README, "Thresholds").
SMOKE_MIN_CONTAINS = 0.30

Publish = Callable[[RunResult, str], None]


@contextlib.contextmanager
def reach(model: str, api_base: str | None, settings: dict | None = None,
          shared: Callable[[str], object] | None = None):
    """The Target for `model` with its configured settings (and `shared(limit_name)`, the
    provider's Prefect limit, where there is one), serving the embedded model for as long as
    it is needed. `settings` are the model's tinyqa.toml settings as read where the run
    started (a task on a Dask or Ray worker elsewhere has no tinyqa.toml); read here when None."""
    settings = dict(config.model_settings(model) if settings is None else settings)
    configured = settings.pop("api_base", None)
    api_base = api_base or configured
    if model == llm.LOCAL:
        with local.serve() as base:
            yield dataclasses.replace(llm.target(model, base), **settings)
    else:
        t = llm.target(model, api_base)
        yield dataclasses.replace(t, **settings, shared_limit=shared(t.limit_name) if shared else None)


def save(reports: str, result: RunResult, publish: Publish | None = None) -> None:
    """Write the run's reports (with retries and a timeout: store.save_run), drop its
    checkpoint, publish it. When the store cannot be written, the checkpoint stays and the
    error says how to finish the run."""
    from tinyqa.reports import store

    try:
        store.save_run(reports, result)
    except InfraError as e:
        if Checkpoint.path_for(reports, result.run_id).is_file():
            hint = "" if str(reports) == "reports" else f" --reports {reports}"
            raise InfraError(f"{e}; its answers are kept: finish it with "
                             f"`tinyqa run --resume {result.run_id}{hint}`") from e
        raise
    Checkpoint.discard(reports, result.run_id)
    if publish is not None:
        publish(result, reports)


def transient(error: BaseException) -> bool:
    """A failure worth another attempt: not one tinyqa explains (bad input, a failed check, a
    provider that refuses, a store that stopped answering)."""
    return not isinstance(error, TinyQAError)


def tiny_qa(model: str, packs: list[str], api_base: str | None = None, template: str = DEFAULT,
            concurrency: int | None = None, use_cache: bool = True, reports: str = "reports",
            resume: str | None = None, floors: gate_suite.Thresholds | None = None, write: bool = True,
            settings: dict | None = None, *, attempt: str | None = None,
            shared: Callable[[str], object] | None = None, publish: Publish | None = None) -> RunResult:
    """Ask every item of `packs` of `model`, score, check `floors` and (with `write`) write the
    runs/items/metrics reports. Answers are checkpointed as they come; `resume` finishes an
    interrupted run (its settings come from its checkpoint), as does another `attempt` of the
    same call: the items its failed attempt answered are not asked again."""
    phases.mark("task started")
    resume = resume or Checkpoint.of_task_run(reports, attempt)
    if resume:
        checkpoint = Checkpoint.load(reports, resume)
        model, packs, template = (checkpoint.meta[k] for k in ("model", "packs", "template"))
        api_base = checkpoint.resume_api_base(api_base)
        run_id, started = resume, datetime.fromisoformat(checkpoint.meta["started_at"])
    pack_objs = resolve_packs(packs)
    tmpl = load_template(template)
    if not resume:
        started = runinfo.now()
        run_id = runinfo.new_run_id(started)
        checkpoint = Checkpoint.create(reports, run_id, {"model": model, "packs": packs, "api_base": api_base,
                                                         "template": template, "started_at": started.isoformat(),
                                                         "task_run_id": attempt})
    phases.prefetch("tinyqa.reports.store")   # pyarrow, for `save`, while the answers come
    try:
        with reach(model, api_base, settings, shared) as target:
            result = qa.run(run_id, started, model, pack_objs, target, tmpl, concurrency=concurrency,
                            use_cache=use_cache, checkpoint=checkpoint)
    except BaseException:
        if not checkpoint.answered():   # nothing to resume
            checkpoint.remove()
        raise
    finally:
        checkpoint.close()
    if floors is not None:
        result.checks += gate_suite.floors(result.items, floors)
    if write:
        save(reports, result, publish)
    return result


def tokenizer_drift(tokenizer: str, packs: list[str] | None = None, baseline: str | None = None,
                    reports: str = "reports", max_changed: int = 0) -> RunResult:
    """The drift suite for `tokenizer` on `packs` against `baseline`, its reports written."""
    result = drift_suite.run(tokenizer, packs, Path(baseline) if baseline else None,
                             limits=drift_suite.Limits(max_changed=max_changed))
    from tinyqa.reports import store

    store.save_run(reports, result)
    return result


def lmeval(settings, reports: str) -> RunResult:
    """lm-eval for `settings` (suites/lmeval.Settings), its reports written."""
    from tinyqa.reports import store
    from tinyqa.suites import lmeval as lmeval_suite

    result = lmeval_suite.run(settings)
    store.save_run(reports, result)
    return result


def gate(model: str, packs: list[str], baseline: str | None, template: str, tokenizer: str | None,
         drift_baseline: str | None, repeats: int, thresholds: gate_suite.Thresholds, reports: str, *,
         ask: Callable[[], RunResult], alongside: Callable[..., object], publish: Publish | None = None,
         strict_baseline: bool = False, quarantine: bool = False) -> GateResult:
    """Drift (when the tokenizer can be had offline) submitted `alongside` tiny QA (`ask()`,
    `repeats` times: per-item majority), then the checks against the baseline; the runs
    written with the verdict as their status (a failed gate is nobody's baseline). A baseline
    made with another template, decoding or scorer version is named (an InputError with
    `strict_baseline`, before any request where it can be told then); flaky items are listed
    and, with `quarantine`, left out of the drop test."""
    from tinyqa.reports import history

    t = thresholds
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
        drift_future = alongside(tokenizer, packs, str(drift_base) if drift_base else None, reports,
                                 max_changed=t.max_drifted)
    runs = [ask() for _ in range(repeats)]
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
                                               f"{drift.details.items} items fingerprinted (no baseline to compare)")]
    result = GateResult(model, checks, runs, drift, chosen, notices + list(runs[0].notices), drift_note)
    for r in runs:
        r.checks = checks
        save(reports, r, publish)
    return result


async def generate(spec, api_base: str | None = None, out: str | None = None, allow_partial: bool = False,
                   force: bool = False, use_cache: bool = True, ask_batch=None, write=None,
                   shared: Callable[[str], object] | None = None):
    """Generate what `spec` asks for (generators/generate.make_spec checks it) in rounds of
    (language, batch) requests (`ask_batch(target, request, use_cache)`, a Prefect task on
    Prefect), and write it to `out` (`write(outcome, out, force)`) when every language got its
    share (or, with `allow_partial`, whatever valid items were obtained). Returns the run's
    result (generators/generate.GenerateResult: the summary, and `written`, the folder or None)."""
    from tinyqa.generators import generate as gen
    from tinyqa.models.cache import ResponseCache

    async def ask_here(target, request, use_cache):
        return await gen.ask_one(target, request, ResponseCache() if use_cache else None)

    ask_batch = ask_batch or ask_here
    with reach(spec.model, api_base, shared=shared) as target:
        ask = gen.gathering(target, lambda r: ask_batch(target, r, use_cache))
        outcome = await gen.generate(spec, target, ask)
    written = None
    if out and outcome.items and (outcome.complete or allow_partial):
        written = write(outcome, out, force) if write else str(gen.write_pack(outcome, Path(out), force=force))
    return gen.GenerateResult(**outcome.summary(), written=written)
