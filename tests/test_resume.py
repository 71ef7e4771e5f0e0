"""An interrupted run keeps its answers and `--resume` finishes it without asking them again."""
import signal
import subprocess
import threading
import time

import pyarrow.dataset as ds

from conftest import default_sigint
from fakeserver import ScriptedServer


def test_interrupted_run_resumes_without_asking_again(tmp_path, tinyqa_bin, cli_env):
    from tinyqa.pack import shipped_dir

    reports = tmp_path / "reports"
    answering, held = threading.Semaphore(10), threading.Event()

    def answer(q, n):
        """The first 10 requests are answered; the rest wait (in flight) until the test ends."""
        if not answering.acquire(blocking=False):
            held.wait(120)
        return "Paris"

    with ScriptedServer(answer) as srv:
        args = [tinyqa_bin, "run", "--model", "openai/x", "--api-base", srv.url, "--packs", "core_en",
                "--concurrency", "2", "--no-cache", "--reports", str(reports)]
        proc = subprocess.Popen(args, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=default_sigint)
        folder = reports / "_checkpoints"
        while not (any(len(p.read_text().splitlines()) == 11 for p in folder.glob("*.jsonl"))
                   and sum(srv.asked.values()) == 12):
            assert proc.poll() is None, proc.communicate()   # the 10 answers checkpointed, 2 requests held
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        held.set()
        assert proc.returncode != 0 and "Traceback" not in stderr
        assert "--resume" in stderr, stderr
        run_id = stderr.split("--resume ")[1].split()[0].rstrip("`")
        asked_before = sum(srv.asked.values())
        # The store stays readable: no table holds a half-written or partial run.
        assert not (reports / "runs").exists() or ds.dataset(reports / "runs", partitioning="hive").count_rows() == 0
        checkpoint = folder / f"{run_id}.jsonl"
        answered = len(checkpoint.read_text().splitlines()) - 1
        assert answered == 10 and asked_before == 12      # 10 answered, 2 in flight when interrupted

        res = subprocess.run([tinyqa_bin, "run", "--resume", run_id, "--reports", str(reports)],
                             env=cli_env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
    asked_after = sum(srv.asked.values()) - asked_before
    assert asked_after == 52 - answered                     # answered items were not asked again
    items = ds.dataset(reports / "items", partitioning="hive").to_table().to_pylist()
    assert len(items) == 52 and {r["run_id"] for r in items} == {run_id}
    assert len({r["item_id"] for r in items}) == 52
    assert not checkpoint.exists()
    n = len(list((shipped_dir() / "core_en" / "data.jsonl").read_text().splitlines()))
    assert n == 52


def test_checkpoint_keeps_no_credentials_and_resume_asks_for_them_again(tmp_path, tinyqa_bin, cli_env):
    import pytest

    from tinyqa.errors import InputError
    from tinyqa.reports.checkpoint import Checkpoint

    meta = {"model": "openai/x", "packs": ["core_en"], "template": "qa-v1", "started_at": "2026-11-23T10:00:00+00:00"}
    Checkpoint.create(tmp_path, "r1", {**meta, "api_base": "http://bob:S3CRETKEY@127.0.0.1:9/v1?key=S3CRETKEY"})
    Checkpoint.create(tmp_path, "r2", {**meta, "api_base": "http://127.0.0.1:9/v1"})
    assert "S3CRETKEY" not in (tmp_path / "_checkpoints" / "r1.jsonl").read_text()
    with_creds, plain = Checkpoint.load(tmp_path, "r1"), Checkpoint.load(tmp_path, "r2")
    with pytest.raises(InputError, match="pass --api-base again"):
        with_creds.resume_api_base(None)
    assert with_creds.resume_api_base("http://bob:K@127.0.0.1:9/v1") == "http://bob:K@127.0.0.1:9/v1"
    assert plain.resume_api_base(None) == "http://127.0.0.1:9/v1"
    res = subprocess.run([tinyqa_bin, "run", "--resume", "r1", "--reports", str(tmp_path)],
                         env=cli_env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "pass --api-base again" in res.stderr, res.stderr


def test_a_torn_last_line_is_cut_off_before_the_resumed_run_appends(tmp_path):
    """A kill mid-write leaves half a row; the resumed run's rows must survive a second resume."""
    from tinyqa.reports.checkpoint import Checkpoint

    meta = {"model": "openai/x", "packs": ["core_en"], "template": "qa-v1", "started_at": "2026-11-23T10:00:00+00:00"}
    first = Checkpoint.create(tmp_path, "r1", meta)
    first.append({"pack_id": "core_en", "item_id": "en-1", "error": None})
    first.close()   # killed: the file stays, with half a row at its end
    with open(first.path, "a", encoding="utf-8") as f:
        f.write('{"pack_id": "core_en", "item_id": "en-2", "err')
    resumed = Checkpoint.load(tmp_path, "r1")
    assert [r["item_id"] for r in resumed.rows] == ["en-1"]
    resumed.append({"pack_id": "core_en", "item_id": "en-2", "error": None})
    resumed.close()
    assert [r["item_id"] for r in Checkpoint.load(tmp_path, "r1").rows] == ["en-1", "en-2"]
