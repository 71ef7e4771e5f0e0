"""The package as a team installs it: the wheel built from this checkout, installed alone into a
fresh virtual environment (its dependencies from pip's cache or the index, no extras), carries
the packs, the templates and the dashboard's template; lists and validates the shipped packs;
prints its version; and has no llama.cpp, whose `--model local` then names the extra to install."""
import subprocess
import sys
from pathlib import Path

import pytest

import tinyqa

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow   # a wheel build and an install (pip's cache makes it affordable)


@pytest.fixture(scope="module")
def alone(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp / "dist"),
                    str(ROOT)], check=True, timeout=600, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("tinyqa-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(tmp / "venv")], check=True, timeout=120)
    res = subprocess.run([str(tmp / "venv" / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(wheel)],
                         capture_output=True, text=True, timeout=1500, cwd=tmp)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return tmp / "venv" / "bin"


def run(bin_: Path, *args) -> subprocess.CompletedProcess:
    env = {"PATH": f"{bin_}:/usr/bin:/bin", "HOME": str(bin_.parent), "TINYQA_WORKER": "0",
           "TINYQA_CACHE_DIR": str(bin_.parent / "cache"), "PREFECT_HOME": str(bin_.parent / "prefect")}
    return subprocess.run([str(bin_ / "tinyqa"), *args], capture_output=True, text=True, timeout=600,
                          cwd=bin_.parent, env=env)


@pytest.mark.timeout(2400)
def test_the_wheel_alone_lists_and_validates_the_shipped_packs(alone):
    version = run(alone, "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"tinyqa {tinyqa.__version__}", version
    packs = run(alone, "packs")
    assert packs.returncode == 0 and "core_en" in packs.stdout and "stress_tokenizer" in packs.stdout, packs
    site = subprocess.run([str(alone / "python"), "-c", "from tinyqa.pack import shipped_dir; print(shipped_dir())"],
                          capture_output=True, text=True, check=True, cwd=alone.parent).stdout.strip()
    assert str(ROOT) not in site and (Path(site) / "LICENSE").is_file() and (Path(site) / "NOTICE").is_file()
    valid = run(alone, "validate", site)
    assert valid.returncode == 0, valid.stdout[-2000:] + valid.stderr[-2000:]
    pkg = Path(site).parent
    assert list((pkg / "suites" / "templates").glob("*.toml")) and list((pkg / "reports").glob("*.html.j2"))
    assert list(alone.parent.glob("lib/python3*/site-packages/tinyqa-*.dist-info/licenses/LICENSE"))


@pytest.mark.timeout(2400)
def test_no_llama_cpp_without_the_extra_and_local_says_which_to_install(alone):
    pip = subprocess.run([str(alone / "pip"), "show", "llama-cpp-python"], capture_output=True, text=True)
    assert pip.returncode == 1
    res = run(alone, "run", "--model", "local", "--packs", "core_en")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr
    assert "pip install 'tinyqa[local]'" in res.stderr
