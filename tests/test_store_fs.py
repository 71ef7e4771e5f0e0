"""The report store on any filesystem: a local folder, a file:// URL and an in-memory fsspec
filesystem; atomic writes; stray files ignored; two processes writing at once."""
import subprocess
import sys
import textwrap
import uuid
from datetime import datetime, timezone

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tinyqa.reports import store

DATE = "2026-11-23"


def _items(run_id, n=52):
    return [{"run_id": run_id, "suite": "tinyqa", "pack_id": "core_en", "item_id": f"en-{i:03d}", "lang": "en",
             "question": f"question {i} of {run_id}", "gold": "g", "prediction": "g" if i % 2 else "x",
             "em": bool(i % 2), "contains": bool(i % 2), "latency_s": 0.1 * i, "cached": False, "attempts": 1}
            for i in range(n)]


def _write_run(root, run_id, n=52):
    at = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
    store.write(root, "items", _items(run_id, n), run_id, DATE)
    store.write(root, "metrics", [{"run_id": run_id, "suite": "tinyqa", "pack_id": "core_en", "slice": "all",
                                   "metric": "contains", "value": 0.5, "n": n, "ci_low": 0.4, "ci_high": 0.6}],
                run_id, DATE)
    store.write(root, "runs", [{"run_id": run_id, "started_at": at, "suite": "tinyqa", "model": "m",
                                "pack_ids": ["core_en"], "status": "complete"}], run_id, DATE)


@pytest.fixture(params=["local", "file-url", "memory"])
def root(request, tmp_path):
    """One store location per filesystem kind; the memory one is removed afterwards."""
    if request.param == "local":
        yield tmp_path / "reports"
    elif request.param == "file-url":
        yield f"file://{tmp_path}/reports"
    else:
        url = f"memory://tinyqa-test-{uuid.uuid4().hex[:8]}/reports"
        yield url
        fsspec.filesystem("memory").rm(url.split("://", 1)[1], recursive=True)


def _all_files(root):
    fs, base = store.filesystem(root)
    return sorted(i.path[len(base):] for i in fs.get_file_info(store.pafs.FileSelector(base, recursive=True))
                  if i.type == store.pafs.FileType.File)


def test_round_trip_on_every_filesystem(root):
    for rid in ("r1", "r2"):
        _write_run(root, rid)
    assert _all_files(root) == sorted(f"/{t}/date={DATE}/{rid}.parquet"
                                      for t in ("items", "metrics", "runs") for rid in ("r1", "r2"))
    items = store.read(root, "items")
    assert items.num_rows == 104
    assert items.schema == store.table_schema("items")  # declared schema, `date` from the partition
    assert set(items.column("date").to_pylist()) == {DATE}
    assert store.read(root, "items", pc.field("run_id") == "r2").num_rows == 52
    assert store.read(root, "items", run_ids=["r1"]).column("run_id").unique().to_pylist() == ["r1"]
    assert store.read(root, "runs").column("pack_ids").to_pylist() == [["core_en"], ["core_en"]]
    assert store.read(root, "drift").num_rows == 0  # a table never written reads as empty

    con = store.connect(root)
    assert con.sql("select run_id, count(*), sum(contains::int) from items group by run_id order by run_id"
                   ).fetchall() == [("r1", 52, 26), ("r2", 52, 26)]
    assert con.sql("select count(*) from runs join metrics using (run_id) where metric = 'contains'").fetchall() == [(2,)]
    assert con.sql("select count(*) from drift").fetchall() == [(0,)]


def test_written_file_carries_schema_version(root):
    path = store.write(root, "metrics", [{"run_id": "r", "metric": "em", "value": 1.0}], "r", DATE)
    fs, _, paths = store.files(root, "metrics")
    assert len(paths) == 1 and str(path).endswith(paths[0].lstrip("/"))
    with fs.open_input_file(paths[0]) as f:
        schema = pq.read_schema(f)
    assert schema.metadata[b"tinyqa.schema_version"] == store.SCHEMA_VERSION.encode()


def test_stray_files_are_ignored(tmp_path):
    root = tmp_path / "reports"
    _write_run(root, "r1")
    part = root / "items" / f"date={DATE}"
    (part / ".r9.abc.tmp").write_bytes(b"half a parquet file")       # a writer's temporary file
    (part / "notes.txt").write_text("not a table")
    (root / "items" / "_SUCCESS").write_text("")
    (root / "store.py").write_text("# the store's own code lives beside the tables")
    (root / "__pycache__").mkdir()
    assert store.read(root, "items").num_rows == 52
    assert store.connect(root).sql("select count(*) from items").fetchall() == [(52,)]


