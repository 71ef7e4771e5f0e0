"""`tinyqa lmeval` and `tinyqa lmeval mirror`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from tinyqa import api
from tinyqa.cli.base import lmeval_app, PrefectOpt, Reports
from tinyqa.cli import render
from tinyqa.cli.render import out
from tinyqa.errors import InputError
from tinyqa.settings import DEFAULT_REPORTS


DatasetsOpt = Annotated[Optional[str], typer.Option(
    "--datasets", envvar="TINYQA_DATASETS", show_envvar=True,
    help="A dataset mirror folder (`tinyqa lmeval mirror` builds one) or a Hugging Face datasets cache: "
         "lm-eval's tasks read their data there, offline.")]


@lmeval_app.callback(invoke_without_command=True)
def lmeval_cmd(
    ctx: typer.Context,
    model: Annotated[Optional[str], typer.Option(help="`local` (the embedded model), the model an --api-base server serves "
                                                      "(openai/NAME sends NAME), or for hf/vllm a model folder or GGUF file.")] = None,
    tasks: Annotated[Optional[str], typer.Option(help="lm-eval tasks and tinyqa packs (tinyqa_core_en or a pack folder), comma-separated.")] = None,
    api_base: Annotated[Optional[str], typer.Option(help="Base URL of an OpenAI-compatible server (…/v1).")] = None,
    backend: Annotated[Optional[str], typer.Option(help="local-chat-completions (the default), local-completions, hf or vllm.")] = None,
    datasets: DatasetsOpt = None,
    limit: Annotated[Optional[float], typer.Option(help="Docs per task (a fraction of each below 1).")] = None,
    batch_size: Annotated[Optional[str], typer.Option(help="A number, auto or auto:N (default 1 on API backends and the CPU, auto on a GPU).")] = None,
    num_fewshot: Annotated[Optional[int], typer.Option(min=0, help="Few-shot examples (default: each task's own).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for lm-eval's samplers and the model.")] = 1234,
    chat_template: Annotated[Optional[bool], typer.Option("--chat-template/--no-chat-template", help="Apply the chat template (default: on for local-chat-completions only).")] = None,
    concurrency: Annotated[Optional[int], typer.Option(min=1, max=256, help="Requests in flight on API backends (default 1 for `local`, else 8).")] = None,
    device: Annotated[Optional[str], typer.Option(help="hf's device: cuda, cuda:N, cpu (default: cuda when the machine has a GPU, else cpu).")] = None,
    model_args: Annotated[Optional[str], typer.Option(help="More lm-eval model arguments, k=v,k=v (override tinyqa's).")] = None,
    allow_hub: Annotated[bool, typer.Option("--allow-hub", help="Let lm-eval download datasets and models from the Hugging Face Hub.")] = False,
    reports: Reports = DEFAULT_REPORTS,
    prefect: PrefectOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show lm-eval's and Prefect's logs and progress bars.")] = False,
) -> None:
    """Full lm-evaluation-harness suites (and tinyqa packs as lm-eval tasks) on any model;
    metrics and items go to the report store. Offline unless --allow-hub; datasets from
    --datasets (`tinyqa lmeval mirror` builds that folder on a connected machine)."""
    if ctx.invoked_subcommand is not None:
        return
    if model is None or tasks is None:
        raise InputError(f"--{'model' if model is None else 'tasks'} is required "
                         "(`tinyqa lmeval --model M --tasks T`, or `tinyqa lmeval mirror --tasks T --out DIR`)")
    from tinyqa.suites import lmeval

    result = api.lmeval(model, tasks, backend, reports, prefect=prefect, verbose=verbose, api_base=api_base,
                        limit=lmeval.parse_limit(limit), batch_size=lmeval.parse_batch_size(batch_size),
                        num_fewshot=num_fewshot, seed=seed, chat_template=chat_template, concurrency=concurrency,
                        model_args=lmeval.parse_model_args(model_args), allow_hub=allow_hub, datasets=datasets,
                        device=device)
    render.lmeval(result, model, backend or lmeval.DEFAULT_BACKEND, reports)


@lmeval_app.command("mirror")
def lmeval_mirror_cmd(
    tasks: Annotated[str, typer.Option(help="lm-eval tasks or groups whose datasets to mirror, comma-separated.")],
    out_dir: Annotated[Path, typer.Option("--out", help="The mirror folder (created, or added to: a dataset mirrored again is rewritten).")],
    source: Annotated[Optional[Path], typer.Option("--from", help="Read the datasets offline from this mirror or Hugging Face "
                                                                  "datasets cache instead of the Hub.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show the datasets library's logs and progress bars.")] = False,
) -> None:
    """Build a dataset mirror on a machine that reaches the Hugging Face Hub: each dataset the
    tasks load, every split as Parquet under OUT/<dataset>/<config>/, with a manifest
    (tinyqa-mirror.json). Copy OUT to the offline machine and pass it as --datasets."""
    from tinyqa.suites import lmeval_mirror

    names = [t.strip() for t in tasks.split(",") if t.strip()]
    if not names:
        raise InputError("--tasks: give at least one lm-eval task (arc_easy, gsm8k, mmlu, ...)")
    if source is not None and not source.is_dir():
        raise InputError(f"--from {source}: no such folder")
    manifest = lmeval_mirror.build(names, out_dir, source, verbose)
    table = Table("dataset", "config", "tasks", "splits (rows)")
    for d in manifest["datasets"]:
        table.add_row(d["path"], d["name"] or "-", ", ".join(d["tasks"][:4]) + (" …" if len(d["tasks"]) > 4 else ""),
                      ", ".join(f"{k} {v['rows']}" for k, v in d["splits"].items()))
    out.print(table)
    if manifest["skipped"]:
        out.print(f"not mirrored (their data is not a Hub dataset lm-eval's config names): "
                  f"{', '.join(manifest['skipped'])}", markup=False)
    out.print(f"mirror written to {out_dir}/ ({len(manifest['datasets'])} dataset config(s)); run with "
              f"--datasets {out_dir}", markup=False)


