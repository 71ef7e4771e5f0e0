"""What a process does before it runs an operation (tinyqa/api.py, for the `tinyqa` commands
and the pytest plugin): check its inputs cheaply (before anything starts); then, in process
(`start_local`), import LiteLLM and check the model; on Prefect (`start_flows`), the same while
the temporary Prefect API its flows report to starts, when no server is configured."""
from __future__ import annotations

import contextlib
import os

from tinyqa import phases, prefect_api

_process_settings = contextlib.ExitStack()


def check_model_cheaply(model: str, api_base: str | None) -> None:
    """What can be known of a model before LiteLLM is imported: the embedded model installed,
    a known provider's key in the environment (tinyqa.toml's api_base counts)."""
    from tinyqa import config
    from tinyqa.models import credentials, local

    if model == "local":
        local.require_server()
        local.gguf_path()
    else:
        credentials.check(model, api_base or config.model_settings(model).get("api_base"))


def check_run_inputs(model: str, packs: str | list[str], api_base: str | None, template: str):
    """Fail fast, before anything starts, on anything the user can fix; the packs and the
    template, read, for what else needs them before the run (the gate's cost estimate)."""
    from tinyqa.pack import resolve_packs
    from tinyqa.suites.templates import load_template

    read = resolve_packs(packs), load_template(template)
    check_model_cheaply(model, api_base)
    return read


def start_flows(verbose: bool, model: str | None = None, api_base: str | None = None, own_process: bool = True) -> None:
    """Once a command's inputs are checked: start its temporary Prefect API (if no server is
    configured) on the other core, import Prefect and LiteLLM meanwhile and check `model`
    with LiteLLM, then wait for the API. Prefect's logs at WARNING unless `verbose`, and no
    flow heartbeats (each sync flow would wait ~1 s joining its heartbeat thread). Not
    `own_process` (the pytest plugin, in the user's process): no server started, no
    environment variable set; the configured API is used."""
    phases.mark("inputs checked")
    if own_process:
        prefect_api.start()
    _imports(verbose, own_process)
    start_local(model, api_base)
    prefect_api.wait_ready()
    phases.mark("prefect API ready")
    if not verbose:   # a failure is reported once, by the caller; verbose shows Prefect's traceback
        import logging

        for name in ("prefect.task_runs", "prefect.flow_runs"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def _imports(verbose: bool, own_process: bool) -> None:
    if own_process:   # a process of the user's own (pytest's) keeps its environment
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "WARNING")
    import prefect.main  # noqa: F401  (configures Prefect's logging, which the levels below adjust)
    phases.mark("prefect imported")
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    _process_settings.enter_context(temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}))


def start_local(model: str | None = None, api_base: str | None = None) -> None:
    """Import LiteLLM and the client modules, and check `model` with LiteLLM (its provider
    known, its parameters supported): what a run needs before its first request."""
    phases.mark("inputs checked")
    from tinyqa.models import llm

    phases.mark("litellm imported")
    if model is not None and model != llm.LOCAL:
        from tinyqa import config

        llm.check_model(model, api_base or config.model_settings(model).get("api_base"))
    llm.preload()   # while the API server may still be starting
    phases.mark("client modules imported")
