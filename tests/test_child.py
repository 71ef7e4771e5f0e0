"""Work in a child process of its own (tinyqa/child.py): results and errors come back, a child
that dies is an infrastructure error, and an interrupted call kills its child."""
import os
import signal
import time

import psutil
import pytest

from tinyqa import child
from tinyqa.errors import InfraError

pytestmark = pytest.mark.slow   # each test starts a process


def test_result_and_exception_come_back():
    assert child.call(divmod, 7, 2, died="died") == (3, 1)
    with pytest.raises(ZeroDivisionError):
        child.call(divmod, 1, 0, died="died")


def test_a_child_that_dies_is_an_infrastructure_error():
    with pytest.raises(InfraError, match="it died"):
        child.call(os._exit, 9, died="it died")


def test_an_interrupted_call_kills_its_child():
    def interrupt(*_):
        raise KeyboardInterrupt

    def children() -> dict[int, psutil.Process]:   # besides multiprocessing's tracker, there for the process's life
        return {p.pid: p for p in psutil.Process().children(recursive=True)
                if p.is_running() and p.status() != "zombie" and "resource_tracker" not in " ".join(p.cmdline())}

    before = children()   # a session's servers, under pytest-xdist
    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.alarm(2)
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            child.call(time.sleep, 600, died="died")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 300   # not the child's 600 s
    left = [p.cmdline() for pid, p in children().items() if pid not in before]
    assert not left, left
