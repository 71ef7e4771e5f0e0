"""The report store on an S3-protocol server (moto_server on loopback): s3fs and botocore take
the endpoint from AWS_ENDPOINT_URL and the credentials from the environment, as on AWS.

Writers in several processes with a reader listing and reading meanwhile; then every command
that touches the store (`run` interrupted and `--resume`d, `gate` with its baseline from the
store, `nightly` on a Dask scheduler with two `dask worker` processes, `runs`, `show`,
`compare`, `report`) against
`s3://bucket/prefix`; pyarrow and DuckDB read the same store; and no credential is written
anywhere: the bucket, the cache, Prefect's home, the dashboard, the output."""
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from clusters import dask_cluster, s3_server
from conftest import GOLD, MINI, default_sigint, write_pack
from fakeserver import ScriptedServer
from test_store_fs import WRITER   # the same writers as on a local store

pytestmark = pytest.mark.slow
pytest.importorskip("s3fs", reason="the `s3` extra is not installed (pip install -e '.[s3]')")
pytest.importorskip("moto.server", reason="moto[server] is not installed (the `dev` extra)")

ACCESS_KEY = f"AKIATINYQA{secrets.token_hex(5).upper()}"
SECRET_KEY = f"tinyqa-FAKE-S3-SECRET-{secrets.token_hex(12)}"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """The server and the environment a team's machines would have: endpoint, region, keys."""
    folder = tmp_path_factory.mktemp("s3")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1")
    with s3_server(folder, env) as endpoint:
        yield {**env, "AWS_ENDPOINT_URL": endpoint}


@pytest.fixture(autouse=True)
def aws_env(s3, monkeypatch):
    """This process reads the store too (as the dashboard's or CI's machine would)."""
    import s3fs

    for k, v in s3.items():
        if k.startswith("AWS_"):
            monkeypatch.setenv(k, v)
    yield
    s3fs.S3FileSystem.clear_instance_cache()   # no client of this server outlives the module


def _bucket(s3env) -> str:
    name = f"tinyqa-{uuid.uuid4().hex[:12]}"
    _client(s3env).create_bucket(Bucket=name)
    return name


