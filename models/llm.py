"""Calling a model through LiteLLM: one async completion with retries, timing and usage.

A model is a LiteLLM model string (`openai/gpt-4o-mini`, `ollama/llama3`, `openai/x` with an
api_base) or `local` for the embedded model. API keys come from the provider's usual
environment variables and are handed to LiteLLM only; they never reach a report or a log.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import os
import random
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import litellm

from tinyqa import phases
from tinyqa.errors import InputError
from tinyqa.models import credentials
from tinyqa.models.cache import ResponseCache
from tinyqa.models.cache import key as cache_key
from tinyqa.models.ratelimit import SharedLimit, limiter
from tinyqa.runinfo import public_url
from tinyqa.text import ANSWER_MAX, clip, redact

LOCAL = "local"
# Deterministic decoding for every suite: same setup, same answers. Each provider is sent
# only what it takes (LiteLLM drops the rest: Anthropic takes no seed, OpenAI's reasoning
# models no temperature); `decoding()` says what that is, and runs record it.
PARAMS = {"temperature": 0.0, "seed": 1234, "max_tokens": 48}
# Reasoning models spend hidden tokens before the answer: 48 would leave them none.
REASONING_MAX_TOKENS = 2048

litellm.suppress_debug_info = True
litellm.telemetry = False


def _skip_file_id_mapping() -> None:
    """Every `litellm.completion` passes the messages through `update_messages_with_model_file_ids`
    (LiteLLM proxy's managed-file ids), which first imports `litellm.proxy._types`: 0.3-0.8 s of
    CPU on the first call, ahead of the first request, with every call in flight waiting on the
    import lock. It changes only `{"type": "file"}` content parts; for messages without list
    content (all of tinyqa's) it returns them untouched, so they skip it. Anything else still
    goes through LiteLLM's own function. Nothing changes if a LiteLLM release renames it."""
    import importlib

    main = importlib.import_module("litellm.main")
    update = getattr(main, "update_messages_with_model_file_ids", None)
    if update is None or getattr(update, "_tinyqa", False):
        return

    @functools.wraps(update)
    def plain_first(messages, *args, **kwargs):
        if isinstance(messages, list) and all(isinstance(m, dict) and not isinstance(m.get("content"), list)
                                              for m in messages):
            return messages
        return update(messages, *args, **kwargs)

    plain_first._tinyqa = True
    main.update_messages_with_model_file_ids = plain_first


_skip_file_id_mapping()


@dataclass(frozen=True)
class Target:
    """What is called (`model`, `api_base`), what reports show (`name`), and what identifies
    its answers in the response cache (`served_by`: the api_base, or the model file's hash)."""

    model: str
    api_base: str | None = None
    name: str | None = None
    served_by: str | None = None
    concurrency: int = 16
    rpm: float | None = None        # requests a minute to this provider; None: unlimited
    timeout: float = 60.0           # seconds per request
    shared_limit: SharedLimit | None = None   # a Prefect limit each request holds
    max_tokens: int | None = None   # the completion budget (tinyqa.toml), default by model kind

    @property
    def provider(self) -> str:
        return self.api_base or self.model.split("/", 1)[0]

    @property
    def limit_name(self) -> str:
        """The Prefect global concurrency limit for this provider, if one is created:
        `tinyqa-openai`, `tinyqa-anthropic`, or `tinyqa-<host>-<port>` for an api_base."""
        where = urlsplit(self.api_base).netloc.rpartition("@")[2] if self.api_base else self.provider
        return "tinyqa-" + re.sub(r"[^a-z0-9]+", "-", where.lower()).strip("-")

    @property
    def label(self) -> str:
        return self.name or self.model

    @property
    def identity(self) -> dict:
        """What the cache key holds: the model and where it is served, never a credential
        (the api_base without user, password or query string)."""
        return {"model": self.model, "served_by": self.served_by or public_url(self.api_base)}


def target(model: str, api_base: str | None = None) -> Target:
    """Check a model string offline and build its Target (for `local`, `api_base` is where
    the embedded model is served)."""
    if model == LOCAL:
        from tinyqa.models.local import MODEL_NAME, gguf_sha256

        # llama.cpp's server answers one request at a time: more in flight only queue there.
        return Target(f"openai/{MODEL_NAME}", api_base, name=LOCAL, served_by=f"gguf:{gguf_sha256()}",
                      concurrency=1)
    check_model(model, api_base)
    return Target(model, api_base)


def check_model(model: str, api_base: str | None) -> None:
    """InputError for a model string LiteLLM cannot place, or whose provider's credentials are
    not in the environment (`litellm.validate_environment`, less what `api_base` covers)."""
    try:
        _, provider, _, _ = litellm.get_llm_provider(model, api_base=api_base)
    except Exception:
        raise InputError(
            f"--model: unknown model {model!r}: use a LiteLLM model string such as "
            "openai/gpt-4o-mini, openai/NAME with --api-base URL, or `local`"
        ) from None
    if provider in credentials.KNOWN:
        credentials.check(model, api_base, provider)
        return
    named = litellm.validate_environment(model, api_base=api_base).get("missing_keys") or []
    gaps = credentials.missing(provider, (tuple(named),), api_base) if named else []
    if gaps:
        raise InputError(f"--model {model}: LiteLLM finds no credentials for {provider} in the environment "
                         f"(it looks for {', '.join(gaps[0])})")


@functools.lru_cache(maxsize=64)
def _reasoning(model: str) -> bool:
    try:
        return bool(litellm.supports_reasoning(model=model))
    except Exception:
        return False


def params_for(t: Target) -> dict:
    """The decoding parameters asked for: PARAMS, with the completion budget of the model's
    kind (REASONING_MAX_TOKENS for reasoning models) unless tinyqa.toml sets one."""
    budget = t.max_tokens or (REASONING_MAX_TOKENS if _reasoning(t.model) else PARAMS["max_tokens"])
    return {**PARAMS, "max_tokens": budget}


def decoding(t: Target, params: dict | None = None) -> tuple[dict, list[str]]:
    """What the provider is sent of `params` (default `params_for(t)`), in its own names as
    LiteLLM maps them, and a note for each parameter it does not take."""
    params = params or params_for(t)
    try:
        from litellm.utils import get_optional_params

        model, provider, _, _ = litellm.get_llm_provider(t.model, api_base=t.api_base)
        sent = get_optional_params(model=model, custom_llm_provider=provider, drop_params=True, **params)
    except Exception:   # a provider LiteLLM cannot map offline: sent as asked
        return dict(params), []
    sent = {k: v for k, v in sent.items() if k not in ("stream", "extra_body") and v is not None}
    mapped = {"max_tokens": ("max_tokens", "max_completion_tokens", "max_output_tokens", "maxTokens",
                             "num_predict", "maxOutputTokens")}
    notes = []
    for name in params:
        if not any(k in sent for k in mapped.get(name, (name,))):
            why = {"seed": "answers may differ between runs",
                   "temperature": "it samples at its own default"}.get(name, "")
            notes.append(f"{name} not sent: {t.label} does not take it{'; ' + why if why else ''}")
    return sent, notes


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _forget_loop() -> None:   # a forked child has the loop but not its thread
    global _loop
    _loop = None


os.register_at_fork(after_in_child=_forget_loop)


async def _in_context(coro, ctx: contextvars.Context):
    """`coro` as a task in the caller's context: Prefect's settings and run context go along."""
    return await asyncio.get_running_loop().create_task(coro, context=ctx)


def on_loop(coro):
    """Run `coro` (model calls) on the process's one event loop for them, from any thread, and
    return its result. One loop for the whole process: LiteLLM's logging worker and the rate
    limiters belong to a loop, so runs on several threads at once (the nightly fan-out) share
    it instead of each closing a loop of its own under the others."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="tinyqa-model-calls", daemon=True).start()
    future = asyncio.run_coroutine_threadsafe(_in_context(coro, contextvars.copy_context()), _loop)
    try:
        return future.result()
    except BaseException:   # e.g. Ctrl-C in the caller: the calls in flight are cancelled
        future.cancel()
        raise


def preload() -> None:
    """Import what LiteLLM's OpenAI client imports on the first call (about 0.5 s here), for a
    caller with time to spare: a command waiting for its Prefect API to start."""
    import openai.resources  # noqa: F401


def _api_key(t: Target) -> str | None:
    # An OpenAI-compatible server of one's own often needs no key, but the client wants one.
    if t.api_base and t.model.startswith("openai/") and not os.environ.get("OPENAI_API_KEY"):
        return "no-key"
    return None


RETRYABLE = (
    litellm.RateLimitError,
    litellm.Timeout,
    litellm.APIConnectionError,
    litellm.InternalServerError,
    litellm.ServiceUnavailableError,
    litellm.BadGatewayError,
    TimeoutError,   # the whole call outlived `timeout` (asyncio.wait_for)
)
# Refusals that no retry changes and that every request of a run meets alike: a bad key, an
# unknown model, a parameter the provider rejects. Item-specific refusals are not among them.
FATAL = (litellm.AuthenticationError, litellm.PermissionDeniedError, litellm.NotFoundError,
         litellm.BadRequestError)
ITEM_SPECIFIC = (litellm.ContextWindowExceededError, litellm.ContentPolicyViolationError)
# The longest wait a Retry-After header can impose before the next attempt, in seconds.
RETRY_AFTER_MAX = 60.0


@dataclass
class Answer:
    text: str | None
    latency_s: float
    attempts: int
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    error: str | None = None
    cached: bool = False
    fatal: bool = False   # the provider refused the request itself (key, model, parameter)
    chars: int | None = None     # the whole answer's length in characters (`text` keeps ANSWER_MAX)
    sha256: str | None = None    # the whole answer's sha256


def _retry_after(exc: Exception) -> float | None:
    """The Retry-After seconds the provider sent: LiteLLM keeps the real response headers in
    `litellm_response_headers` (its `response` is a stand-in without them)."""
    response = getattr(exc, "response", None)
    headers = getattr(exc, "litellm_response_headers", None) or getattr(response, "headers", None) or {}
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _redact(text: str, t: Target) -> str:
    """`text` with every credential in reach replaced by `***` (tinyqa/text.py's `redact`: key-like
    environment variables, the api_base's user, password and query, in every encoding).
    Providers echo keys in error messages; those messages are recorded."""
    return redact(text, [t.api_base] if t.api_base else [])


def _error(exc: Exception, t: Target) -> str:
    """One line for the items table: the exception's type and its first line, redacted, then cut."""
    first = _redact(str(exc).splitlines()[0], t)[:300] if str(exc) else ""
    return f"{type(exc).__name__}: {first}".rstrip(": ")


async def complete(
    t: Target,
    messages: list[dict],
    *,
    cache: ResponseCache | None = None,
    timeout: float = 60.0,
    max_attempts: int = 4,
    backoff: float = 0.5,
    params: dict | None = None,
    response_format: dict | None = None,
    keep: int = ANSWER_MAX,
) -> Answer:
    """Ask once; retry transient failures with exponential backoff and jitter, honouring
    Retry-After (up to RETRY_AFTER_MAX). `timeout` bounds each attempt as a whole (a hung or
    trickling server is a retried timeout). A failure that outlives the retries comes back
    as `Answer.error`.
    With `cache`, an answer given before for the same key is returned, marked `cached`.
    `params` override `params_for(t)` and `response_format` is passed on; the cache key holds
    the parameters asked for. LiteLLM drops those the provider does not take (`decoding()`).
    Of the answer's text, `keep` characters are kept (`chars` and `sha256` describe the whole)."""
    started = time.perf_counter()
    sent = {**params_for(t), **(params or {})}
    if response_format is not None:
        sent["response_format"] = response_format
    k = cache_key(t.identity, messages, sent) if cache else None
    if cache and (hit := cache.get(k)) is not None:
        if hit.get("chars") is None and isinstance(hit.get("text"), str):   # cached before answers were capped
            hit["text"], hit["chars"], hit["sha256"] = clip(hit["text"], keep)
        return Answer(**{**hit, "latency_s": time.perf_counter() - started, "cached": True})
    limit = limiter(t.provider, t.rpm)
    for attempt in range(1, max_attempts + 1):
        if limit:
            await limit.wait()
        try:
            phases.mark("first request")
            async with t.shared_limit.slot() if t.shared_limit else contextlib.nullcontext():
                # httpx's timeout bounds each read, not the whole response: a server trickling a
                # few bytes at a time would hold the request for ever, so the whole call is bounded.
                resp = await asyncio.wait_for(litellm.acompletion(
                    model=t.model, messages=messages, api_base=t.api_base, api_key=_api_key(t),
                    timeout=timeout, max_retries=0, drop_params=True, **sent,
                ), timeout)
            # max_tokens is a request, not a limit: what is kept of an answer is capped here,
            # as it arrives, with its whole length and hash (tinyqa/text.py).
            text, chars, sha = clip(resp.choices[0].message.content or "", keep)
            usage = getattr(resp, "usage", None)
            cost = (getattr(resp, "_hidden_params", {}) or {}).get("response_cost")
            answer = Answer(
                text, time.perf_counter() - started, attempt,
                getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None),
                cost, chars=chars, sha256=sha,
            )
            del resp
            if cache:
                cache.put(k, {f: getattr(answer, f) for f in
                              ("text", "attempts", "prompt_tokens", "completion_tokens", "cost_usd", "chars",
                               "sha256")})
            return answer
        except RETRYABLE as exc:
            if attempt == max_attempts:
                return Answer(None, time.perf_counter() - started, attempt, error=_error(exc, t))
            delay = min(_retry_after(exc) or backoff * 2 ** (attempt - 1), RETRY_AFTER_MAX)
            await asyncio.sleep(delay * random.uniform(1.0, 1.25))
        except Exception as exc:  # a non-transient provider error: recorded, not retried
            return Answer(None, time.perf_counter() - started, attempt, error=_error(exc, t),
                          fatal=isinstance(exc, FATAL) and not isinstance(exc, ITEM_SPECIFIC))
    raise AssertionError("unreachable")
