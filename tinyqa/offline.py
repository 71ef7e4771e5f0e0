"""The environment tinyqa's work runs in: LiteLLM's cost map from its own wheel (LiteLLM
otherwise fetches it from the network on import), tiktoken's encodings from the copies inside
LiteLLM's wheel, and Prefect's and Great Expectations' analytics off.

Importing tinyqa sets none of these: the front ends apply them for the work they start. The
`tinyqa` command applies them to its own process at its entry (before anything imports
LiteLLM, which reads its variable on import); the pytest plugin applies them around its
session's run only (`scoped`), so that the user's process keeps its environment; a child
process gets them in the environment it is started with (`defaults`). A variable the user set
is never overridden.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator, MutableMapping


def _tiktoken_folder() -> str | None:
    """The tiktoken encodings inside LiteLLM's wheel, found without importing LiteLLM."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(next(iter(spec.submodule_search_locations)), "litellm_core_utils", "tokenizers")


def defaults() -> dict[str, str]:
    """The variables and their offline values."""
    out = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "GX_ANALYTICS_ENABLED": "False"}
    folder = _tiktoken_folder()
    if folder:
        out["TIKTOKEN_CACHE_DIR"] = folder
    return out


def apply(env: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set the defaults that `env` (default: this process's environment) lacks; returns what
    was set."""
    env = os.environ if env is None else env
    added = {k: v for k, v in defaults().items() if k not in env}
    env.update(added)
    return added


@contextlib.contextmanager
def scoped() -> Iterator[None]:
    """The defaults for the length of a block, then the environment as it was (the variables
    the block set of its own, kept as they are only if they are not ours)."""
    added = apply()
    try:
        yield
    finally:
        for k, v in added.items():
            if os.environ.get(k) == v:
                del os.environ[k]
