"""The operations every front end calls: the `tinyqa` commands (tinyqa/cli/), the pytest
plugin, the CI action (through the command). Each checks its inputs (a problem is an
InputError, exit 2, before anything starts), resolves its settings once (flags over
tinyqa.toml over the defaults), runs its suite and returns the typed result; rendering it is
the front end's.

Where it runs (tinyqa/orchestration.py): with a Prefect API configured (or `prefect=True`),
as the flows of flows/ on it, as the deployments run them; without one, the same steps
(flows/steps.py) in this process, without importing Prefect. `own_process=False` is for a
caller in a process of the user's own (the pytest plugin): nothing started there but the
run, and no environment variable set.
"""
from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from pathlib import Path

from tinyqa import orchestration, phases, runinfo, startup
from tinyqa.errors import InputError
from tinyqa.settings import DEFAULT_REPORTS

DEFAULT_PACKS = ("core_en",)
DEFAULT_TEMPLATE = "qa-v1"   # suites/templates.DEFAULT, without importing the suites


def pack_list(packs: str | Sequence[str] | None, default: Sequence[str] | None = DEFAULT_PACKS) -> list[str] | None:
    """Packs as the front ends take them (comma-separated, or a list) as a list."""
    if not packs:
        return list(default) if default is not None else None
    return [p for p in packs.split(",") if p] if isinstance(packs, str) else list(packs)


# --- tiny QA ----------------------------------------------------------------------------------

def _tiny_qa_here(model: str, packs: list[str], api_base: str | None, template: str, *, reports: str,
                  concurrency: int | None = None, use_cache: bool = True, resume: str | None = None,
                  floors=None, write: bool = True):
    """The tiny-qa task in this process, with the task's retries: another attempt resumes from
    the checkpoint of the first."""
    from tinyqa.flows import steps

    attempt = orchestration.attempt_id()
    phases.mark("flow started")
    return orchestration.retrying(
        lambda: steps.tiny_qa(model, packs, api_base, template, concurrency, use_cache, reports, resume, floors,
                              write, attempt=attempt), steps.transient)


def run(model: str | None = None, packs: str | Sequence[str] | None = None, api_base: str | None = None,
        template: str = DEFAULT_TEMPLATE, concurrency: int | None = None, use_cache: bool = True,
        reports: str = DEFAULT_REPORTS, resume: str | None = None, min_em: float = 0.0, min_contains: float = 0.0,
        prefect: bool | None = None, verbose: bool = False, own_process: bool = True):
    """Tiny QA on any model and packs, reports written, floors checked (`tinyqa run`); or
    finish the interrupted run `resume` (its model, packs and template from its checkpoint)."""
    if resume:
        from tinyqa.reports.checkpoint import Checkpoint

        checkpoint = Checkpoint.load(reports, resume)
        meta, api_base = checkpoint.meta, checkpoint.resume_api_base(api_base)
        model, packs, template = meta["model"], list(meta["packs"]), meta["template"]
    elif model is None:
        raise InputError("--model is required (or --resume RUN_ID)")
    packs = pack_list(packs)
    startup.check_run_inputs(model, packs, api_base, template)
    if orchestration.use_prefect(prefect):
        startup.start_flows(verbose, model, api_base, own_process)
        from tinyqa.flows.qa import qa_run

        phases.mark("flows imported")
        return qa_run(model=model, packs=packs, api_base=runinfo.hidden(api_base), template=template,
                      concurrency=concurrency, use_cache=use_cache, reports=reports, resume=resume,
                      min_em=min_em, min_contains=min_contains)
    startup.start_local(model, api_base)
    from tinyqa.suites.gate import Thresholds

    return _tiny_qa_here(model, packs, api_base, template, reports=reports, concurrency=concurrency,
                         use_cache=use_cache, resume=resume, floors=Thresholds(min_em=min_em, min_contains=min_contains))


def smoke(packs: str | Sequence[str] | None = None, use_cache: bool = True, reports: str = DEFAULT_REPORTS,
          min_contains: float | None = None, prefect: bool | None = None, verbose: bool = False):
    """The main job: the embedded model on the packs (core_en), reports written, its floor
    (default flows/steps.SMOKE_MIN_CONTAINS) checked (`tinyqa smoke`)."""
    packs = pack_list(packs)
    startup.check_run_inputs("local", packs, None, DEFAULT_TEMPLATE)
    if orchestration.use_prefect(prefect):
        startup.start_flows(verbose)
        from tinyqa.flows.qa import smoke as smoke_flow

        floor = {} if min_contains is None else {"min_contains": min_contains}
        return smoke_flow(packs=packs, use_cache=use_cache, reports=reports, **floor)
    startup.start_local()
    from tinyqa.flows.steps import SMOKE_MIN_CONTAINS
    from tinyqa.suites.gate import Thresholds

    floors = Thresholds(min_contains=SMOKE_MIN_CONTAINS if min_contains is None else min_contains)
    return _tiny_qa_here("local", packs, None, DEFAULT_TEMPLATE, reports=reports, use_cache=use_cache, floors=floors)


