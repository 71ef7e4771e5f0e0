"""The `tinyqa` command line: it parses options, calls the operation of tinyqa/api.py (which
checks what can be checked cheaply, then runs) and renders the result (render.py). One module
per group of commands: runs.py (run, smoke, gate, nightly), packs.py (packs, describe,
validate, generate, export), store.py (runs, show, compare, items, report, compact, baseline),
drift.py, lmeval.py. Every command has --help; errors are one line. Exit codes: 0 pass, 1 a
regression or a failed check, 2 a usage or input error, 3 an infrastructure failure
(docs/architecture.md)."""
from __future__ import annotations

import atexit
import contextlib
import os
import sys

from tinyqa import phases
from tinyqa.cli import drift, lmeval, packs, runs, store  # noqa: F401  (their commands join the app)
from tinyqa.cli.base import app
from tinyqa.cli.render import err
from tinyqa.errors import TinyQAError

__all__ = ["app", "entry", "main"]

_exit_status = 1   # an uncaught exception's, unless SystemExit says otherwise


def _leave() -> None:
    """The last exit handler: every other one (Prefect's drains, the API server's stop,
    logging's shutdown) has run; skip tearing down LiteLLM's and Prefect's module graphs,
    which costs about 1.2 s a command and does nothing for the user."""
    phases.report()
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(_exit_status)


def entry() -> None:
    """The `tinyqa` console script: main() as a short-lived process that leaves as soon as its
    exit handlers have run. The offline defaults (tinyqa/offline.py) are set first, before
    anything imports LiteLLM."""
    global _exit_status
    from tinyqa import offline, worker

    offline.apply()
    atexit.register(_leave)   # registered first, so it runs last
    served = worker.handle(sys.argv[1:], serve_module="tinyqa.worker_cli")
    if served is not None:   # the command ran in a warm worker, on this terminal
        os._exit(served)
    try:
        main()
    except SystemExit as e:
        _exit_status = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
        raise


def main() -> None:
    try:
        app()
    except TinyQAError as e:
        err.print(f"tinyqa: error: {e}", markup=False)
        for line in e.details:
            err.print(f"  {line}", markup=False)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("tinyqa: interrupted")
        sys.exit(130)
    except RuntimeError as e:
        if "ephemeral Prefect API server" not in str(e):
            raise
        err.print(f"tinyqa: error: Prefect's temporary API server did not start in time; set "
                  f"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS higher or PREFECT_API_URL to a running server "
                  f"({str(e).splitlines()[0][:200]})", markup=False)
        sys.exit(3)
