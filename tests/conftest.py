import json
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
# What the `tinyqa` command sets at its entry (LiteLLM's cost map offline, ...): tests import
# tinyqa's modules directly. (`import tinyqa` sets nothing: test_layers.py checks it in a
# process of its own.)
from tinyqa import offline  # noqa: E402

offline.apply()
# Keep caches and Prefect's home inside the test run, never the user's.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

# Tests that use these start Prefect or a `tinyqa` process: they are `slow` (pyproject.toml).
SLOW_FIXTURES = {"prefect_harness", "tinyqa_bin", "cli_env", "prefect_home"}


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


MINI = [
    {"text": "What is the capital of France?", "label": "Paris", "aliases": [],
     "context": "Paris is the capital of France.", "tags": {"category": "geography", "difficulty": "easy"}, "lang": "en"},
    {"text": "How many legs does a spider have?", "label": "8", "aliases": ["eight"],
     "context": "A spider has 8 legs.", "tags": {"category": "science", "difficulty": "easy"}, "lang": "en"},
    {"text": "Who wrote Hamlet?", "label": "William Shakespeare", "aliases": ["Shakespeare"],
     "context": "Hamlet was written by William Shakespeare.", "tags": {"category": "literature", "difficulty": "medium"}, "lang": "en"},
    {"text": "Quelle est la capitale de l'Italie ?", "label": "Rome", "aliases": ["Roma"],
     "context": "Rome est la capitale de l'Italie.", "tags": {"category": "geography", "difficulty": "easy"}, "lang": "fr"},
]
GOLD = {i["text"]: i["label"] for i in MINI}


def default_sigint() -> None:
    """preexec_fn for a child the test interrupts with SIGINT: a suite started as a background
    job of a non-interactive shell inherits SIGINT ignored, and passes that on to its children,
    which would then never see the signal (Python installs its handler only where SIGINT is not
    ignored at start)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def write_pack(folder: Path, items: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.jsonl").write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    return folder


@pytest.fixture
def mini_pack(tmp_path) -> Path:
    """A described 4-item pack (ids, sha256 and croissant.json filled in)."""
    from tinyqa.validators.croissant import describe_pack

    return describe_pack(write_pack(tmp_path / "mini", MINI)).path


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for every in-process flow test."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


def _absl_writes_to_the_real_stderr():
    """mlcroissant imports absl, whose log handler takes sys.stderr as it is at import: in a
    test, pytest's capture file. When Prefect later configures logging (inside a CliRunner
    call, where sys.stderr is the runner's), it closes every old handler, and absl's closes a
    stream that is no longer sys.stderr: pytest's capture file, failing every later test."""
    import absl.logging

    absl.logging.get_absl_handler().python_handler.stream = sys.__stderr__


_absl_writes_to_the_real_stderr()


@pytest.fixture(scope="session")
def prefect_home(tmp_path_factory) -> Path:
    """One PREFECT_HOME for the commands the tests run: the first one migrates its database."""
    return tmp_path_factory.mktemp("prefect-home")


@pytest.fixture
def cli_env(tmp_path, prefect_home):
    """Environment for `tinyqa` subprocesses: the venv's bin first, the cache in tmp, Prefect's
    home the tests' own, no Prefect server configured (each command runs its temporary API)."""
    env = dict(os.environ, TINYQA_CACHE_DIR=str(tmp_path / "cache"), PREFECT_HOME=str(prefect_home))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.pop("PREFECT_API_URL", None)
    return env


def processes_of(env: dict) -> list[int]:
    """Processes started for this environment: those whose environment names its PREFECT_HOME
    (the temporary API server, llama.cpp's server, tinyqa itself)."""
    mark = f"PREFECT_HOME={env['PREFECT_HOME']}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and mark in (proc / "environ").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


@pytest.fixture
def tinyqa_bin():
    return shutil.which("tinyqa", path=str(Path(sys.executable).parent)) or "tinyqa"
