"""Where a command's time goes: `TINYQA_PROFILE=1 tinyqa …` prints, on exit, the seconds
from the process's start to each phase (first time reached), to stderr, then whether Prefect
and LiteLLM were imported (`imported: prefect no, litellm yes`)."""
from __future__ import annotations

import os
import sys
import time

_on = bool(os.environ.get("TINYQA_PROFILE"))
_marks: dict[str, float] = {}


def _process_start() -> float:
    """The process's start on the perf_counter clock (Linux: /proc), so that the interpreter's
    own start-up is counted; else now."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return time.perf_counter() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.perf_counter()


_start = _process_start() if _on else 0.0


def elapsed() -> float:
    """Seconds since the process started."""
    return time.perf_counter() - (_start if _on else _process_start())


def restart(since: float) -> None:
    """Count from another process's start, `since` seconds ago (a warm worker's child serves a
    command whose process started before)."""
    global _on, _start
    _on = bool(os.environ.get("TINYQA_PROFILE"))
    _marks.clear()
    _start = time.perf_counter() - since


def mark(name: str) -> None:
    if _on and name not in _marks:
        _marks[name] = time.perf_counter() - _start


def report() -> None:
    if _on:
        mark("exit")
        width = max(map(len, _marks))
        for name, t in _marks.items():
            print(f"tinyqa profile: {name:<{width}} {t:6.2f} s", file=sys.stderr)
        loaded = ", ".join(f"{m} {'yes' if m in sys.modules else 'no'}" for m in ("prefect", "litellm"))
        print(f"tinyqa profile: imported: {loaded}", file=sys.stderr)


def prefetch(*modules: str, delay: float = 0.1) -> None:
    """Import `modules` on a daemon thread after `delay` seconds: for what a command needs only
    after its requests are answered (the report store and pyarrow), imported while it waits for
    the answers instead of before its first request. The delay lets the first requests go out
    before the imports take the interpreter's lock. An import that fails here is left for the
    caller's own import to report."""
    import importlib
    import threading

    def run() -> None:
        time.sleep(delay)
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:   # noqa: BLE001 - the caller's import raises it where it matters
                return
        mark("prefetched " + ", ".join(m.rsplit(".", 1)[-1] for m in modules))

    threading.Thread(target=run, name="tinyqa-prefetch", daemon=True).start()
