"""Child servers on loopback ports: the temporary Prefect API and llama.cpp's model server.

One way to run a server as a child of a command:
- a free loopback port; if another process takes it between choosing and binding, the server
  is started again on a new one (twice at most);
- its output goes to a log file, never to the user's terminal; when it fails to start, the
  error carries the log's last lines;
- its own process group, which Linux stops with SIGTERM if tinyqa dies without cleaning up
  (PR_SET_PDEATHSIG);
- ready when its health URL answers 200;
- stopped at any moment, start-up included, without a word and without leaving a process:
  one that never answered is killed outright (it served nothing, so nothing is lost); one that
  did gets SIGTERM and `grace` seconds to finish its writes, then SIGKILL.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tinyqa.errors import InfraError

_PORT_TAKEN = ("address already in use", "errno 98")
_RESPAWNS = 2
# Loopback only: never through a proxy from the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: SIGTERM to the child when tinyqa dies without cleaning up (kill -9)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ChildServer:
    """A server process of this command's own. `command(port)` is its argv, `health` the path
    that answers 200 once it serves (e.g. `/api/health`)."""

    def __init__(self, name: str, command: Callable[[int], list[str]], health: str,
                 env: dict[str, str] | None = None):
        self.name, self.command, self.health, self.env = name, command, health, env
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.ready = False
        self._respawns = _RESPAWNS
        log = tempfile.NamedTemporaryFile(prefix=f"tinyqa-{name.split()[0].lower()}-", suffix=".log", delete=False)
        log.close()
        self.log = Path(log.name)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ChildServer:
        self.port = free_port()
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.command(self.port), env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         preexec_fn=_die_with_parent)
        return self

    def tail(self, lines: int = 8) -> list[str]:
        """The last lines of its output."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        return [ln for ln in text.splitlines() if ln.strip()][-lines:]

    def _answers(self) -> bool:
        with contextlib.suppress(OSError):
            with _opener.open(self.url + self.health, timeout=1) as r:
                return r.status == 200
        return False

    def wait_ready(self, timeout: float, hint: str = "") -> None:
        """Block until the health URL answers; InfraError (with the log's last lines) if the
        server exits or does not answer within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not self._answers():
            code = self.proc.poll()
            if code is not None:
                if self._respawns and any(m in " ".join(self.tail(20)).lower() for m in _PORT_TAKEN):
                    self._respawns -= 1
                    self.start()
                    continue
                self._fail(f"{self.name} exited with code {code}{hint}")
            if time.monotonic() > deadline:
                self._fail(f"{self.name} did not answer within {timeout:.0f} s{hint}")
            time.sleep(0.05)
        self.ready = True

    def _fail(self, message: str) -> None:
        details = self.tail()
        self.stop()
        raise InfraError(message, details=[f"{self.name}: {line}" for line in details])

    def stop(self, grace: float = 10.0) -> None:
        """Stop the server and wait for it; remove its log. Safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            if not self.ready:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(grace)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc is not None:
            # Anything the server started in its group (workers) goes with it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        self.log.unlink(missing_ok=True)
