"""The Prefect API a command's flows report to, when it runs flows (tinyqa/orchestration.py:
a Prefect API configured, or `--prefect`).

Where Prefect is configured with an API URL (PREFECT_API_URL, a profile, prefect.toml: a
`prefect server start`, Prefect Cloud), that server. Otherwise a temporary API server of the
command's own, like Prefect's ephemeral one (same app and settings, its database in
PREFECT_HOME), started as soon as the command's inputs are checked, so that its start-up
(about 4 s here, 11 s when it migrates a new database) runs on another core while the command
imports LiteLLM and Prefect, instead of after them. It is a `tinyqa.servers.ChildServer`:
its output goes to a log file, and it is stopped, silently and completely, when the command
exits, whenever that is.
"""
from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import secrets
import sys
from pathlib import Path

from tinyqa import orchestration
from tinyqa.servers import ChildServer

_server: ChildServer | None = None
_auth: str | None = None   # the Basic credential the temporary server takes (user:secret)
_settings = contextlib.ExitStack()


def _configured_url() -> str | None:
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


_profile_url = orchestration.profile_url


def _command(port: int) -> list[str]:
    # What prefect.server.api.server.SubprocessASGIServer runs: no UI, ephemeral mode (no
    # background services), migrations on start.
    prefect_dir = Path(importlib.util.find_spec("prefect").origin).parent
    return [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect_dir.parent), "--factory",
            "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "error", "--lifespan", "on"]


def server(auth: str | None = None) -> ChildServer:
    """The temporary API server, not yet started: Prefect's app with the environment of its
    ephemeral server, its database in PREFECT_HOME. It takes only requests with the Basic
    credential `auth` (`user:secret`; default a random one, kept for `wait_ready` and `adopt`
    in this process and its forks), its health check excepted: another local user's requests
    are refused."""
    global _auth
    _auth = auth = auth or f"tinyqa:{secrets.token_urlsafe(32)}"
    # Prefect makes its home without parents and then cannot open its database: a CI's
    # PREFECT_HOME (…/.cache/prefect) may be the first folder of its path to exist.
    Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser().mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PREFECT_UI_ENABLED="0", PREFECT__SERVER_EPHEMERAL="1", PREFECT__SERVER_FINAL="1",
               PREFECT_SERVER_API_AUTH_STRING=auth)
    return ChildServer("Prefect's temporary API server", _command, "/api/health", env)


def start() -> None:
    """Start the temporary API server, unless one is started or a server is configured in the
    environment or the active profile. Other places Prefect reads settings from (prefect.toml,
    .env) are only known once Prefect is imported: wait_ready() checks, and stops this one."""
    global _server
    if _server is not None or os.environ.get("PREFECT_API_URL") or _profile_url() or (
            "prefect.settings" in sys.modules and _configured_url()):   # e.g. a test harness
        return
    _server = server().start()
    atexit.register(stop)


def wait_ready() -> None:
    """Use the configured server if Prefect's settings name one; otherwise block until the
    temporary server answers and point this process (and the processes it starts) at it.
    InfraError (exit 3) with the server's last log lines if it does not answer within
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS."""
    if _server is None:
        return
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, get_current_settings, temporary_settings

    settings = get_current_settings()
    if settings.api.url or not settings.server.ephemeral.enabled:
        stop()
        return
    _server.wait_ready(settings.server.ephemeral.startup_timeout_seconds,
                       hint="; set PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS higher or "
                            "PREFECT_API_URL to a running server")
    url = _server.url + "/api"
    os.environ["PREFECT_API_URL"] = url
    os.environ["PREFECT_API_AUTH_STRING"] = _auth   # this process's and the processes it starts
    _settings.enter_context(temporary_settings(updates={PREFECT_API_URL: url, PREFECT_API_AUTH_STRING: _auth}))


_adopted: str | None = None


def adopt(url: str, auth: str | None = None) -> None:
    """Report to the temporary server of another process (a warm worker's, which forked this
    one), as if it were this command's own: nothing to start, nothing to stop; `auth` is its
    Basic credential (default: the one the forking process's `server()` made)."""
    global _adopted
    _adopted = url
    os.environ["PREFECT_API_URL"] = url
    if auth or _auth:
        os.environ["PREFECT_API_AUTH_STRING"] = auth or _auth


def temporary() -> bool:
    """Whether this process's flows report to a temporary server (its own, or adopted)."""
    return _server is not None or _adopted is not None


def stop() -> None:
    """Stop the temporary server (see ChildServer.stop)."""
    global _server
    server, _server = _server, None
    if server is not None:
        server.stop()
