"""A scripted OpenAI-compatible chat server on loopback, for tests and benchmarks.

`answer(question, attempt)` returns the reply text, or a `Fault` to send instead. Every
request is counted per question, so tests can assert how often each item was asked.
"""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Fault:
    status: int = 500
    headers: dict = field(default_factory=dict)
    body: bytes | None = None
    delay: float = 0.0


def completion(text: str, model: str = "scripted") -> bytes:
    return json.dumps({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
    }).encode()


class _Server(ThreadingHTTPServer):
    request_queue_size = 256   # the default listen backlog of 5 stalls concurrent clients for 1 s
    daemon_threads = True


class ScriptedServer:
    def __init__(self, answer: Callable[[str, int], str | Fault], latency: float = 0.0):
        self.answer, self.latency = answer, latency
        self.asked: Counter[str] = Counter()
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self._send(200, {}, json.dumps({"object": "list", "data": [{"id": "scripted"}]}).encode())

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                question = body["messages"][-1]["content"]
                with server._lock:
                    server.asked[question] += 1
                    server.requests.append({"body": body, "headers": dict(self.headers), "t": time.monotonic()})
                    attempt = server.asked[question]
                reply = server.answer(question, attempt)
                if isinstance(reply, Fault):
                    time.sleep(reply.delay)
                    self._send(reply.status, reply.headers, reply.body or b'{"error": {"message": "fault"}}')
                else:
                    time.sleep(server.latency)
                    self._send(200, {}, completion(reply, body.get("model", "scripted")))

            def _send(self, status, headers, payload):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


if __name__ == "__main__":  # a standalone server for benchmarks: `python fakeserver.py LATENCY`
    import sys

    with ScriptedServer(lambda q, n: "Paris", latency=float(sys.argv[1])) as srv:
        print(srv.url, flush=True)
        threading.Event().wait()
