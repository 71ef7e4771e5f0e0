"""The pack generator flow: `generate_pack` asks a model for items in rounds, one task per
(language, batch), checks them, and writes the pack when every language has its share.

The flow and its ask task are async: every request of the run shares one event loop (LiteLLM's
clients and logging worker stay on it), and a round's tasks run concurrently on it."""
from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed
from pydantic import SecretStr

from tinyqa import runinfo
from tinyqa.errors import TinyQAError
from tinyqa.flows import steps
from tinyqa.flows.qa import shared_limit
from tinyqa.generators import generate as gen
from tinyqa.models import llm
from tinyqa.models.cache import ResponseCache


@task(name="ask-batch", cache_policy=NO_CACHE, task_run_name="ask-{request.lang}-batch-{request.batch}")
async def ask_batch(target: llm.Target, request: gen.Request, use_cache: bool) -> llm.Answer:
    """One (language, batch) request; transient failures are retried inside `llm.complete`."""
    return await gen.ask_one(target, request, ResponseCache() if use_cache else None)


@task(name="write-pack", cache_policy=NO_CACHE)
def write_pack(outcome: gen.Outcome, out: str, force: bool) -> str:
    """Write the pack folder atomically, validated before it replaces `out`."""
    return str(gen.write_pack(outcome, Path(out), force=force))


@flow(name="generate-pack")
async def generate_pack(spec: gen.Spec, api_base: SecretStr | None = None, out: str | None = None,
                        allow_partial: bool = False, force: bool = False, use_cache: bool = True
                        ) -> gen.GenerateResult:
    """Generate what `spec` asks for (gen.make_spec checks it); write it to `out` when every
    language got its share (or, with `allow_partial`, whatever valid items were obtained).
    Returns a GenerateResult: the summary (`Outcome.summary`) and `written`, the folder or None."""
    try:
        return await steps.generate(spec, runinfo.revealed(api_base), out, allow_partial, force, use_cache,
                                    ask_batch=ask_batch, write=write_pack, shared=shared_limit)
    except TinyQAError as e:
        # An expected failure (bad input, endpoint down, a pack that fails validation): the run
        # fails with its one-line message and the caller gets the error, without a logged traceback.
        return Failed(message=str(e), data=e)
