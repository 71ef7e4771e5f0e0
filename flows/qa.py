"""The tiny QA flows: `qa_run` (any model, any packs) and `smoke` (the embedded model on core_en).

All the work is one task, `tiny-qa` (flows/steps.tiny_qa: ask, score, check the floors and
write the reports), so that the nightly flow can fan it out over a Dask or Ray cluster
(model × pack); each run writes its own report files, atomically. The gate asks it not to
write, and writes the run once its verdict is known (`save`). On Prefect the task adds its
retries, the provider's global concurrency limit and the run's artifacts.
"""
from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run as this_task_run
from pydantic import SecretStr

from tinyqa import orchestration, phases, prefect_api, runinfo
from tinyqa.flows import steps
from tinyqa.flows.steps import SMOKE_MIN_CONTAINS
from tinyqa.models import llm
from tinyqa.models.ratelimit import SharedLimit
from tinyqa.suites import gate
from tinyqa.suites.result import RunResult
from tinyqa.suites.templates import DEFAULT

__all__ = ["SMOKE_MIN_CONTAINS", "publish", "qa_run", "reach", "save", "shared_limit", "smoke", "tiny_qa"]


def shared_limit(name: str) -> SharedLimit | None:
    """The Prefect global concurrency limit `name`, when the API is a server of one's own
    (`prefect gcl create tinyqa-openai --limit 8`; add `--slot-decay-per-second` for a rate
    limit) and the limit exists and is active. A command's temporary API has none."""
    if prefect_api.temporary():
        return None
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            gcl = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            return None
    return SharedLimit(name, decays=bool(gcl.slot_decay_per_second)) if gcl.active else None


def reach(model: str, api_base: str | None, settings: dict | None = None):
    """steps.reach with the provider's Prefect limit."""
    return steps.reach(model, api_base, settings, shared_limit)


def publish(result: RunResult, reports: str) -> None:
    """A markdown summary and a metrics table on the Prefect run, linking the dashboard."""
    run = result.run
    summary = [m for m in result.metrics if m["slice"] == "all" and m["metric"] in ("em", "contains", "errors")]
    lines = [f"### tinyqa {run['run_id']} · {run['model']} · {run['status']}", "",
             "| pack | metric | value | n | 95% CI |", "|---|---|---|---|---|"]
    for m in summary:
        ci = f"{m['ci_low']:.2f}–{m['ci_high']:.2f}" if m["ci_low"] is not None else ""
        value = "" if m["value"] is None else f"{m['value']:.3f}"
        lines.append(f"| {m['pack_id']} | {m['metric']} | {value} | {m['n']} | {ci} |")
    lines += [f"- {n}" for n in result.notices]
    lines += ["", f"Dashboard: `tinyqa report --reports {reports} --out site/` then open site/index.html"]
    key = "tinyqa-" + "".join(c if c.isalnum() else "-" for c in run["model"].lower())[:80]
    create_markdown_artifact("\n".join(lines), key=key, description=f"tinyqa run {run['run_id']}")
    create_table_artifact([{k: m[k] for k in ("pack_id", "slice", "metric", "value", "n", "ci_low", "ci_high")}
                           for m in result.metrics], key=f"{key}-metrics", description="tinyqa metrics")


def save(reports: str, result: RunResult) -> None:
    """Write the run's reports, drop its checkpoint, publish its artifacts."""
    steps.save(reports, result, publish)


def transient(_task, _task_run, state) -> bool:
    """Retry a task that failed unexpectedly (a crash, the store unreachable); never one that
    failed with an error tinyqa explains (bad input, a failed check, a provider that refuses)."""
    return steps.transient(state.result(raise_on_failure=False))


@task(name="tiny-qa", cache_policy=NO_CACHE, retries=len(orchestration.RETRY_DELAYS_S),
      retry_delay_seconds=list(orchestration.RETRY_DELAYS_S), retry_condition_fn=transient)
def tiny_qa(model: str, packs: list[str], api_base: str | None = None, template: str = DEFAULT,
            concurrency: int | None = None, use_cache: bool = True, reports: str = "reports",
            resume: str | None = None, floors: gate.Thresholds | None = None, write: bool = True,
            settings: dict | None = None) -> RunResult:
    """steps.tiny_qa as a Prefect task: a retry finds its checkpoint by the task run's id; the
    provider's global concurrency limit is held; the summary is published as artifacts.
    `settings`: the model's tinyqa.toml settings, when the caller read them (the nightly, for
    workers on other machines); else read from this process's tinyqa.toml."""
    return steps.tiny_qa(model, packs, api_base, template, concurrency, use_cache, reports, resume, floors, write,
                         settings, attempt=this_task_run.get_id(), shared=shared_limit, publish=publish)


@flow(name="qa-run")
def qa_run(model: str | None, packs: list[str] | None, api_base: SecretStr | None = None, template: str = DEFAULT,
           concurrency: int | None = None, use_cache: bool = True, reports: str = str(Path("reports")),
           resume: str | None = None, min_em: float = 0.0, min_contains: float = 0.0) -> RunResult:
    """Tiny QA on any model and packs, reports written, floors checked; or finish the
    interrupted run `resume`."""
    phases.mark("flow started")
    return tiny_qa(model, packs, runinfo.revealed(api_base), template, concurrency, use_cache, reports,
                   resume, gate.Thresholds(min_em=min_em, min_contains=min_contains))


@flow(name="smoke")
def smoke(packs: list[str] = ["core_en"], use_cache: bool = True,  # noqa: B006
          reports: str = str(Path("reports")), min_contains: float = SMOKE_MIN_CONTAINS) -> RunResult:
    """The main job: the embedded local model on the gold set, reports written, its floor checked."""
    return tiny_qa(llm.LOCAL, packs, use_cache=use_cache, reports=reports,
                   floors=gate.Thresholds(min_contains=min_contains))