# --- the gate ---------------------------------------------------------------------------------

def check_cost(estimate, max_usd: float | None) -> None:
    """An InputError when `estimate` is above `max_usd`, or unknown while `max_usd` is set."""
    if max_usd is None:
        return
    if max_usd < 0:
        raise InputError(f"--max-usd: {max_usd:g} is below 0")
    if estimate.usd is None:
        raise InputError(f"--max-usd {max_usd:g}: LiteLLM has no price for {estimate.model}, "
                         "so the cost cannot be bounded; nothing was asked")
    if estimate.usd > max_usd:
        raise InputError(f"--max-usd {max_usd:g}: the expected cost ${estimate.usd:.4f} is above it; nothing was asked")


def gate(model: str, packs: str | Sequence[str] | None = None, baseline: str | Path | None = None,
         api_base: str | None = None, template: str = DEFAULT_TEMPLATE, tokenizer: str | None = None,
         drift_baseline: str | Path | None = None, repeats: int = 1, overrides: dict | None = None,
         use_cache: bool = True, reports: str = DEFAULT_REPORTS, prefect: bool | None = None,
         verbose: bool = False, own_process: bool = True, strict_baseline: bool = False,
         quarantine: bool = False, max_usd: float | None = None,
         on_estimate: Callable[[object], None] | None = None):
    """The pull-request gate (`tinyqa gate`, the pytest plugin's gate): thresholds ([gate] of
    tinyqa.toml with `overrides`), the baseline file, the inputs and the expected cost (handed
    to `on_estimate`, refused above `max_usd`), all checked before anything starts; then drift
    alongside tiny QA and the verdict (a GateResult, its `estimate` set). `strict_baseline`
    refuses a baseline made differently; `quarantine` leaves flaky items out of the drop test."""
    from tinyqa.suites import gate as gate_suite

    packs = pack_list(packs)
    baseline = str(baseline) if baseline else None
    drift_baseline = str(drift_baseline) if drift_baseline else None
    from tinyqa import config
    from tinyqa.models import cost

    read_packs, read_template = startup.check_run_inputs(model, packs, api_base, template)
    thresholds = gate_suite.thresholds(overrides)
    if baseline:
        gate_suite.load_baseline(Path(baseline))
    # LiteLLM's price table times the tokens asked for (`usd` None where it has no price)
    estimate = cost.estimate(model, read_packs, read_template, repeats, config.model_settings(model).get("max_tokens"))
    if on_estimate is not None:   # before the first request, and before a refusal says why
        on_estimate(estimate)
    check_cost(estimate, max_usd)
    if orchestration.use_prefect(prefect):
        startup.start_flows(verbose, model, api_base, own_process)
        from tinyqa.flows.gate import gate as gate_flow

        result = gate_flow(model=model, packs=packs, baseline=baseline, api_base=runinfo.hidden(api_base),
                           template=template, tokenizer=tokenizer, drift_baseline=drift_baseline, repeats=repeats,
                           overrides=overrides, use_cache=use_cache, reports=reports,
                           strict_baseline=strict_baseline, quarantine=quarantine)
    else:
        startup.start_local(model, api_base)
        from tinyqa.flows import steps

        # drift beside tiny QA on a thread, as the flow submits it as a task
        with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="tinyqa") as pool:
            result = steps.gate(
                model, packs, baseline, template, tokenizer, drift_baseline, repeats, thresholds, reports,
                alongside=lambda *a, **kw: pool.submit(steps.tokenizer_drift, *a, **kw),
                ask=lambda: _tiny_qa_here(model, packs, api_base, template, reports=reports,
                                          use_cache=use_cache and repeats == 1, write=False),
                strict_baseline=strict_baseline, quarantine=quarantine)
    result.estimate = estimate
    return result


# --- the commands that ask no model -------------------------------------------------------------

