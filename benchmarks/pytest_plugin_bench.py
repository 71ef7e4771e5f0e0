"""What the pytest plugin costs a test suite that does not use it, side by side in one run.

1. Importing the plugin module once pytest is imported (`python -X importtime`): tinyqa's
   package and tinyqa.pytest_plugin, the only modules it adds.
2. pytest's whole start-up and run on a project of one trivial test, with the plugin and
   without it, as the CPU time of the pytest process, interleaved, N runs each: with every plugin installed in the venv (tinyqa by its
   entry point, off with `-p no:tinyqa`) and with pytest alone (no plugin autoload; tinyqa
   with `-p tinyqa.pytest_plugin`), where the difference is not lost in the other plugins'
   start-up; and the same project holding examples/test_model.py, its tinyqa tests collected
   and deselected (`-k plain`): the marker and the parametrisation at collection, no model run.

    .venv/bin/python benchmarks/pytest_plugin_bench.py [N]
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import resource
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLAIN = "def test_plain():\n    assert 1 + 1 == 2\n"


def import_us() -> dict[str, int]:
    """Cumulative import time (µs) of the modules `import tinyqa.pytest_plugin` adds after pytest."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import pytest; import tinyqa.pytest_plugin"],
                         capture_output=True, text=True, check=True).stderr
    times: dict[str, int] = {}
    seen_pytest = False
    for line in out.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, raw = line.split(":", 1)[1].split("|")
        name, depth = raw.strip(), len(raw) - len(raw.lstrip())
        seen_pytest |= name == "pytest"
        if seen_pytest and depth == 1:   # imported at top level, after pytest
            times[name] = int(cumulative)
    return {k: v for k, v in times.items() if k != "pytest"}


def run(folder: Path, env: dict | None, *args: str) -> float:
    """CPU seconds (user + system) of one pytest process: unlike its wall time, not stretched
    by whatever else the machine runs (this one is shared)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=folder, env=env,
                   capture_output=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(n: int = 10) -> None:
    imports = min((import_us() for _ in range(5)), key=lambda t: sum(t.values()))
    print("import after pytest (best of 5):", ", ".join(f"{k} {v / 1000:.1f} ms" for k, v in imports.items()))
    alone = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")   # no entry-point plugin but those named
    with tempfile.TemporaryDirectory() as tmp:
        empty, example = Path(tmp) / "empty", Path(tmp) / "example"
        for folder in (empty, example):
            folder.mkdir()
            (folder / "test_plain.py").write_text(PLAIN)
        shutil.copy(ROOT / "examples" / "test_model.py", example / "test_model.py")
        groups = {
            "every installed plugin (this venv: anyio, hypothesis, langsmith, timeout)": {
                "tinyqa off (-p no:tinyqa)": (empty, None, "-p", "no:tinyqa"),
                "tinyqa on": (empty, None),
                "tinyqa on, examples/test_model.py collected and deselected": (example, None, "-k", "plain")},
            "pytest alone (PYTEST_DISABLE_PLUGIN_AUTOLOAD=1)": {
                "tinyqa off": (empty, alone),
                "tinyqa on (-p tinyqa.pytest_plugin)": (empty, alone, "-p", "tinyqa.pytest_plugin"),
                "tinyqa on, examples/test_model.py collected and deselected": (
                    example, alone, "-p", "tinyqa.pytest_plugin", "-k", "plain")},
        }
        cases = {(g, label): case for g, group in groups.items() for label, case in group.items()}
        for folder, env, *args in cases.values():   # warm the file cache once
            run(folder, env, *args)
        times: dict[tuple, list[float]] = {k: [] for k in cases}
        for _ in range(n):
            for key, (folder, env, *args) in cases.items():
                times[key].append(run(folder, env, *args))
    print(f"pytest start-up and one plain test, CPU seconds of the process, {n} runs each, interleaved (median, min):")
    for g, group in groups.items():
        print(f"  {g}")
        base = times[(g, next(iter(group)))]
        for label in group:
            ts = times[(g, label)]
            print(f"    {label:60s} {statistics.median(ts):.3f} s ({statistics.median(ts) - statistics.median(base):+.3f}), "
                  f"min {min(ts):.3f} s ({min(ts) - min(base):+.3f})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
