"""The Prefect API a command's flows report to.

Where Prefect is configured with an API URL (PREFECT_API_URL, a profile, prefect.toml: a
`prefect server start`, Prefect Cloud), that server. Otherwise a temporary API server of the
command's own, like Prefect's ephemeral one (same app and settings, its database in
PREFECT_HOME), but started first thing, so that its start-up (about 4 s here, 11 s when it
migrates a new database) runs on another core while the command imports LiteLLM and Prefect,
instead of after them. It is stopped when the command exits.
"""
from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

from tinyqa.errors import InfraError

STARTUP_FAILURE = 3   # uvicorn's exit code when it cannot start (its port taken, the app failing)
_server: subprocess.Popen | None = None
_url: str | None = None
_settings = contextlib.ExitStack()


def _configured_url() -> str | None:
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


def _profile_url() -> str | None:
    """PREFECT_API_URL of the active Prefect profile (what `prefect config set` and `prefect
    cloud login` write), read without importing Prefect."""
    home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    path = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active", "ephemeral")
    return profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL")


def start() -> None:
    """Start the temporary API server, unless one is started or a server is configured in the
    environment or the active profile. Other places Prefect reads settings from (prefect.toml,
    .env) are only known once Prefect is imported: wait_ready() checks, and stops this one."""
    if _server is not None or os.environ.get("PREFECT_API_URL") or _profile_url() or (
            "prefect.settings" in sys.modules and _configured_url()):   # e.g. a test harness
        return
    _spawn()
    atexit.register(stop)


def _spawn() -> None:
    global _server, _url
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    prefect_dir = Path(importlib.util.find_spec("prefect").origin).parent
    # What prefect.server.api.server.SubprocessASGIServer runs, with its environment: no UI,
    # ephemeral mode (no background services), migrations on start.
    env = dict(os.environ, PREFECT_UI_ENABLED="0", PREFECT__SERVER_EPHEMERAL="1", PREFECT__SERVER_FINAL="1")
    _server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect_dir.parent), "--factory",
         "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "error", "--lifespan", "on"],
        env=env, stdin=subprocess.DEVNULL)
    _url = f"http://127.0.0.1:{port}/api"


def wait_ready() -> None:
    """Use the configured server if Prefect's settings name one; otherwise block until the
    temporary server answers and point this process (and the processes it starts) at it.
    Exit 3 if it does not answer within PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS."""
    if _server is None:
        return
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    settings = get_current_settings()
    if settings.api.url or not settings.server.ephemeral.enabled:
        stop()
        return
    timeout = settings.server.ephemeral.startup_timeout_seconds
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # loopback: never a proxy
    respawns = 2   # a port taken between choosing it and binding it
    while True:
        if _server.poll() == STARTUP_FAILURE and respawns:
            respawns -= 1
            _spawn()
        elif _server.poll() is not None:
            raise InfraError(f"Prefect's temporary API server exited with code {_server.returncode}; "
                             "set PREFECT_API_URL to a running server, or see the messages above")
        with contextlib.suppress(OSError):
            with opener.open(f"{_url}/health", timeout=1) as r:
                if r.status == 200:
                    break
        if time.monotonic() > deadline:
            raise InfraError(f"Prefect's temporary API server did not start in {timeout} s; set "
                             "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS higher or PREFECT_API_URL "
                             "to a running server")
        time.sleep(0.05)
    os.environ["PREFECT_API_URL"] = _url
    _settings.enter_context(temporary_settings(updates={PREFECT_API_URL: _url}))


def temporary() -> bool:
    """Whether this process's flows report to its own temporary server."""
    return _server is not None


def stop() -> None:
    """Ask the server to shut down (it finishes its writes on its own; nothing here waits)."""
    global _server
    if _server is not None:
        _server.terminate()
        _server = None
