"""The nightly's fan-out as workers are added, side by side in one run: every shipped pack (16)
× 3 models against a loopback server answering in 300 ms, with 1, 2 and 4 workers of each task
runner: threads in the flow's process, a Dask scheduler with `dask worker` processes (one
thread each), a local Ray with that many CPUs (one worker process a CPU).

Per configuration: the nightly flow's wall time (validate-packs answered from its cache, the
tiny QA fan-out, no dashboard), the latency-bound limit, their ratio, and the CPU seconds the
flow's processes used (this process, the workers, the Prefect API; not the model server) as a
share of the 2 cores × wall time. The limit: each task (model × pack) takes at least
ceil(items / 16) × 300 ms (16 requests in flight per run); W workers finish the tasks no
sooner than max(sum / W, longest). Workers are started and have imported tinyqa before the
clock starts (a standing cluster), the flow's Prefect API is tinyqa's temporary one.

Then the store's growth: files, rows and bytes per run and per nightly, from the reports the
runs wrote; and (with moto installed) what listing and reading the runs table costs on an
S3-protocol server on loopback as its files add up.

    .venv/bin/python benchmarks/scale_bench.py                    # everything (about 8 min on 2 cores)
    .venv/bin/python benchmarks/scale_bench.py --items 8 --runners thread,dask --workers 1,4
"""
from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import importlib.util
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))   # the scripted server and the clusters of the tests

