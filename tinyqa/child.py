"""Work run in a spawned child process of its own (lm-eval's runs and its dataset mirror): the
Hugging Face settings it makes and the memory it takes are its own, and end with the call."""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from tinyqa.errors import InfraError


def call(fn, *args, died: str):
    """`fn(*args)` in a spawned child: its result, or the exception it raised. When the child
    dies on its own (out of memory), an InfraError saying `died`; when this call is interrupted
    (Ctrl-C, a task's timeout, a cancelled flow run), the child is killed, not waited for."""
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        return pool.submit(fn, *args).result()
    except BrokenProcessPool:
        raise InfraError(died) from None
    except BaseException:
        for process in list(pool._processes.values()):   # the executor has no public way to stop its worker
            process.kill()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
