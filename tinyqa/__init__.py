"""tinyqa: tiny multilingual QA packs, tokenizer drift and lm-eval suites as a model gate."""
import os

__version__ = "0.1.0"

# Set before litellm or prefect is imported anywhere in the process (docs/architecture.md):
# litellm would otherwise fetch its cost map from the network on import, and prefect
# and Great Expectations would send analytics.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


def _tiktoken_offline() -> None:
    """tiktoken's encodings from the copies inside LiteLLM's wheel, never fetched: what LiteLLM
    sets on its own import, set here first, once, for the processes that never import it."""
    import importlib.util

    spec = importlib.util.find_spec("litellm")
    if spec is not None and spec.submodule_search_locations:
        folder = os.path.join(next(iter(spec.submodule_search_locations)), "litellm_core_utils", "tokenizers")
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", folder)


_tiktoken_offline()