def drift(tokenizer: str, packs: str | Sequence[str] | None = None, baseline: Path | None = None,
          write_baseline: Path | None = None, max_changed: int = 0, max_metric_delta: float = 0.01,
          fail_on_identity: bool = True, reports: str = DEFAULT_REPORTS):
    """Tokenizer drift (`tinyqa drift`): fingerprint, compare with `baseline`, write the
    reports (and a new baseline to `write_baseline`). In process: it takes well under a second."""
    from tinyqa.reports import store
    from tinyqa.suites import drift as drift_suite

    res = drift_suite.run(tokenizer, pack_list(packs, None), baseline, write_baseline,
                          drift_suite.Limits(max_changed, max_metric_delta, fail_on_identity))
    store.save_run(reports, res)
    return res


def validate(paths: Sequence[Path]) -> dict[Path, list[str]]:
    """Every problem of each pack folder under `paths` (`tinyqa validate`): none means valid."""
    from tinyqa.validators.validate import pack_dirs, validate_pack

    return {d: validate_pack(d) for d in pack_dirs(list(paths))}


# --- lm-eval, the generator, the nightly --------------------------------------------------------

def lmeval(model: str, tasks: str | Sequence[str], backend: str | None = None, reports: str = DEFAULT_REPORTS,
           prefect: bool | None = None, verbose: bool = False, **options):
    """lm-eval suites on a model (`tinyqa lmeval`): its settings (suites/lmeval.Settings, the
    backend's default there) checked, then run and written."""
    from tinyqa.suites import lmeval as lmeval_suite

    tasks = tuple(pack_list(tasks, ()))
    settings = lmeval_suite.Settings(model=model, tasks=tasks, backend=backend or lmeval_suite.DEFAULT_BACKEND,
                                     verbose=verbose, **options)
    lmeval_suite.check(settings)
    if orchestration.use_prefect(prefect):
        startup.start_flows(verbose)
        from tinyqa.flows.lmeval import lmeval_suite as flow

        return flow(settings, reports)
    from tinyqa.flows import steps

    return steps.lmeval(settings, reports)


def generate(spec, out: Path | None = None, api_base: str | None = None, allow_partial: bool = False,
             force: bool = False, use_cache: bool = True, str_output: bool = False,
             prefect: bool | None = None, verbose: bool = False):
    """Generate a pack (`tinyqa generate`) for `spec` (generators/generate.make_spec checks
    it): its summary, with `written` (the folder, or None)."""
    import asyncio

    from tinyqa.generators import generate as gen

    gen.check_out(out, force=force, str_output=str_output)
    if orchestration.use_prefect(prefect):
        startup.start_flows(verbose)
        from tinyqa.flows.generate import generate_pack

        return asyncio.run(generate_pack(spec, api_base=runinfo.hidden(api_base), out=str(out) if out else None,
                                         allow_partial=allow_partial, force=force, use_cache=use_cache))
    startup.start_local()
    from tinyqa.flows import steps

    return asyncio.run(steps.generate(spec, api_base, str(out) if out else None, allow_partial, force, use_cache))


def nightly(models: str | Sequence[str] | None = None, packs: str | Sequence[str] | None = None,
            lmeval_tasks: str | Sequence[str] | None = None, lmeval_backend: str | None = None,
            lmeval_datasets: str | None = None, lmeval_limit: float | None = None, task_runner: str | None = None,
            reports: str = DEFAULT_REPORTS, site: str | Path | None = "site", verbose: bool = False):
    """What the nightly deployment runs (`tinyqa nightly`), always on Prefect (its task runner
    fans the runs out): the plan's defaults resolved once (config.nightly_plan), the models
    checked, then the flow."""
    from tinyqa import config
    from tinyqa.flows.runners import task_runner as runner
    from tinyqa.pack import locate_packs

    fan_out = runner(task_runner)
    plan = config.nightly_plan(pack_list(models, None), pack_list(packs, None), pack_list(lmeval_tasks, None),
                               lmeval_backend, lmeval_datasets, lmeval_limit)
    if packs:
        locate_packs(plan.packs)   # what is in them is the nightly's first check (exit 1)
    for model in plan.models:
        startup.check_model_cheaply(model, None)
    startup.start_flows(verbose)
    from tinyqa.flows.nightly import nightly as nightly_flow

    return nightly_flow.with_options(task_runner=fan_out)(
        models=plan.models, packs=plan.packs, lmeval_tasks=plan.lmeval_tasks, reports=reports,
        site=str(site) if site else None, lmeval_backend=plan.lmeval_backend, lmeval_datasets=plan.lmeval_datasets,
        lmeval_limit=plan.lmeval_limit)
