"""A loopback HTTP server that speaks five providers' own wire formats, so that tests send
tinyqa's requests through LiteLLM's real request building and response parsing for each
provider (LiteLLM is given `api_base=server.api_base(provider)`; nothing of LiteLLM is mocked).

Routes, as LiteLLM builds them from an api_base (litellm 1.110; see `api_base`):

- `openai`:    POST {base}/v1/chat/completions (or /chat/completions), `Authorization: Bearer`
- `anthropic`: POST {base}/v1/messages, `x-api-key` and `anthropic-version` headers,
               `max_tokens` required in the body (as Anthropic requires it)
- `gemini`:    POST {base}/v1beta/models/{model}:generateContent (any prefix before /models/),
               key in the `x-goog-api-key` header or `?key=`
- `azure`:     POST {base}/openai/deployments/{deployment}/chat/completions?api-version=...,
               `api-key` header (or `Authorization: Bearer` for Entra ID tokens)
- `ollama`:    POST {base}/api/chat (`ollama_chat/` models) and {base}/api/generate
               (`ollama/` models), non-streaming only (`"stream": false`)

The server answers from a `{question: answer}` mapping. The question is the text of the last
user turn (tinyqa's template `qa-v1` sends the item's question as is), found in each
provider's message format (for `/api/generate`, the text after the last `### User:` of the
prompt LiteLLM renders). Each request is recorded (`requests`: provider, path, query, headers,
body, question) and counted per question (`asked`). A request missing its credentials gets a
401, a malformed one or an unknown question a 400, each with that provider's error JSON.
"""
from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from fakeserver import _Server

PROVIDERS = ("openai", "anthropic", "gemini", "azure", "ollama")


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _tokens(text: str) -> int:
    """A stand-in token count: words, at least 1."""
    return max(1, len(text.split()))


def _text(content) -> str:
    """The text of an OpenAI/Anthropic/Ollama message content: a string, or the last text part."""
    if isinstance(content, str):
        return content
    texts = [p.get("text") for p in content or [] if isinstance(p, dict) and p.get("type", "text") == "text"]
    if not texts or not isinstance(texts[-1], str):
        raise BadRequest("the last user message has no text")
    return texts[-1]


def _last_user(messages, role_key: str = "role", user: str = "user") -> dict:
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages: a non-empty list is required")
    turns = [m for m in messages if isinstance(m, dict) and m.get(role_key) == user]
    if not turns:
        raise BadRequest("no user message")
    return turns[-1]


# --- one small class per wire format: what it checks, where the question is, what it answers ---

class OpenAIChat:
    name = "openai"
    error_type = "invalid_request_error"

    def route(self, path: str) -> dict | None:
        return {} if path in ("/v1/chat/completions", "/chat/completions") else None

    def authorize(self, headers, query) -> None:
        if not headers.get("authorization", "").startswith("Bearer "):
            raise BadRequest("missing Authorization: Bearer header", 401)

    def question(self, body: dict, route: dict) -> str:
        return _text(_last_user(body.get("messages"))["content"])

    def reply(self, text: str, question: str, body: dict, route: dict) -> dict:
        return {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body.get("model", "x"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": _tokens(question), "completion_tokens": _tokens(text),
                      "total_tokens": _tokens(question) + _tokens(text)},
        }

    def error(self, status: int, message: str) -> dict:
        kind = "invalid_api_key" if status == 401 else None
        return {"error": {"message": message, "type": self.error_type, "param": None, "code": kind}}


class AzureChat(OpenAIChat):
    name = "azure"
    _path = re.compile(r"^/openai/deployments/(?P<deployment>[^/]+)/chat/completions$")

    def route(self, path: str) -> dict | None:
        m = self._path.match(path)
        return m.groupdict() if m else None

    def authorize(self, headers, query) -> None:
        if not (headers.get("api-key") or headers.get("authorization", "").startswith("Bearer ")):
            raise BadRequest("Access denied due to missing subscription key (api-key header).", 401)
        if not query.get("api-version"):
            raise BadRequest("Missing required query parameter: api-version")

    def error(self, status: int, message: str) -> dict:
        return {"error": {"code": "401" if status == 401 else "BadRequest", "message": message}}


class AnthropicMessages:
    name = "anthropic"

    def route(self, path: str) -> dict | None:
        return {} if path == "/v1/messages" else None

    def authorize(self, headers, query) -> None:
        if not headers.get("x-api-key"):
            raise BadRequest("x-api-key header is required", 401)
        if not headers.get("anthropic-version"):
            raise BadRequest("anthropic-version: header is required")

    def question(self, body: dict, route: dict) -> str:
        if not isinstance(body.get("max_tokens"), int):
            raise BadRequest("max_tokens: Field required")
        return _text(_last_user(body.get("messages"))["content"])

    def reply(self, text: str, question: str, body: dict, route: dict) -> dict:
        return {
            "id": "msg_01", "type": "message", "role": "assistant", "model": body.get("model", "claude"),
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": _tokens(question), "output_tokens": _tokens(text)},
        }

    def error(self, status: int, message: str) -> dict:
        kind = "authentication_error" if status == 401 else "invalid_request_error"
        return {"type": "error", "error": {"type": kind, "message": message}}