LATENCY, CONCURRENCY = 0.300, 16
MODELS = ["openai/m1", "openai/m2", "openai/m3"]
WORK = Path(tempfile.mkdtemp(prefix="tinyqa-scale-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
# Before Prefect, LiteLLM or Ray are imported: a fresh Prefect home, a cache of its own, quiet
# logs, HOME (where a local Ray keeps its token); Ray on one node keeps to 127.0.0.1 (on Linux it
# otherwise takes the machine's address).
os.environ.update(PREFECT_HOME=str(WORK / "prefect"), TINYQA_CACHE_DIR=str(WORK / "cache"), HOME=str(WORK),
                  PREFECT_LOGGING_LEVEL="WARNING", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
                  RAY_USAGE_STATS_ENABLED="0")
os.environ.pop("PREFECT_API_URL", None)

import psutil  # noqa: E402

from clusters import dask_cluster  # noqa: E402
from qa_bench import fixed_latency_server  # noqa: E402


def warm_imports() -> int:
    """What a worker imports for its first tiny QA task (Prefect, LiteLLM, tinyqa)."""
    importlib.import_module("tinyqa.flows.qa")
    return os.getpid()


def cpu_seconds(exclude: set[int]) -> float:
    """User + system CPU of this process and its descendants (but `exclude`), as they stand."""
    total = 0.0
    me = psutil.Process()
    for p in [me, *me.children(recursive=True)]:
        if p.pid in exclude:
            continue
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def packs_with(items: int | None) -> list[str]:
    """Every shipped pack, or copies of them cut to their first `items` items (described again)."""
    from tinyqa.pack import shipped_dir, shipped_ids
    from tinyqa.validators.croissant import describe_pack

    if items is None:
        return shipped_ids()
    out = []
    for pid in shipped_ids():
        folder = WORK / "packs" / pid
        shutil.copytree(shipped_dir() / pid, folder)
        lines = (folder / "data.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
        (folder / "data.jsonl").write_text("".join(lines[:items]), encoding="utf-8")
        out.append(str(describe_pack(folder).path))
    return out


def limit(sizes: list[int], workers: int) -> tuple[float, float]:
    """The latency-bound limit of the fan-out on `workers`, and the tasks' serial sum."""
    tasks = [LATENCY * math.ceil(n / CONCURRENCY) for n in sizes]
    return max(sum(tasks) / workers, max(tasks)), sum(tasks)


@contextlib.contextmanager
def runner(kind: str, workers: int):
    """A started task runner of `kind` with `workers` workers that have imported tinyqa."""
    if kind == "thread":
        from prefect.task_runners import ThreadPoolTaskRunner

        yield ThreadPoolTaskRunner(max_workers=workers)
    elif kind == "dask":
        from distributed import Client

        from tinyqa.flows.runners import task_runner

        with dask_cluster(workers, WORK / f"dask{workers}", dict(os.environ)) as address:
            with Client(address) as client:
                client.run(warm_imports)
            yield task_runner(address.replace("tcp://", "dask://"))
    elif kind == "ray":
        import ray
        from prefect_ray import RayTaskRunner

        temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")   # Ray's socket paths must stay short
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, object_store_memory=200_000_000,
                 _temp_dir=temp)
        try:
            warm = ray.remote(num_cpus=1)(lambda: (warm_imports(), time.sleep(2))[0])
            assert len(set(ray.get([warm.remote() for _ in range(workers)]))) == workers
            yield RayTaskRunner()   # the Ray this process started (ray.is_initialized)
        finally:
            ray.shutdown()
            shutil.rmtree(temp, ignore_errors=True)
    else:
        raise SystemExit(f"unknown runner {kind!r}: thread, dask or ray")


def growth(reports: Path, runs: int) -> list[str]:
    import pyarrow.parquet as pq

    lines = [f"store growth, from the {runs} runs of the last configuration ({len(MODELS)} models × "
             f"{runs // len(MODELS)} packs):", "| table | files per run | rows per run | bytes per run | "
             "bytes per row |", "|---|---|---|---|---|"]
    total = 0
    for table in ("runs", "items", "metrics"):
        files = sorted((reports / table).rglob("*.parquet"))
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        size = sum(f.stat().st_size for f in files)
        total += size
        lines.append(f"| {table} | {len(files) / runs:.0f} | {rows / runs:.1f} | {size / runs:,.0f} | "
                     f"{size / max(rows, 1):,.0f} |")
    lines.append(f"a nightly of {runs} runs: {total / 1e6:.2f} MB; per run {total / runs / 1e3:.1f} kB")
    return lines


def s3_listing(counts: list[int]) -> list[str]:
    """List and read the runs table of a store on moto's S3 server as its files add up."""
    if not all(importlib.util.find_spec(m) for m in ("boto3", "moto", "s3fs")):
        return ["(S3 listing: moto[server] and s3fs not installed, skipped)"]
    from datetime import datetime, timezone

    from clusters import s3_server
    from tinyqa.reports import store

    env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    lines = ["runs table on an S3-protocol server (moto on loopback):", "| runs files | write one run's row "
             "| list the table | read it whole |", "|---|---|---|---|"]
    with s3_server(WORK / "moto", env) as endpoint:
        os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")}, AWS_ENDPOINT_URL=endpoint)
        import boto3

        boto3.client("s3").create_bucket(Bucket="tinyqa-bench")
        root, written, at = "s3://tinyqa-bench/reports", 0, datetime(2026, 11, 30, tzinfo=timezone.utc)
        for n in counts:
            t0 = time.perf_counter()
            for k in range(written, n):
                store.write(root, "runs", [{"run_id": f"r{k:05d}", "started_at": at, "status": "complete"}],
                            f"r{k:05d}", f"2026-11-{1 + k % 30:02d}")
            per_write = (time.perf_counter() - t0) / max(n - written, 1)
            written = n
            t0 = time.perf_counter()
            assert len(store.files(root, "runs")[2]) == n
            listing = time.perf_counter() - t0
            t0 = time.perf_counter()
            assert store.read(root, "runs").num_rows == n
            read = time.perf_counter() - t0
            lines.append(f"| {n} | {per_write * 1000:.0f} ms | {listing:.2f} s | {read:.2f} s "
                         f"({read / n * 1000:.1f} ms a file) |")
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, help="items per pack (default: all)")
    ap.add_argument("--runners", default="thread,dask,ray")
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--s3-files", default="100,400", help="runs files for the S3 listing figures ('' skips)")
    args = ap.parse_args()
    from tinyqa import prefect_api
    from tinyqa.pack import resolve_packs

    packs = packs_with(args.items)
    sizes = [len(p.items) for p in resolve_packs(packs)] * len(MODELS)
    print(f"{len(MODELS)} models × {len(packs)} packs = {len(sizes)} tiny QA runs, {sum(sizes)} items, "
          f"{LATENCY * 1000:.0f} ms server, {CONCURRENCY} requests in flight per run; "
          f"the tasks' ideal durations add up to {limit(sizes, 1)[1]:.1f} s; {psutil.cpu_count()} cores", flush=True)
    with fixed_latency_server(LATENCY) as url:
        server_pid = {p.pid for p in psutil.Process().children() if str(ROOT / "tests") in " ".join(p.cmdline())}
        os.chdir(WORK)
        (WORK / "tinyqa.toml").write_text("".join(f'[models."{m}"]\napi_base = "{url}"\n' for m in MODELS))
        prefect_api.start()
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        from tinyqa.flows.nightly import nightly
        from tinyqa.flows.validate import validate_packs

        prefect_api.wait_ready()
        t0 = time.perf_counter()
        validate_packs(packs)
        print(f"validate-packs, first (fills its cache): {time.perf_counter() - t0:.1f} s", flush=True)
        rows, reports = [], None
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            for kind in args.runners.split(","):
                for w in (int(x) for x in args.workers.split(",")):
                    with runner(kind, w) as task_runner:
                        reports = WORK / f"reports-{kind}-{w}"
                        cpu0, t0 = cpu_seconds(server_pid), time.perf_counter()
                        result = nightly.with_options(task_runner=task_runner)(
                            models=MODELS, packs=packs, reports=str(reports), site=None)
                        wall, cpu = time.perf_counter() - t0, cpu_seconds(server_pid) - cpu0
                    assert len(result.qa) == len(sizes) and result.errors == 0, (len(result.qa), result.errors)
                    bound = limit(sizes, w)[0]
                    rows.append(f"| {kind} | {w} | {wall:.1f} s | {bound:.1f} s | {wall / bound:.2f} | "
                                f"{cpu:.0f} s | {cpu / (psutil.cpu_count() * wall):.0%} |")
                    print(rows[-1], flush=True)
        prefect_api.stop()
    print("\n| runner | workers | wall | latency-bound limit | ratio | CPU | CPU / (cores × wall) |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print("\n".join(growth(reports, len(sizes))))
    if args.s3_files:
        print()
        print("\n".join(s3_listing([int(n) for n in args.s3_files.split(",")])))


if __name__ == "__main__":
    main()