def test_older_files_missing_columns_read_as_null(tmp_path):
    """A file written before a column was added still reads, the new column null."""
    folder = tmp_path / "items" / f"date={DATE}"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"run_id": ["old"], "item_id": ["en-1"], "contains": [True]}), folder / "old.parquet")
    store.write(tmp_path, "items", _items("new", 1), "new", DATE)
    rows = {r["run_id"]: r for r in store.read(tmp_path, "items").to_pylist()}
    assert rows["old"]["f1"] is None and rows["old"]["contains"] is True
    assert rows["new"]["question"] == "question 0 of new"


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError, TypeError)):
        store.write(tmp_path, "items", [{"run_id": "r", "latency_s": "not a number"}], "r", DATE)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    with pytest.raises(ValueError, match="unknown report table"):
        store.write(tmp_path, "nope", [], "r", DATE)
    with pytest.raises(ValueError, match="bad run id"):
        store.write(tmp_path, "items", [], "../escape", DATE)


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from datetime import datetime, timezone
    from tinyqa.reports import store
    root, prefix, go, runs = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    while not go.exists():
        time.sleep(0.005)
    at = datetime(2026, 11, 23, tzinfo=timezone.utc)
    for k in range(runs):
        rid = f"{prefix}-{k:03d}"
        items = [{"run_id": rid, "item_id": f"en-{i:03d}", "question": f"q{i}", "contains": i % 2 == 0}
                 for i in range(52)]
        store.write(root, "items", items, rid, "2026-11-23")
        store.write(root, "runs", [{"run_id": rid, "started_at": at, "status": "complete"}], rid, "2026-11-23")
""")


@pytest.mark.slow
def test_two_processes_writing_at_once(tmp_path):
    """Two writers started together on one store: every run of both is complete and readable."""
    root, go, runs = tmp_path / "reports", tmp_path / "go", 40
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(root), prefix, str(go), str(runs)],
                              stderr=subprocess.PIPE, text=True) for prefix in ("a", "b")]
    go.touch()
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    files = [p for p in root.rglob("*") if p.is_file()]
    assert len(files) == 2 * 2 * runs and all(p.suffix == ".parquet" for p in files)  # no temporary file left
    for p in files:
        pq.read_table(p)  # every file whole
    counts = dict(store.connect(root).sql("select run_id, count(*) from items group by run_id").fetchall())
    assert len(counts) == 2 * runs and set(counts.values()) == {52}
    assert store.read(root, "runs").num_rows == 2 * runs


def test_commands_write_and_read_a_store_at_a_url(mini_pack, tmp_path, tinyqa_bin, cli_env):
    """`--reports URL` on run, gate and runs: the files go through fsspec, the gate finds its
    baseline there, and the checkpoint lives in the cache meanwhile (object stores do not append)."""
    from fakeserver import ScriptedServer

    url = f"local://{tmp_path}/remote/reports"
    with ScriptedServer(lambda q, n: "Paris") as srv:
        common = ["--model", "openai/x", "--api-base", srv.url, "--packs", str(mini_pack), "--reports", url]
        first = subprocess.run([tinyqa_bin, "run", *common], cwd=tmp_path, env=cli_env, capture_output=True,
                               text=True, timeout=180)
        gate = subprocess.run([tinyqa_bin, "gate", *common, "--no-cache"], cwd=tmp_path, env=cli_env,
                              capture_output=True, text=True, timeout=180)
    assert first.returncode == 0, first.stderr
    assert gate.returncode == 0 and "the latest passing run of openai/x" in gate.stdout, gate.stdout + gate.stderr
    listed = subprocess.run([tinyqa_bin, "runs", "--reports", url], env=cli_env, capture_output=True, text=True)
    assert listed.returncode == 0 and listed.stdout.count("openai/x") == 2, listed.stdout
    assert len(store.read(url, "runs")) == 2 and len(store.read(url, "items")) == 2 * 4
    assert list((tmp_path / "remote" / "reports" / "items").glob("date=*/*.parquet"))
    assert not (tmp_path / "local:").exists()                               # no folder named after the URL
    assert (tmp_path / "cache" / "checkpoints").is_dir()                      # the checkpoints were here,
    assert not list((tmp_path / "cache" / "checkpoints").rglob("*.jsonl"))    # and are gone once complete


READ_AND_EXIT = textwrap.dedent("""
    import sys
    from tinyqa.reports import store
    root = sys.argv[1]
    for k in range(5):
        store.write(root, "items", [{"run_id": f"r{k}", "item_id": f"en-{i}"} for i in range(52)], f"r{k}", "2026-11-23")
    for _ in range(3):
        assert store.read(root, "items").num_rows == 5 * 52
""")


@pytest.mark.slow
def test_a_process_that_read_a_url_store_exits_cleanly():
    """Scanning a store behind fsspec used to leave Python-backed files for pyarrow's threads to
    release, which aborts the process as the interpreter exits (exit 134, `terminate called
    without an active exception`) in most runs on 2 cores: four runs, all clean."""
    for _ in range(4):
        done = subprocess.run([sys.executable, "-c", READ_AND_EXIT, "memory://tinyqa-exit/reports"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