class GeminiGenerateContent:
    name = "gemini"
    _path = re.compile(r"^(?:/[^:]*)?/models/(?P<model>[^/:]+):generateContent$")

    def route(self, path: str) -> dict | None:
        m = self._path.match(path)
        return m.groupdict() if m else None

    def authorize(self, headers, query) -> None:
        if not (headers.get("x-goog-api-key") or query.get("key")):
            raise BadRequest("Method doesn't allow unregistered callers. Please use an API key.", 401)

    def question(self, body: dict, route: dict) -> str:
        turn = _last_user(body.get("contents"))
        texts = [p["text"] for p in turn.get("parts") or [] if isinstance(p, dict) and "text" in p]
        if not texts:
            raise BadRequest("contents: the last user turn has no text part")
        return texts[-1]

    def reply(self, text: str, question: str, body: dict, route: dict) -> dict:
        return {
            "candidates": [{"content": {"parts": [{"text": text}], "role": "model"},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": _tokens(question), "candidatesTokenCount": _tokens(text),
                              "totalTokenCount": _tokens(question) + _tokens(text)},
            "modelVersion": route["model"],
        }

    def error(self, status: int, message: str) -> dict:
        kind = "UNAUTHENTICATED" if status == 401 else "INVALID_ARGUMENT"
        return {"error": {"code": status, "message": message, "status": kind}}


class Ollama:
    name = "ollama"

    def route(self, path: str) -> dict | None:
        return {"api": path.rsplit("/", 1)[1]} if path in ("/api/chat", "/api/generate") else None

    def authorize(self, headers, query) -> None:   # a local Ollama asks for no key
        pass

    def question(self, body: dict, route: dict) -> str:
        if body.get("stream", True) is not False:   # Ollama streams unless told not to
            raise BadRequest("this test server answers only non-streaming requests")
        if route["api"] == "chat":
            return _text(_last_user(body.get("messages"))["content"])
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise BadRequest("prompt: a string is required")
        # LiteLLM renders chat messages as "### System:\n...\n\n### User:\n{question}\n\n".
        return prompt.rpartition("### User:\n")[2].strip()

    def reply(self, text: str, question: str, body: dict, route: dict) -> dict:
        common = {"model": body.get("model", "llama3"), "created_at": "2024-01-01T00:00:00.000000Z",
                  "done": True, "done_reason": "stop", "total_duration": 1_000_000,
                  "load_duration": 1000, "prompt_eval_count": _tokens(question),
                  "prompt_eval_duration": 1000, "eval_count": _tokens(text), "eval_duration": 1000}
        if route["api"] == "chat":
            return {**common, "message": {"role": "assistant", "content": text}}
        return {**common, "response": text, "context": [1, 2, 3]}

    def error(self, status: int, message: str) -> dict:
        return {"error": message}


FORMATS = (OpenAIChat(), AzureChat(), AnthropicMessages(), GeminiGenerateContent(), Ollama())


class ProviderServer:
    """One loopback server for all five formats; `api_base(provider)` is what LiteLLM gets."""

    def __init__(self, answers: Mapping[str, str]):
        self.answers = answers
        self.asked: Counter[str] = Counter()
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fmt, route = next(((f, r) for f in FORMATS if (r := f.route(parts.path)) is not None),
                                  (None, None))
                headers = {k.lower(): v for k, v in self.headers.items()}
                record = {"provider": fmt and fmt.name, "path": parts.path, "query": query, "headers": headers,
                          "body": None, "question": None}
                if fmt is None:   # a URL no provider has: LiteLLM built a path we did not expect
                    with server._lock:
                        server.requests.append(record)
                    return self._send(404, {"error": f"no route for POST {parts.path}"})
                try:
                    try:
                        record["body"] = body = json.loads(raw)
                    except ValueError:
                        raise BadRequest("the request body is not JSON") from None
                    if not isinstance(body, dict):
                        raise BadRequest("the request body is not a JSON object")
                    fmt.authorize(headers, query)
                    record["question"] = question = fmt.question(body, route)
                    if question not in server.answers:
                        raise BadRequest(f"unknown question: {question!r}")
                    status, payload = 200, fmt.reply(server.answers[question], question, body, route)
                except BadRequest as exc:
                    status, payload = exc.status, fmt.error(exc.status, str(exc))
                with server._lock:
                    server.requests.append(record)
                    if record["question"] is not None:
                        server.asked[record["question"]] += 1
                self._send(status, payload)

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def api_base(self, provider: str) -> str:
        """The api_base to give LiteLLM for `provider` (the first part of a model string;
        `ollama_chat` is `ollama`): LiteLLM appends /chat/completions to OpenAI's, /v1/messages
        to Anthropic's, /models/{model}:generateContent to Gemini's (so it carries the API
        version, /v1beta, as Google's own base URL does), /openai/deployments/... to Azure's
        and /api/chat or /api/generate to Ollama's."""
        provider = "ollama" if provider == "ollama_chat" else provider
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}; one of {PROVIDERS}")
        return self.url + {"openai": "/v1", "gemini": "/v1beta"}.get(provider, "")

    def __enter__(self) -> ProviderServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
