"""Which environment variables a model's provider needs, checked before anything is asked.

LiteLLM knows (`litellm.validate_environment`), but importing LiteLLM takes about 3 s, and a
missing key should be said at once, before Prefect or a model server starts. So the most
used providers' variables are kept here, as `litellm.validate_environment` names them
(tests/test_credentials.py holds the two to each other for the LiteLLM installed), and
`llm.check_model` asks LiteLLM itself for every other provider once it is imported.

Keys only ever come from the environment (or a secrets manager filling it); tinyqa never
takes one on its command line and never records one.
"""
from __future__ import annotations

import os

# Per provider, groups of variables: each group needs one of its variables set.
KNOWN: dict[str, tuple[tuple[str, ...], ...]] = {
    "openai": (("OPENAI_API_KEY",),),
    "anthropic": (("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"),),
    "azure": (("AZURE_API_BASE",), ("AZURE_API_VERSION",), ("AZURE_API_KEY",)),
    "gemini": (("GEMINI_API_KEY", "GOOGLE_API_KEY"),),
    "mistral": (("MISTRAL_API_KEY",),),
    "groq": (("GROQ_API_KEY",),),
    "cohere": (("COHERE_API_KEY",),),
    "deepseek": (("DEEPSEEK_API_KEY",),),
    "xai": (("XAI_API_KEY",),),
    "together_ai": (("TOGETHERAI_API_KEY",),),
    "openrouter": (("OPENROUTER_API_KEY",),),
}


def _covered(var: str, provider: str, api_base: str | None) -> bool:
    """Variables an explicit api_base stands in for: the base URL itself (and Azure's API
    version, which LiteLLM defaults), every variable of an OpenAI-compatible server of one's
    own (tinyqa sends it a placeholder key), and Ollama's base, which defaults to localhost."""
    if provider in ("ollama", "ollama_chat") and var == "OLLAMA_API_BASE":
        return True
    if api_base is None:
        return False
    return provider == "openai" or var.endswith(("_API_BASE", "_BASE_URL", "_API_VERSION"))


def missing(provider: str, groups: tuple[tuple[str, ...], ...], api_base: str | None) -> list[tuple[str, ...]]:
    """The groups that have none of their variables set, among the variables `api_base`
    does not cover (empty: nothing missing)."""
    out = []
    for group in groups:
        need = tuple(v for v in group if not _covered(v, provider, api_base))
        if need and not any(os.environ.get(v) for v in need):
            out.append(need)
    return out


def provider_prefix(model: str) -> str | None:
    """The provider a model string names explicitly (`anthropic/claude-…` -> anthropic)."""
    head, sep, _ = model.partition("/")
    return head if sep else None


def check(model: str, api_base: str | None, provider: str | None = None) -> None:
    """InputError naming the variables to set when a known provider's are missing (the
    provider LiteLLM found, else the one the model string names)."""
    from tinyqa.errors import InputError

    provider = provider or provider_prefix(model)
    gaps = missing(provider, KNOWN[provider], api_base) if provider in KNOWN else []
    if gaps:
        need = " and ".join(" or ".join(g) for g in gaps)
        raise InputError(f"--model {model}: no credentials in the environment: set {need} "
                         "(keys are read from the environment only)")
