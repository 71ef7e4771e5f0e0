"""The command line's Typer apps and the options its commands share."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Tiny multilingual QA packs, tokenizer drift and lm-eval suites as a model gate.")
lmeval_app = typer.Typer(no_args_is_help=False)
app.add_typer(lmeval_app, name="lmeval")
baseline_app = typer.Typer(help="Gate baselines: make one from a stored run.", no_args_is_help=True)
app.add_typer(baseline_app, name="baseline")

def _version(value: bool) -> None:
    if value:
        from tinyqa import __version__

        print(f"tinyqa {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                   help="Print tinyqa's version and exit.")] = False) -> None:
    pass


Reports = Annotated[str, typer.Option("--reports", help="Report store: a folder or a filesystem URL (s3://…, gs://…).")]
PacksOpt = Annotated[str, typer.Option("--packs", help="Pack ids or pack folders, comma-separated.")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Ask the model even when a cached answer exists.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's logs.")]
ModelOpt = Annotated[str, typer.Option(help="LiteLLM model string, or `local` for the embedded model.")]
ApiBase = Annotated[Optional[str], typer.Option(help="Base URL of an OpenAI-compatible (or the provider's own) server.")]
PrefectOpt = Annotated[Optional[bool], typer.Option(
    "--prefect/--no-prefect", help="Run as Prefect flows (default: when a Prefect API is configured: "
                                   "PREFECT_API_URL or the active profile's; otherwise in this process).")]


def metric_names() -> str:
    from tinyqa.suites.scoring import PROPORTIONS

    return ", ".join(PROPORTIONS)
