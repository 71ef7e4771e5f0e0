"""tinyqa: tiny multilingual QA packs, tokenizer drift and lm-eval suites as a model gate."""
import os

__version__ = "0.1.0"

# Set before litellm or prefect is imported anywhere in the process (DESIGN.md):
# litellm would otherwise fetch its cost map from the network on import, and prefect
# and Great Expectations would send analytics.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
