"""A scripted OpenAI-compatible chat server on loopback, for tests and benchmarks, with
fault injection.

`answer(question, attempt)` returns the reply text, or a `Fault` to send instead. Every
request is counted per question, so tests can assert how often each item was asked.

A `Fault`'s `kind` says what goes wrong (`FAULT_KINDS`):

- `status` (default): an HTTP error `status` with `headers` and `body` (429 with or without
  Retry-After, 500, 502, 503, 400 ...), after `delay` seconds.
- `hang`: nothing is sent for `delay` seconds (set it past the client's timeout), then the
  answer `text`; the wait ends early when the server shuts down.
- `reset`: the connection is aborted with a TCP RST, no response at all.
- `close`: the connection is closed cleanly (FIN), no response at all.
- `truncated`: a 200 whose Content-Length promises the whole completion, then only the first
  half of it and the connection closed.
- `malformed`: a complete 200 response whose body is not JSON (`body`, default a JSON
  document cut in the middle, with a matching Content-Length).
- `empty`: a well-formed completion whose content is the empty string (`text=None`: null).
- `huge`: a well-formed completion whose content is `size` bytes (default 5 MB).
- `trickle`: a well-formed completion of `text`, sent `chunk` bytes every `interval` seconds.
"""
from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULT_KINDS = ("status", "hang", "reset", "close", "truncated", "malformed", "empty", "huge", "trickle")


@dataclass
class Fault:
    status: int = 500
    headers: dict = field(default_factory=dict)
    body: bytes | None = None
    delay: float = 0.0
    kind: str = "status"
    text: str | None = ""        # the content of the completion a 200-kind fault sends
    size: int = 5 * 1024 * 1024  # `huge`: bytes of content
    chunk: int = 8               # `trickle`: bytes a write
    interval: float = 0.01       # `trickle`: seconds between writes

    def __post_init__(self):
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"Fault kind {self.kind!r} is not one of {FAULT_KINDS}")


def completion(text: str | None, model: str = "scripted") -> bytes:
    return json.dumps({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
    }).encode()


class _Server(ThreadingHTTPServer):
    request_queue_size = 256   # the default listen backlog of 5 stalls concurrent clients for 1 s
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):   # a client that hung up: expected
            super().handle_error(request, client_address)


class ScriptedServer:
    def __init__(self, answer: Callable[[str, int], str | Fault], latency: float = 0.0):
        self.answer, self.latency = answer, latency
        self.asked: Counter[str] = Counter()
        self.requests: list[dict] = []
        self.faults: Counter[str] = Counter()   # faults sent, by kind
        self.in_flight = self.max_in_flight = 0   # answers being prepared at once (peak)
        self._lock = threading.Lock()
        self._closing = threading.Event()
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
                model = body.get("model", "scripted")
                if not isinstance(reply, Fault):
                    with server._lock:
                        server.in_flight += 1
                        server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    time.sleep(server.latency)
                    with server._lock:
                        server.in_flight -= 1
                    self._send(200, {}, completion(reply, model))
                    return
                with server._lock:
                    server.faults[reply.kind] += 1
                try:
                    self._fault(reply, model)
                except OSError:   # the client gave up first (a hang or trickle past its timeout)
                    self.close_connection = True

            def _fault(self, f: Fault, model: str) -> None:
                if f.kind == "hang":
                    server._closing.wait(f.delay)
                    self._send(200, {}, completion(f.text, model))
                    return
                time.sleep(f.delay)
                if f.kind == "status":
                    self._send(f.status, f.headers, f.body or b'{"error": {"message": "fault"}}')
                elif f.kind in ("reset", "close"):
                    if f.kind == "reset":   # SO_LINGER 0: close() sends RST, not FIN
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                elif f.kind == "truncated":
                    payload = completion(f.text or "Paris", model)
                    self._head(200, f.headers, len(payload))
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                elif f.kind == "malformed":
                    payload = completion("Paris", model)
                    self._send(200, f.headers, f.body or payload[: len(payload) // 2])
                elif f.kind == "empty":
                    self._send(200, f.headers, completion(None if f.text is None else "", model))
                elif f.kind == "huge":
                    self._send(200, f.headers, completion("x" * f.size, model))
                elif f.kind == "trickle":
                    payload = completion(f.text, model)
                    self._head(200, f.headers, len(payload))
                    for i in range(0, len(payload), f.chunk):
                        self.wfile.write(payload[i:i + f.chunk])
                        self.wfile.flush()
                        if server._closing.wait(f.interval):
                            break

            def _head(self, status, headers, length):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(length))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()

            def _send(self, status, headers, payload):
                self._head(status, headers, len(payload))
                self.wfile.write(payload)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._closing.set()   # hanging and trickling handlers stop waiting
        self.httpd.shutdown()
        self.httpd.server_close()


if __name__ == "__main__":  # a standalone server for benchmarks: `python fakeserver.py LATENCY`
    with ScriptedServer(lambda q, n: "Paris", latency=float(sys.argv[1])) as srv:
        print(srv.url, flush=True)
        threading.Event().wait()
