"""The warm worker: for repeated local runs, a process that has already imported LiteLLM and
what a command runs, so that the next `tinyqa run`, `smoke` or `gate` asks its first question
within a second instead of after the imports. It serves a command handed to it as a callable
(`serve(..., command=...)`; the command line's is tinyqa/worker_cli.py): it never imports the
command line.

How a command uses it (`handle`): it connects to the worker's Unix socket, hands over its
terminal (its stdin, stdout and stderr, passed as file descriptors), its arguments, working
folder and environment, and waits for the exit code. The worker forks a child per command;
the child takes the caller's environment (keys included), folder and terminal, runs the
command exactly as `tinyqa` would, and exits. The guarantees:

- the caller's environment and keys go to that command's child only: the worker itself runs
  with no key-like variable, keeps nothing of a request, and never writes one anywhere;
- code changes are picked up: a worker serves only the code it imported (its socket is named
  after the tinyqa files' sizes and times, the interpreter and the installed packages);
  changed code gets a new worker, and the old one leaves when idle;
- nothing is left running: a worker leaves after `TINYQA_WORKER_IDLE` seconds without a
  command (default 600);
- asked for: `TINYQA_WORKER=1` turns it on (a command otherwise leaves nothing running when
  it exits), and it stays off in CI (`CI` set). With no worker running, a command runs as
  usual and starts one on its way out.

Imports here stay light: the client side runs before anything else in every command.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

COMMANDS = ("run", "smoke", "gate")
IDLE_S = 600.0
_PACKAGES = ("tinyqa", "tinyqa.cli", "tinyqa.flows", "tinyqa.suites", "tinyqa.models", "tinyqa.reports",
             "tinyqa.validators", "tinyqa.generators")


# Besides the variables named like credentials (text.SECRET_VAR), a worker runs without any
# variable holding a URL with user:pass@ in it.
_URL_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s@]*:[^/\s@]*@", re.IGNORECASE)


class UnsafeFolder(Exception):
    """The worker's folder is not this user's own: no worker is used."""


def secret_env(name: str, value: str) -> bool:
    """Whether an environment variable holds a credential: named like one, or a URL with a
    password in it (DATABASE_URL=postgres://user:pass@host, HTTPS_PROXY=http://u:p@proxy)."""
    from tinyqa.text import SECRET_VAR

    return bool(SECRET_VAR.search(name) or _URL_CREDENTIALS.search(value))


def worker_env(env=os.environ) -> dict[str, str]:
    """The environment a worker starts with: the caller's, less every credential."""
    return {k: v for k, v in env.items() if not secret_env(k, v)}


def private_folder(folder: Path) -> Path:
    """`folder`, made (0700) if absent, once it is a real folder of this user's that no one
    else can write to; UnsafeFolder (with the one line to print) otherwise. In a shared
    temporary folder another user could create it first and read or replace the sockets."""
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700, parents=True)
    st = os.lstat(folder)
    import stat

    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeFolder(f"tinyqa: the warm worker's folder {folder} is not a folder (a link?): running without it")
    if st.st_uid != os.getuid():
        raise UnsafeFolder(f"tinyqa: the warm worker's folder {folder} belongs to another user (uid {st.st_uid}): "
                           "running without it")
    if st.st_mode & 0o077:
        if st.st_mode & 0o022:
            raise UnsafeFolder(f"tinyqa: the warm worker's folder {folder} is writable by others "
                               f"(mode {stat.S_IMODE(st.st_mode):o}): running without it")
        folder.chmod(0o700)
    return folder


def enabled(argv: list[str], env=os.environ) -> bool:
    """Whether this command goes through a warm worker."""
    if not argv or argv[0] not in COMMANDS or "--help" in argv:
        return False
    return env.get("TINYQA_WORKER") == "1" and not env.get("CI")


