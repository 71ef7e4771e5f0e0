"""Child servers (tinyqa/servers.py): whenever a command stops its temporary Prefect API or
llama.cpp's server, start-up included, nothing reaches the terminal and no process is left;
a server that fails to start is one error with its last log lines."""
import os
import signal
import sys
import textwrap
import time

import pytest

from tinyqa.errors import InfraError
from tinyqa.servers import ChildServer

pytestmark = pytest.mark.slow


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def group_members(pgid: int) -> list[int]:
    members = []
    for stat in os.listdir("/proc"):
        if stat.isdigit():
            try:
                with open(f"/proc/{stat}/stat") as f:
                    fields = f.read().split(")")[-1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(stat))
    return members


def stop_at(server: ChildServer, moment, capfd) -> None:
    """Start `server`, stop it at `moment` (seconds after the start, or once it answers), and
    check that it said nothing on our terminal and left nothing behind."""
    server.start()
    pid = server.proc.pid
    if moment == "ready":
        server.wait_ready(180)
    else:
        time.sleep(moment)
    server.stop()
    assert not alive(pid) and group_members(pid) == []
    assert not server.log.exists()
    out, err = capfd.readouterr()
    assert out == "" and err == "", (out, err)


@pytest.mark.parametrize("moment", [0.0, 0.3, 1.0, 2.5, 5.0, "ready"])
def test_stopping_prefects_temporary_api_at_any_moment(moment, tmp_path, monkeypatch, capfd):
    from tinyqa import prefect_api

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))   # a new one: start-up migrates it
    stop_at(prefect_api.server(), moment, capfd)


@pytest.mark.parametrize("moment", [0.0, 0.2, "ready"])
def test_stopping_the_embedded_model_server_at_any_moment(moment, capfd):
    from tinyqa.models import local

    gguf = str(local.gguf_path())
    server = ChildServer("the embedded model server", lambda port: [
        sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--port", str(port), "--verbose", "False"],
        "/v1/models")
    stop_at(server, moment, capfd)


def script(tmp_path, body: str) -> str:
    path = tmp_path / "server.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_a_server_that_fails_to_start_is_one_error_with_its_last_lines(tmp_path, capfd):
    path = script(tmp_path, """
        import sys
        print("loading the app")
        print("ImportError: no module named 'nothing'", file=sys.stderr)
        sys.exit(3)
    """)
    server = ChildServer("a test server", lambda port: [sys.executable, path, str(port)], "/health").start()
    with pytest.raises(InfraError, match="a test server exited with code 3") as e:
        server.wait_ready(60)
    assert e.value.details[-1] == "a test server: ImportError: no module named 'nothing'"
    assert "\n" not in str(e.value) and server.proc is None
    assert capfd.readouterr() == ("", "")


def test_a_port_taken_before_the_server_binds_it_is_replaced(tmp_path):
    """The port chosen free is taken by someone else before the server binds it: it is started
    again on another port."""
    count = tmp_path / "starts"
    path = script(tmp_path, f"""
        import http.server, pathlib, sys
        starts = pathlib.Path({str(count)!r})
        n = int(starts.read_text()) + 1 if starts.exists() else 1
        starts.write_text(str(n))
        if n == 1:
            sys.exit("OSError: [Errno 98] Address already in use")
        class Health(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.end_headers()
        http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
    """)
    server = ChildServer("a test server", lambda port: [sys.executable, path, str(port)], "/health").start()
    try:
        server.wait_ready(60)
        assert server.ready and count.read_text() == "2"
    finally:
        server.stop()


def test_a_process_killed_outright_takes_its_server_with_it(tmp_path):
    """kill -9 of tinyqa (no clean-up runs): the server goes too (PR_SET_PDEATHSIG)."""
    import subprocess

    path = script(tmp_path, """
        import sys, time
        from tinyqa.servers import ChildServer
        s = ChildServer("sleeper", lambda port: [sys.executable, "-c", "import time; time.sleep(600)"], "/").start()
        print(s.proc.pid, flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, path], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30   # the kernel signals the child at once; it may take a moment to die
    while alive(child):
        assert time.monotonic() < deadline, "the server outlived its parent"
        time.sleep(0.05)
