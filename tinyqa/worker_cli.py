"""The warm worker's process for the `tinyqa` command (`python -m tinyqa.worker_cli SOCKET`):
tinyqa/worker.py serves the command line's command, handed to it here as a callable, so that
the worker never imports the command line. Light on import: the socket is bound before the
command line is imported (the warm-up)."""
from __future__ import annotations

import os
import sys
from pathlib import Path


def warm_up() -> None:
    """Import what a command imports before its first request."""
    import tinyqa.cli  # noqa: F401
    from tinyqa import orchestration
    from tinyqa.flows import steps  # noqa: F401
    from tinyqa.models import llm

    if orchestration.use_prefect():   # the commands will run flows on the configured API
        from tinyqa.flows import gate, qa  # noqa: F401
    llm.preload()


def command(argv: list[str]) -> None:
    """Run `tinyqa ARGV` in this (forked) process, as the console script would."""
    from tinyqa import cli

    sys.argv = ["tinyqa", *argv]
    cli.entry()


def main() -> None:
    from tinyqa import offline, worker

    offline.apply()
    worker.serve(Path(sys.argv[1]), float(os.environ.get("TINYQA_WORKER_IDLE") or worker.IDLE_S),
                 command=command, warm_up=warm_up)


if __name__ == "__main__":
    main()
