"""`tinyqa drift`: a tokenizer's fingerprint against its baseline."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tinyqa import api
from tinyqa.cli.base import app, Reports
from tinyqa.cli import render
from tinyqa.settings import DEFAULT_REPORTS


@app.command()
def drift(
    tokenizer: Annotated[str, typer.Option(help="`local`, `gemma3-270m`, a .gguf / tokenizer.json / tokenizer folder, "
                                                "tiktoken:NAME, or a model name or string resolvable offline.")],
    packs: Annotated[Optional[str], typer.Option(help="Pack ids or folders, comma-separated (default: every shipped pack).")] = None,
    baseline: Annotated[Optional[Path], typer.Option(help="Compare with this baseline file; exit 1 on drift.")] = None,
    write_baseline: Annotated[Optional[Path], typer.Option(help="Write the fingerprint here as a new baseline.")] = None,
    max_changed: Annotated[int, typer.Option(min=0, help="Items allowed to tokenize differently.")] = 0,
    max_metric_delta: Annotated[float, typer.Option(min=0, help="Allowed metric change: absolute for rates, relative above 1.")] = 0.01,
    fail_on_identity: Annotated[bool, typer.Option(help="Fail when an identity part (vocab, merges, template, ...) changed.")] = True,
    show: Annotated[int, typer.Option(min=0, help="Changed items to print.")] = 20,
    reports: Reports = DEFAULT_REPORTS,
) -> None:
    """Tokenizer drift: fingerprint a tokenizer on the packs (no model is called), show its
    per-language metrics, compare with a baseline (exit 0 no drift, 1 drift) and write reports.
    Regenerate the shipped baseline: `tinyqa drift --tokenizer local --write-baseline packs/baselines/drift-local.json`."""
    res = api.drift(tokenizer, packs, baseline, write_baseline, max_changed, max_metric_delta, fail_on_identity, reports)
    render.drift(res, baseline, reports, show)
