"""tinyqa through LiteLLM's own request building for five providers, against a loopback server
that speaks each provider's wire format (tests/providers.py): the right answers come back, and
the requests carry each provider's own fields for the deterministic decoding parameters.

Decoding parameters are sent only where the provider takes them: Anthropic gets temperature
and max_tokens but no seed (LiteLLM refuses `seed` for Anthropic), and the run records that.
"""
import json
import urllib.error
import urllib.request

import pyarrow.dataset as ds
import pytest

from conftest import MINI
from providers import ProviderServer
from tinyqa.models import llm
from tinyqa.pack import resolve_packs
from tinyqa.suites.templates import load_template

KEY = "test-key"
AZURE_API_VERSION = "2024-10-21"
# model -> the environment LiteLLM reads its credentials (and Azure's api version) from
ENV = {
    "openai/x": {"OPENAI_API_KEY": KEY},
    "anthropic/claude-3-5-haiku-20241022": {"ANTHROPIC_API_KEY": KEY},
    "gemini/gemini-2.0-flash": {"GEMINI_API_KEY": KEY},
    "azure/my-deployment": {"AZURE_API_KEY": KEY, "AZURE_API_VERSION": AZURE_API_VERSION},
    "ollama/llama3": {},
    "ollama_chat/llama3": {},
}
# Variables that would send LiteLLM elsewhere or with other credentials.
UNSET = ("OPENAI_BASE_URL", "OPENAI_API_BASE", "ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN",
         "GOOGLE_API_KEY", "GEMINI_API_BASE", "AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT", "OLLAMA_API_BASE",
         "OLLAMA_API_KEY")


def models():
    return [pytest.param(m, id=m.split("/")[0])
            for m in ENV]


@pytest.fixture
def provider_env(monkeypatch, tmp_path):
    """Set a model's fake credentials; caches inside the test."""
    monkeypatch.setenv("TINYQA_CACHE_DIR", str(tmp_path / "cache"))
    for var in UNSET:
        monkeypatch.delenv(var, raising=False)

    def use(model: str) -> None:
        for var, value in ENV[model].items():
            monkeypatch.setenv(var, value)
    return use


def ask(model: str, server: ProviderServer, question: str, lang: str = "en") -> llm.Answer:
    t = llm.target(model, server.api_base(model.split("/")[0]))
    return llm.on_loop(llm.complete(t, load_template().messages(question, lang), max_attempts=1))


def check_request(model: str, r: dict, system: str) -> None:
    """The request LiteLLM built for `model` carries the provider's own path, credentials and
    fields: temperature 0, max tokens 48 and seed 1234 where the provider takes a seed; the
    template's system text in the provider's place for it."""
    provider, name = model.split("/", 1)
    body, headers = r["body"], r["headers"]
    if provider == "openai":
        assert r["path"] == "/v1/chat/completions" and headers["authorization"] == f"Bearer {KEY}"
        assert body["model"] == name and body["messages"][0] == {"role": "system", "content": system}
        assert (body["temperature"], body["max_tokens"], body["seed"]) == (0.0, 48, 1234)
    elif provider == "azure":
        assert r["path"] == f"/openai/deployments/{name}/chat/completions"
        assert r["query"] == {"api-version": AZURE_API_VERSION} and headers["api-key"] == KEY
        assert body["messages"][0] == {"role": "system", "content": system}
        assert (body["temperature"], body["max_tokens"], body["seed"]) == (0.0, 48, 1234)
    elif provider == "anthropic":
        assert r["path"] == "/v1/messages" and headers["x-api-key"] == KEY and headers["anthropic-version"]
        assert body["model"] == name
        system_text = body["system"] if isinstance(body["system"], str) else body["system"][0]["text"]
        assert system_text == system and all(m["role"] != "system" for m in body["messages"])
        assert (body["temperature"], body["max_tokens"]) == (0.0, 48) and "seed" not in body
    elif provider == "gemini":
        assert r["path"] == f"/v1beta/models/{name}:generateContent" and headers["x-goog-api-key"] == KEY
        assert "key" not in r["query"]   # the key travels in the header, never in the URL
        gen = body["generationConfig"]
        # LiteLLM writes max_output_tokens; Google's JSON accepts it as well as maxOutputTokens.
        assert (gen["temperature"], gen.get("maxOutputTokens", gen.get("max_output_tokens")), gen["seed"]) == (0.0, 48, 1234)
        # A system instruction, or (LiteLLM's model map lacking supports_system_messages for
        # this model) the system text as the first part of the user turn.
        sent = json.dumps(body.get("system_instruction") or body["contents"][0], ensure_ascii=False)
        assert json.dumps(system, ensure_ascii=False) in sent
    elif provider == "ollama":
        assert r["path"] == "/api/generate" and body["model"] == name and body["stream"] is False
        assert system in body["prompt"]
        assert {k: body["options"][k] for k in ("temperature", "num_predict", "seed")} == \
            {"temperature": 0.0, "num_predict": 48, "seed": 1234}
    elif provider == "ollama_chat":
        assert r["path"] == "/api/chat" and body["model"] == name and body["stream"] is False
        assert body["messages"][0]["role"] == "system" and body["messages"][0]["content"] == system
        assert {k: body["options"][k] for k in ("temperature", "num_predict", "seed")} == \
            {"temperature": 0.0, "num_predict": 48, "seed": 1234}
    else:
        raise AssertionError(f"no expectations for {model}")