def _code_dirs() -> list[Path]:
    import importlib.util

    dirs = []
    for name in _PACKAGES:
        spec = importlib.util.find_spec(name)
        dirs += [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    return dirs


def key(dirs: list[Path] | None = None, env=os.environ) -> str:
    """What a worker serves: tinyqa's files (name, size, time), the interpreter, the installed
    packages (their folders' times) and Prefect's home. Any change names another worker."""
    h = hashlib.sha256(f"{sys.executable}\0{env.get('PREFECT_HOME', '')}".encode())
    for folder in sorted(dirs if dirs is not None else _code_dirs()):
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.is_file() and entry.name.endswith((".py", ".j2", ".toml")):
                st = entry.stat()
                h.update(f"{entry.path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    for p in sys.path:
        with contextlib.suppress(OSError):
            h.update(f"{p}\0{os.stat(p).st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def socket_path(k: str) -> Path:
    """The worker's socket, in a folder of this user's only (under the cache folder, or the
    temporary folder when that path is too long for a Unix socket)."""
    from tinyqa.settings import cache_dir

    folder = cache_dir() / "worker"
    if len(str(folder)) > 80:
        folder = Path(tempfile.gettempdir()) / f"tinyqa-{os.getuid()}"
    return private_folder(folder) / f"{k}.sock"


# --- messages: a 4-byte length, then JSON -----------------------------------------------------

def _send(sock: socket.socket, obj: dict, fds: list[int] | None = None) -> None:
    data = json.dumps(obj).encode()
    payload = struct.pack("!I", len(data)) + data
    if fds:
        socket.send_fds(sock, [payload], fds)
    else:
        sock.sendall(payload)


def _recv(sock: socket.socket, with_fds: int = 0) -> tuple[dict | None, list[int]]:
    head, fds, _, _ = socket.recv_fds(sock, 4, with_fds) if with_fds else (sock.recv(4), [], 0, None)
    if len(head) < 4:
        return None, fds
    (size,) = struct.unpack("!I", head)
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None, fds
        data += chunk
    return json.loads(data), fds


# --- the client: a `tinyqa` command ---------------------------------------------------------

def handle(argv: list[str], serve_module: str) -> int | None:
    """Run the command on a warm worker and return its exit code; None when it runs here (no
    worker, or not enabled: then `python -m SERVE_MODULE SOCKET` starts one on the way out)."""
    if not enabled(argv):
        return None
    try:
        path = socket_path(key())
    except UnsafeFolder as e:
        print(e, file=sys.stderr)
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        _spawn_on_exit(path, serve_module)
        return None
    from tinyqa import phases

    with sock:
        _send(sock, {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
                     "started_at": time.time() - phases.elapsed()},
              [0, 1, 2])
        started, _ = _recv(sock)
        if started is None:
            return None   # the worker was leaving: run here
        pid = started["pid"]
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda s, _f: os.kill(pid, s))
        done, _ = _recv(sock)
    if done is None:
        print("tinyqa: error: the warm worker stopped during the command (TINYQA_WORKER=0 runs without it)",
              file=sys.stderr)
        return 3
    return done["exit"]


def _spawn_on_exit(path: Path, serve_module: str) -> None:
    """Start a worker for the next command once this one has finished (its start-up then costs
    this command nothing)."""
    import atexit

    # The environment as the command found it (the command changes it: its own Prefect API).
    env = worker_env()

    def spawn() -> None:
        with open(path.with_suffix(".log"), "ab") as log:
            subprocess.Popen([sys.executable, "-m", serve_module, str(path)], env=env, stdin=subprocess.DEVNULL,
                             stdout=log, stderr=log, start_new_session=True, close_fds=True)

    atexit.register(spawn)


# --- the worker -----------------------------------------------------------------------------

def serve(path: Path, idle: float, command: Callable[[list[str]], None],
          warm_up: Callable[[], None] | None = None) -> None:
    """Bind the socket (or leave, if another worker has it), warm up (`warm_up()`: import what
    a command imports), then fork a child per command, which runs `command(argv)`, until `idle`
    seconds pass without one. The command is handed in: the worker knows no command line."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
    except OSError:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
            return   # another worker serves this code
        except OSError:
            path.unlink(missing_ok=True)   # a stale socket
            listener.bind(str(path))
        finally:
            probe.close()
    listener.listen(16)
    if warm_up is not None:
        warm_up()
    running: dict[int, socket.socket] = {}
    last = time.monotonic()
    try:
        while running or time.monotonic() - last < idle:
            ready, _, _ = select.select([listener], [], [], 0.05)
            if ready:
                conn, _ = listener.accept()
                pid = _start(conn, listener, command)
                if pid:
                    running[pid] = conn
            for pid in list(running):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    conn = running.pop(pid)
                    with contextlib.suppress(OSError):
                        _send(conn, {"exit": os.waitstatus_to_exitcode(status) % 256})
                    conn.close()
                    last = time.monotonic()
    finally:
        listener.close()
        path.unlink(missing_ok=True)


def _start(conn: socket.socket, listener: socket.socket, command: Callable[[list[str]], None]) -> int | None:
    """Receive a command and fork its child; the child never returns from here."""
    request, fds = _recv(conn, with_fds=3)
    if request is None or len(fds) != 3:
        conn.close()
        for fd in fds:
            os.close(fd)
        return None
    pid = os.fork()
    if pid:
        for fd in fds:
            os.close(fd)
        del request   # the caller's environment stays with its child only
        _send(conn, {"pid": pid})
        return pid
    listener.close()
    conn.close()
    _run_child(request, fds, command)


def _run_child(request: dict, fds: list[int], command: Callable[[list[str]], None]) -> None:  # pragma: no cover - a child
    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ.pop("TINYQA_WORKER", None)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
        from tinyqa import phases

        phases.restart(time.time() - request["started_at"])   # from the caller's start
        phases.mark("served by the warm worker")
        if "prefect" in sys.modules:   # imported by the warm-up: the caller's settings, not the worker's
            import prefect.context
            import prefect.logging.configuration

            prefect.context.refresh_global_settings_context()
            os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if {"-v", "--verbose"} & set(request["argv"])
                                  else "WARNING")
            prefect.logging.configuration.setup_logging()
        command(request["argv"])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        import atexit

        atexit._run_exitfuncs()   # Prefect's drains, then the command's own last handler (its exit code)
        os._exit(code)
