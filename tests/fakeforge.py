"""A loopback server that speaks the comment endpoints of the GitHub REST API (issue comments,
which are a pull request's conversation) and of the GitLab API (merge-request notes), as far as
ci/comment.py and a reviewer's eye need them:

GitHub                                               GitLab (under /api/v4)
GET   /repos/O/R/issues/N/comments?per_page&page     GET  /projects/P/merge_requests/I/notes?per_page&page
POST  /repos/O/R/issues/N/comments  {"body"}         POST /projects/P/merge_requests/I/notes  {"body"}
PATCH /repos/O/R/issues/comments/ID {"body"}         PUT  /projects/P/merge_requests/I/notes/ID  {"body"}
DELETE /repos/O/R/issues/comments/ID                 DELETE /projects/P/merge_requests/I/notes/ID
GET   /user (403 for the Actions token, as GitHub)   GET  /user (the project access token's bot)

A comment the token creates is written by the token's user: `github_user` (None: the Actions
token, which writes as github-actions[bot] and may not read /user) or GitLab's bot (GITLAB_BOT).

Lists are paginated as the real APIs do it (GitHub: a Link header with rel="next"; GitLab:
X-Next-Page). A request without the expected token gets 401; `read_only` makes every write a
403 (a pull request from a fork). `comments` holds what exists; `calls` is (method, path) of
every request, never its headers.
"""
from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


GITLAB_BOT = {"id": 77, "username": "project_42_bot"}


class FakeForge:
    def __init__(self, token: str = "test-token", read_only: bool = False, github_user: str | None = None):
        self.token, self.read_only, self.github_user = token, read_only, github_user
        self.comments: dict[str, list[dict]] = {}   # thread path -> comments, oldest first
        self.calls: list[tuple[str, str]] = []
        self._next_id = 1000
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeForge:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def add(self, thread: str, body: str, **extra) -> dict:
        """A comment already there (another user's, an old one ...)."""
        with self._lock:
            self._next_id += 1
            c = {"id": self._next_id, "body": body, **extra}
            self.comments.setdefault(thread, []).append(c)
            return c

    def thread(self, path: str) -> list[dict]:
        return self.comments.get(path, [])

    def _handler(self):
        forge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):   # quiet
                pass

            def _send(self, status: int, payload, headers: dict | None = None) -> None:
                data = b"" if status == 204 else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self, gitlab: bool) -> bool:
                got = self.headers.get("PRIVATE-TOKEN") if gitlab else self.headers.get("Authorization")
                return got == (forge.token if gitlab else f"Bearer {forge.token}")

            def _route(self, method: str) -> None:
                parts = urlsplit(self.path)
                forge.calls.append((method, parts.path))
                gitlab = parts.path.startswith("/api/v4/")
                if not self._authorized(gitlab):
                    return self._send(401, {"message": "Bad credentials" if not gitlab else "401 Unauthorized"})
                body = None
                if parts.path in ("/user", "/api/v4/user") and method == "GET":
                    if gitlab:
                        return self._send(200, GITLAB_BOT)
                    if forge.github_user is None:
                        return self._send(403, {"message": "Resource not accessible by integration"})
                    return self._send(200, {"login": forge.github_user})
                if method == "DELETE" and forge.read_only:
                    return self._send(403, {"message": "Resource not accessible by integration"})
                if method in ("POST", "PATCH", "PUT"):
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                    if forge.read_only:
                        return self._send(403, {"message": "Resource not accessible by integration"})
                    if not isinstance(body.get("body"), str) or not body["body"]:
                        return self._send(422, {"message": "Validation Failed"})
                thread = re.fullmatch(r"/repos/[^/]+/[^/]+/issues/\d+/comments|"
                                      r"/api/v4/projects/[^/]+/merge_requests/\d+/notes", parts.path)
                one = re.fullmatch(r"(/repos/[^/]+/[^/]+)/issues/comments/(\d+)|"
                                   r"(/api/v4/projects/[^/]+/merge_requests/\d+/notes)/(\d+)", parts.path)
                if thread and method == "GET":
                    return self._list(parts.path, parse_qs(parts.query), gitlab)
                if thread and method == "POST":
                    who = {"author": GITLAB_BOT} if gitlab else {"user": {"login": forge.github_user or "github-actions[bot]"}}
                    c = forge.add(parts.path, body["body"], **who)
                    return self._send(201, c)
                if one and method in ("DELETE", "PUT" if gitlab else "PATCH"):
                    cid = int(one.group(2) or one.group(4))
                    scope = one.group(3)
                    with forge._lock:
                        for path, cs in forge.comments.items():
                            for c in cs:
                                if c["id"] == cid and (scope is None or path == scope):
                                    if method == "DELETE":
                                        cs.remove(c)
                                        return self._send(204, None)
                                    c["body"] = body["body"]
                                    return self._send(200, c)
                return self._send(404, {"message": "Not Found"})

            def _list(self, path: str, query: dict, gitlab: bool) -> None:
                per_page = int(query.get("per_page", ["30"])[0])
                page = int(query.get("page", ["1"])[0])
                cs = forge.thread(path)
                chunk = cs[(page - 1) * per_page: page * per_page]
                more = page * per_page < len(cs)
                headers = {}
                if more and gitlab:
                    headers["X-Next-Page"] = str(page + 1)
                elif more:
                    headers["Link"] = f'<{forge.url}{path}?per_page={per_page}&page={page + 1}>; rel="next"'
                self._send(200, chunk, headers)

            def do_GET(self):
                self._route("GET")

            def do_POST(self):
                self._route("POST")

            def do_PATCH(self):
                self._route("PATCH")

            def do_PUT(self):
                self._route("PUT")

            def do_DELETE(self):
                self._route("DELETE")

        return Handler
