"""Credentials and decoding parameters per provider: what tinyqa checks before anything
starts agrees with LiteLLM, and each provider is sent what it takes."""
import json

import litellm
import pytest

from fakeserver import ScriptedServer
from tinyqa.errors import InputError
from tinyqa.models import credentials, llm

MODELS = {"openai": "openai/gpt-4o-mini", "anthropic": "anthropic/claude-3-5-haiku-20241022", "azure": "azure/dep",
          "gemini": "gemini/gemini-2.0-flash", "mistral": "mistral/mistral-small", "groq": "groq/llama3-8b-8192",
          "cohere": "cohere/command-r", "deepseek": "deepseek/deepseek-chat", "xai": "xai/grok-2",
          "together_ai": "together_ai/x", "openrouter": "openrouter/x"}


@pytest.fixture
def no_keys(monkeypatch):
    for groups in credentials.KNOWN.values():
        for var in (v for g in groups for v in g):
            monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_the_variables_checked_early_are_litellms(no_keys):
    assert set(credentials.KNOWN) == set(MODELS)
    for provider, groups in credentials.KNOWN.items():
        model = MODELS[provider]
        assert litellm.get_llm_provider(model)[1] == provider
        told = litellm.validate_environment(model)
        assert not told["keys_in_environment"]
        named = set(told["missing_keys"])      # LiteLLM names one of a group's alternatives or all
        assert named <= {v for g in groups for v in g} and all(named & set(g) for g in groups), provider
        for g in groups:
            no_keys.setenv(g[-1], "set")
        assert litellm.validate_environment(model)["keys_in_environment"], provider
        credentials.check(model, None)
        for g in groups:
            no_keys.delenv(g[-1])


def test_missing_keys_are_one_line_naming_them(no_keys):
    with pytest.raises(InputError, match=r"set AZURE_API_BASE and AZURE_API_VERSION and AZURE_API_KEY"):
        credentials.check("azure/dep", None)
    with pytest.raises(InputError, match=r"set AZURE_API_KEY \(keys"):      # the base and version: given or defaulted
        credentials.check("azure/dep", "https://x.openai.azure.com")
    credentials.check("openai/my-model", "http://127.0.0.1:8000/v1")    # a server of one's own: no key needed
    credentials.check("ollama/llama3", None)                             # Ollama's base defaults to localhost
    with pytest.raises(InputError, match="LiteLLM finds no credentials for bedrock"):
        llm.check_model("bedrock/anthropic.claude-3-haiku-20240307-v1:0", None)


def test_reasoning_models_get_a_budget_they_can_answer_in():
    assert llm.params_for(llm.Target("openai/gpt-4o-mini"))["max_tokens"] == 48
    assert llm.params_for(llm.Target("openai/o3-mini"))["max_tokens"] == llm.REASONING_MAX_TOKENS
    assert llm.params_for(llm.Target("openai/o3-mini", max_tokens=8000))["max_tokens"] == 8000   # tinyqa.toml
    sent, notes = llm.decoding(llm.Target("openai/o3-mini"))
    assert sent == {"max_completion_tokens": llm.REASONING_MAX_TOKENS, "seed": 1234}
    assert notes == ["temperature not sent: openai/o3-mini does not take it; it samples at its own default"]


def test_a_reasoning_model_is_sent_what_it_takes(monkeypatch, tmp_path):
    import asyncio

    monkeypatch.setenv("TINYQA_CACHE_DIR", str(tmp_path))
    with ScriptedServer(lambda q, n: "Paris") as srv:
        t = llm.Target("openai/o3-mini", srv.url)
        answer = asyncio.run(llm.complete(t, [{"role": "user", "content": "What is the capital of France?"}]))
    body = srv.requests[0]["body"]
    assert answer.text == "Paris" and "temperature" not in body and "max_tokens" not in body
    assert (body["max_completion_tokens"], body["seed"]) == (llm.REASONING_MAX_TOKENS, 1234)


def test_the_completion_budget_is_a_per_model_setting(tmp_path):
    from tinyqa import config

    (tmp_path / "tinyqa.toml").write_text('[models."openai/o3-mini"]\nmax_tokens = 4096\n')
    assert config.model_settings("openai/o3-mini", tmp_path) == {"max_tokens": 4096}
    assert json.dumps(config.model_settings("openai/gpt-4o-mini", tmp_path)) == "{}"