def _client(s3env):
    import boto3

    return boto3.client("s3", endpoint_url=s3env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


def _objects(s3env, bucket) -> dict[str, bytes]:
    client = _client(s3env)
    keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])]
    return {k: client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


READER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    import boto3
    from tinyqa.reports import store
    root, bucket, go, done = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
    client = boto3.client("s3")
    while not go.exists():
        time.sleep(0.005)
    reads = temp_seen = 0
    while not done.exists():
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
        temp_seen += any(k.rsplit("/", 1)[-1].startswith(".") for k in keys)
        runs = store.read(root, "runs").column("run_id").to_pylist()   # a runs row: a complete run
        items = store.read(root, "items", run_ids=runs)                 # every file read whole
        counts = {r: 0 for r in runs}
        for r in items.column("run_id").to_pylist():
            counts[r] += 1
        assert set(counts.values()) <= {52}, counts
        reads += 1
    print(json.dumps({"reads": reads, "temp_seen": temp_seen}))
""")


def test_writers_and_a_reader_at_once(s3, tmp_path):
    """Two processes write 10 runs each while a third lists and reads the store: every file it
    reads is whole, every run with a runs row has all its items, nothing is lost, no temporary
    object is left."""
    from tinyqa.reports import store

    bucket, runs = _bucket(s3), 10
    root, go, done = f"s3://{bucket}/reports", tmp_path / "go", tmp_path / "done"
    env = {**s3, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    reader = subprocess.Popen([sys.executable, "-c", READER, root, bucket, str(go), str(done)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, root, prefix, str(go), str(runs)], env=env,
                                stderr=subprocess.PIPE, text=True) for prefix in ("a", "b")]
    go.touch()
    for w in writers:
        assert w.wait(timeout=240) == 0, w.stderr.read()
    done.touch()
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, (out, err)
    seen = json.loads(out)
    assert seen["reads"] >= 3, seen
    objects = _objects(s3, bucket)
    assert sorted(objects) == sorted(f"reports/{t}/date=2026-11-23/{p}-{k:03d}.parquet"
                                     for t in ("items", "runs") for p in "ab" for k in range(runs))
    assert store.read(root, "items").num_rows == 2 * runs * 52 and store.read(root, "runs").num_rows == 2 * runs
    print(f"reader: {seen['reads']} full reads while writing, a temporary object listed in {seen['temp_seen']}")


def _scan(blobs: dict[str, bytes]) -> list[str]:
    needles = {"access key id": ACCESS_KEY.encode(), "secret key": SECRET_KEY.encode()}
    return [f"{where}: {name}" for where, data in blobs.items() for name, needle in needles.items() if needle in data]


def _files(*roots: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for root in roots for p in root.rglob("*") if p.is_file()}


def test_commands_against_an_s3_store(s3, tmp_path, tinyqa_bin, cli_env, prefect_home):
    import duckdb
    from distributed import Client, get_task_stream
    import fsspec
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    from tinyqa.validators.croissant import describe_pack
    from tinyqa.reports import store

    bucket = _bucket(s3)
    url = f"s3://{bucket}/team/reports"
    work = tmp_path / "work"
    for d in ("home", "tmp"):
        (tmp_path / d).mkdir()
    for name in ("mini", "mini2"):
        describe_pack(write_pack(work / name, MINI))
    env = {**cli_env, **s3, "HOME": str(tmp_path / "home"), "TMPDIR": str(tmp_path / "tmp")}
    outputs = {}

    def tinyqa(*args, **kw):
        res = subprocess.run([tinyqa_bin, *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)
        outputs[" ".join(args[:2])] = (res.stdout + res.stderr).encode()
        return res

    answering, held = threading.Semaphore(2), threading.Event()

    def answer(q, n):
        """The first two requests are answered; the next waits until the run is interrupted."""
        if not answering.acquire(blocking=False):
            held.wait(120)
        return GOLD[q]

    with ScriptedServer(answer) as srv:
        (work / "tinyqa.toml").write_text("".join(f'[models."openai/{m}"]\napi_base = "{srv.url}"\n' for m in "ab"))
        # run, interrupted after two answers (the checkpoint lives in the cache: S3 does not append)
        proc = subprocess.Popen([tinyqa_bin, "run", "--model", "openai/x", "--api-base", srv.url, "--packs", "mini",
                                 "--concurrency", "1", "--no-cache", "--reports", url], cwd=work, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
        checkpoints = tmp_path / "cache" / "checkpoints"
        while not any(len(p.read_text().splitlines()) == 3 for p in checkpoints.rglob("*.jsonl")):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        held.set()
        assert proc.returncode != 0 and f"--reports {url}`" in stderr, stderr
        run_id = stderr.split("--resume ")[1].split()[0]
        assert not [k for k in _objects(s3, bucket) if "/runs/" in k]        # no runs row: not a complete run
        asked = sum(srv.asked.values())
        resumed = tinyqa("run", "--resume", run_id, "--reports", url)
        assert resumed.returncode == 0, resumed.stderr
        assert sum(srv.asked.values()) - asked == 2                           # the two answered were kept
        gate = tinyqa("gate", "--model", "openai/x", "--api-base", srv.url, "--packs", "mini", "--no-cache",
                      "--reports", url)
        assert gate.returncode == 0 and "the latest passing run of openai/x" in gate.stdout, gate.stdout + gate.stderr
        assert run_id in gate.stdout                                          # the baseline is the resumed run
        # the nightly on a Dask scheduler with two `dask worker` processes started in another
        # folder (the packs are named relative to this one), writing into the bucket at once
        with dask_cluster(2, tmp_path / "cluster", env) as address, Client(address) as client, \
                get_task_stream(client) as stream:
            nightly = tinyqa("nightly", "--task-runner", address.replace("tcp://", "dask://"),
                             "--models", "openai/a,openai/b", "--packs", "mini,mini2", "--reports", url,
                             "--site", "site")
        assert nightly.returncode == 0 and "4 tiny QA run(s), 0 item error(s)" in nightly.stdout, nightly.stderr
        assert len({t["worker"] for t in stream.data}) == 2, stream.data       # work landed on both workers
    runs = sorted(store.read(url, "runs").to_pylist(), key=lambda r: r["started_at"])
    assert len(runs) == 6 and runs[0]["run_id"] == run_id
    listed = tinyqa("runs", "--reports", url)
    assert listed.returncode == 0 and all(r["run_id"] in listed.stdout for r in runs), listed.stdout
    shown = tinyqa("show", runs[1]["run_id"], "--reports", url)
    assert shown.returncode == 0 and "mini" in shown.stdout, shown.stderr
    compared = tinyqa("compare", run_id, runs[1]["run_id"], "--reports", url)
    assert compared.returncode == 0 and "McNemar" in compared.stdout, compared.stdout + compared.stderr
    report = tinyqa("report", "--reports", url, "--out", "site2")
    assert report.returncode == 0 and (work / "site2" / "index.html").is_file(), report.stderr

    # nothing lost, nothing partial, nothing else: each object a whole Parquet file of a table
    objects = _objects(s3, bucket)
    assert all(k.startswith("team/reports/") and k.endswith(".parquet") and "/." not in k for k in objects), objects
    assert len(objects) == 6 * 3                                               # items, metrics, runs of each run
    for key in objects:
        pq.read_table(fsspec.open(f"s3://{bucket}/{key}").open())
    assert store.read(url, "items").num_rows == 6 * len(MINI)

    # the same store read by pyarrow's own S3 filesystem and by DuckDB through fsspec, offline
    s3fs_arrow = pafs.S3FileSystem(endpoint_override=s3["AWS_ENDPOINT_URL"])
    assert ds.dataset(f"{bucket}/team/reports/runs", filesystem=s3fs_arrow, partitioning="hive").count_rows() == 6
    con = duckdb.connect()
    con.register_filesystem(fsspec.filesystem("s3"))
    assert con.sql(f"select count(*) from read_parquet('s3://{bucket}/team/reports/items/*/*.parquet', "
                   "hive_partitioning = true)").fetchall() == [(6 * len(MINI),)]
    assert store.connect(url).sql("select count(distinct run_id) from metrics").fetchall() == [(6,)]

    # no credential in the bucket, the cache, the dashboards, HOME, TMPDIR, Prefect's home, the output
    assert _scan({f"s3://{bucket}/{k}": v for k, v in objects.items()}) == []
    assert list((tmp_path / "cache").rglob("*")), "nothing was written to the cache"
    assert _scan(_files(tmp_path / "cache", tmp_path / "home", tmp_path / "tmp", work, prefect_home)) == []
    assert _scan(outputs) == []


def test_a_store_that_stops_answering_mid_run_ends_it_in_one_line_with_its_answers_kept(tmp_path, tinyqa_bin,
                                                                                       cli_env, mini_pack):
    """The S3 server stops answering while the model answers (SIGSTOP: connections hang, as a
    store gone behind a dead route does): the run ends after the store's timeout with one line
    and exit 3, not blocked in fsspec; its answers stay in the checkpoint, and `--resume`
    writes the run once the store is back, asking nothing again."""
    from clusters import free_port, start, stop, wait_port

    env = {k: v for k, v in cli_env.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1")
    port = free_port()
    moto = start([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                 tmp_path / "moto.log", env=env)
    try:
        wait_port(port, moto)
        env.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", TINYQA_STORE_TIMEOUT_S="5",
                   AWS_MAX_ATTEMPTS="1", AWS_RETRY_MODE="standard")
        bucket = _bucket(env)
        url = f"s3://{bucket}/reports"
        questions = 4

        def answer(q, n):
            if sum(srv.asked.values()) == questions:   # the last answer: the store goes away
                os.kill(moto.pid, signal.SIGSTOP)
            return GOLD[q]

        with ScriptedServer(answer) as srv:
            started = time.monotonic()
            res = subprocess.run([tinyqa_bin, "run", "--model", "openai/x", "--api-base", srv.url, "--packs",
                                  str(mini_pack), "--no-cache", "--reports", url], env=env, capture_output=True,
                                 text=True, timeout=300)
            took = time.monotonic() - started
            lines = [line for line in res.stderr.splitlines() if line.strip()]
            assert res.returncode == 3, res.stderr
            assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
            assert "did not answer within 5 s" in lines[0] and "its answers are kept" in lines[0], lines[0]
            run_id = lines[0].split("--resume ")[1].split()[0].rstrip("`")
            print(f"the run ended {took:.1f} s after it started")
            os.kill(moto.pid, signal.SIGCONT)
            asked = sum(srv.asked.values())
            resumed = subprocess.run([tinyqa_bin, "run", "--resume", run_id, "--reports", url], env=env,
                                     capture_output=True, text=True, timeout=300)
            assert resumed.returncode == 0, resumed.stderr
            assert sum(srv.asked.values()) == asked                  # every answer came from the checkpoint
        assert [k for k in _objects(env, bucket) if "/runs/" in k and run_id in k]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(moto.pid, signal.SIGCONT)
        stop([moto])