@pytest.mark.parametrize("model", models())
def test_each_provider_answers_through_litellm(model, provider_env):
    provider_env(model)
    template = load_template()
    with ProviderServer({i["text"]: i["label"] for i in MINI}) as server:
        answers = [ask(model, server, i["text"], i["lang"]) for i in MINI]
    assert [a.error for a in answers] == [None] * len(MINI)
    assert [a.text for a in answers] == [i["label"] for i in MINI]
    assert all(a.attempts == 1 for a in answers)
    # Usage made it through LiteLLM's parsing of the provider's response (the server counts words).
    assert [a.completion_tokens for a in answers] == [len(i["label"].split()) for i in MINI]
    assert all(a.prompt_tokens for a in answers)
    assert server.asked == {i["text"]: 1 for i in MINI}
    assert len(server.requests) == len(MINI)
    for r, item in zip(server.requests, MINI):
        check_request(model, r, template.messages(item["text"], item["lang"])[0]["content"])


@pytest.mark.parametrize("model", models())
def test_an_unknown_question_is_the_providers_400_recorded_not_retried(model, provider_env):
    provider_env(model)
    with ProviderServer({}) as server:
        t = llm.target(model, server.api_base(model.split("/")[0]))
        answer = llm.on_loop(llm.complete(t, load_template().messages("Who are you?"), backoff=0.01))
    assert answer.text is None and answer.attempts == 1
    assert answer.error.startswith("BadRequestError"), answer.error
    assert "unknown question" in answer.error
    assert KEY not in answer.error
    assert server.asked == {"Who are you?": 1}


@pytest.mark.parametrize("provider, path, body", [
    ("openai", "/v1/chat/completions", {"model": "x", "messages": [{"role": "user", "content": "q"}]}),
    ("anthropic", "/v1/messages", {"model": "c", "max_tokens": 8, "messages": [{"role": "user", "content": "q"}]}),
    ("gemini", "/v1beta/models/g:generateContent", {"contents": [{"role": "user", "parts": [{"text": "q"}]}]}),
    ("azure", "/openai/deployments/d/chat/completions?api-version=1",
     {"messages": [{"role": "user", "content": "q"}]}),
])
def test_the_server_refuses_requests_without_credentials_in_the_providers_error_format(provider, path, body):
    with ProviderServer({"q": "a"}) as server:
        req = urllib.request.Request(server.url + path, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 401
    error = json.loads(err.value.read())
    assert error["error"]["message"]
    if provider == "anthropic":
        assert error["type"] == "error" and error["error"]["type"] == "authentication_error"
    elif provider == "gemini":
        assert error["error"]["status"] == "UNAUTHENTICATED"
    assert server.requests[0]["provider"] == provider and not server.asked


@pytest.mark.slow
@pytest.mark.parametrize("model", models())
def test_tinyqa_run_answers_core_en_through_each_provider(model, provider_env, prefect_harness, tmp_path):
    """The whole command: all 52 core_en items asked and answered through the provider's format."""
    from typer.testing import CliRunner

    from tinyqa.cli import app

    provider_env(model)
    items = resolve_packs("core_en")[0].items
    assert len(items) == 52
    reports = tmp_path / "reports"
    with ProviderServer({i.text: i.label for i in items}) as server:
        res = CliRunner().invoke(app, ["run", "--model", model, "--api-base", server.api_base(model.split("/")[0]),
                                       "--packs", "core_en", "--no-cache", "--reports", str(reports)])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    assert res.exit_code == 0, res.output
    rows = ds.dataset(reports / "items", partitioning="hive").to_table().to_pylist()
    assert len(rows) == 52 and [r["error"] for r in rows] == [None] * 52
    assert all(r["em"] for r in rows), [(r["question"], r["prediction"]) for r in rows if not r["em"]]
    assert server.asked == {i.text: 1 for i in items}
    # The run says what the provider was sent, and what it could not take.
    (run,) = ds.dataset(reports / "runs", partitioning="hive").to_table().to_pylist()
    decoding = json.loads(run["decoding"])
    assert decoding["temperature"] == 0 and 48 in decoding.values()
    takes_seed = not model.startswith("anthropic/")
    assert ("seed" in decoding) == takes_seed
    assert run["notes"] == ([] if takes_seed else ["seed not sent: anthropic/claude-3-5-haiku-20241022 does not "
                                                   "take it; answers may differ between runs"])
    template = load_template()
    for r in server.requests:
        check_request(model, r, template.messages(r["question"])[0]["content"])
