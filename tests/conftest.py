import json
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
# Keep caches and Prefect's home inside the test run, never the user's.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

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


def write_pack(folder: Path, items: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.jsonl").write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    return folder


@pytest.fixture
def mini_pack(tmp_path) -> Path:
    """A described 4-item pack (ids, sha256 and croissant.json filled in)."""
    from tinyqa.pack import describe_pack

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


@pytest.fixture
def cli_env(tmp_path):
    """Environment for `tinyqa` subprocesses: the venv's bin first, caches in tmp."""
    env = dict(os.environ, TINYQA_CACHE_DIR=str(tmp_path / "cache"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


@pytest.fixture
def tinyqa_bin():
    return shutil.which("tinyqa", path=str(Path(sys.executable).parent)) or "tinyqa"
