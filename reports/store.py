"""The report store: Hive-partitioned Parquet, one folder per table (docs/architecture.md).

The store is a local folder or any filesystem URL: `memory://…`, `s3://…`, `gs://…` and the
rest go through fsspec, or through pyarrow's own filesystems where fsspec lacks the protocol's
package. Each run writes its own files, atomically (a hidden temporary name, then a rename or
move), so readers never see half a file and concurrent writers, on one machine or many, never
touch each other's files. Files sit under `<table>/date=YYYY-MM-DD/<run_id>.parquet`; readers
take only those `.parquet` files, so anything else in the folder (temporary files, the store's
own code, notes) is ignored. A closed day's partition may be compacted into one file,
`compacted.parquet` (reports/compaction.py): readers then take that file alone.
"""
from __future__ import annotations

import os
import re
import threading
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from tinyqa import phases
from tinyqa.errors import InfraError, InputError, TinyQAError
from tinyqa.reports.location import RUN_ID, is_url, local_path  # noqa: F401  (store.is_url for callers)
from tinyqa.suites.result import RunResult
from tinyqa.suites.scoring import SCORERS

SCHEMA_VERSION = "1"

_f = pa.field
SCHEMAS: dict[str, pa.Schema] = {
    "runs": pa.schema([
        _f("run_id", pa.string(), False), _f("started_at", pa.timestamp("us", tz="UTC")),
        _f("finished_at", pa.timestamp("us", tz="UTC")), _f("suite", pa.string()),
        _f("model", pa.string()), _f("api_base", pa.string()), _f("prompt_template", pa.string()),
        _f("prompt_hash", pa.string()), _f("pack_ids", pa.list_(pa.string())),
        _f("git_sha", pa.string()), _f("trigger", pa.string()), _f("tinyqa_version", pa.string()),
        _f("status", pa.string()),
        # The decoding parameters sent (JSON) and what makes the run less reproducible.
        _f("decoding", pa.string()), _f("notes", pa.list_(pa.string())),
        # suites/scoring.SCORER_VERSION: runs scored by other scorers are not compared silently.
        _f("scorer_version", pa.int32()),
    ]),
    "items": pa.schema([
        _f("run_id", pa.string(), False), _f("suite", pa.string()), _f("pack_id", pa.string()),
        _f("item_id", pa.string()), _f("lang", pa.string()), _f("category", pa.string()),
        _f("difficulty", pa.string()), _f("question", pa.string()), _f("gold", pa.string()),
        _f("prediction", pa.string()),
        # One column per scorer (suites/scoring.py): a bool for a proportion, a float for a mean.
        *(_f(s.name, pa.bool_() if s.kind == "proportion" else pa.float64()) for s in SCORERS),
        _f("latency_s", pa.float64()),
        _f("prompt_tokens", pa.int64()), _f("completion_tokens", pa.int64()),
        _f("cost_usd", pa.float64()), _f("cached", pa.bool_()), _f("attempts", pa.int32()),
        _f("error", pa.string()),
        _f("extracted", pa.string()),   # the answer inside common wrappers ("Answer: …")
        _f("item_sha256", pa.string()),   # the item's content hash in its pack: edited items are not compared
        # An answer is kept to its first 4096 characters (tinyqa/text.py): its whole length and hash.
        _f("prediction_chars", pa.int64()), _f("prediction_sha256", pa.string()),
    ]),
    "metrics": pa.schema([
        _f("run_id", pa.string(), False), _f("suite", pa.string()), _f("pack_id", pa.string()),
        _f("slice", pa.string()), _f("metric", pa.string()), _f("value", pa.float64()),
        _f("n", pa.int64()), _f("ci_low", pa.float64()), _f("ci_high", pa.float64()),
    ]),
    "drift": pa.schema([
        _f("run_id", pa.string(), False), _f("tokenizer", pa.string()), _f("item_id", pa.string()),
        _f("pack_id", pa.string()), _f("lang", pa.string()), _f("n_tokens", pa.int64()),
        _f("ids_sha", pa.string()), _f("baseline_ids_sha", pa.string()), _f("changed", pa.bool_()),
    ]),
}
TABLES = tuple(SCHEMAS)
PARTITIONING = ds.partitioning(pa.schema([_f("date", pa.string())]), flavor="hive")
_RUN_ID = RUN_ID
COMPACTED = "compacted"   # <table>/date=D/compacted.parquet: the day's runs in one file
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def filesystem(root: Path | str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem holding the store at `root` and the store's path inside it.
    A local folder (a path or a file:// URL) is pyarrow's local filesystem at the absolute
    path; a URL goes through fsspec, or through pyarrow's own filesystem for the scheme when
    fsspec's implementation is not installed (s3:// without s3fs)."""
    if not is_url(root):
        return pafs.LocalFileSystem(), os.path.abspath(local_path(root))
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(root)
    except ImportError:
        return pafs.FileSystem.from_uri(root)
    # fsspec keeps one instance per URL's options, with its listings cached (s3fs, gcsfs):
    # forget them, or files other writers added since this process last listed a folder are
    # listed by one call and "not found" by the next.
    fs.invalidate_cache()
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path.rstrip("/")


def require(root: Path | str) -> None:
    """An InputError (exit 2) when there is no store at `root`, for commands that only read one."""
    fs, base = filesystem(root)
    if fs.get_file_info(base).type == pafs.FileType.NotFound:
        raise InputError(f"--reports: no report store at {root} (write one with `tinyqa run` or `tinyqa smoke`)")


def write(root: Path | str, table: str, rows: list[dict], run_id: str, date: str) -> Path | str:
    """Write one run's rows of `table` to `<table>/date=<date>/<run_id>.parquet` atomically:
    the Parquet file is written under a hidden unique name and then renamed (moved) into
    place. Returns the file's path (a Path for a local store, else `scheme://path`)."""
    if table not in SCHEMAS:
        raise ValueError(f"unknown report table {table!r}; one of {', '.join(TABLES)}")
    if run_id == COMPACTED:
        raise ValueError(f"bad run id {run_id!r}: the name of a compacted partition's file")
    return write_table(root, table, pa.Table.from_pylist(rows, schema=SCHEMAS[table]), run_id, date)


def write_table(root: Path | str, table: str, data: pa.Table, name: str, date: str) -> Path | str:
    """Write `data` (of the table's schema) to `<table>/date=<date>/<name>.parquet` atomically;
    see `write`."""
    if not _RUN_ID.fullmatch(name) or not _DATE.fullmatch(date):
        raise ValueError(f"bad run id {name!r} or date {date!r} for a report file name")
    data = data.replace_schema_metadata({"tinyqa.schema_version": SCHEMA_VERSION})
    fs, base = filesystem(root)
    folder = f"{base}/{table}/date={date}"
    fs.create_dir(folder, recursive=True)
    final = f"{folder}/{name}.parquet"
    tmp = f"{folder}/.{name}.{uuid.uuid4().hex}.tmp"
    try:
        with fs.open_output_stream(tmp) as f:
            pq.write_table(data, f)
        fs.move(tmp, final)
    finally:
        if fs.get_file_info(tmp).type != pafs.FileType.NotFound:
            fs.delete_file(tmp)
    if not is_url(root):
        return Path(final)
    return f"{str(root).split('://', 1)[0]}://{final.lstrip('/')}"


def write_run(root: Path | str, result: RunResult) -> None:
    """Write a run's tables, the runs row last (a runs row means a complete run), with the
    status its errors and checks give."""
    result.run["status"] = result.status
    date = f"{result.run['started_at']:%Y-%m-%d}"
    for table in ("items", "drift", "metrics"):
        rows = getattr(result, table)
        if rows:
            write(root, table, rows, result.run_id, date)
    write(root, "runs", [result.run], result.run_id, date)
    phases.mark("reports written")


WRITE_TIMEOUT_S = 120.0           # one attempt at writing a run; $TINYQA_STORE_TIMEOUT_S overrides it
WRITE_RETRY_DELAYS_S = (2.0, 10.0)


def save_run(root: Path | str, result: RunResult, timeout_s: float | None = None,
             delays: tuple[float, ...] = WRITE_RETRY_DELAYS_S) -> None:
    """`write_run` with the retries a Prefect task gave it (after each of `delays`, when an
    attempt fails with an error tinyqa does not explain) and a timeout on each attempt: a store
    that stops answering (an object store gone mid-run: fsspec waits without a limit) is an
    InfraError (exit 3) after `timeout_s` (default $TINYQA_STORE_TIMEOUT_S, else 120 s), not a
    command blocked for minutes. Writing again is safe: a run's files are its own, replaced
    whole, the runs row last."""
    if timeout_s is None:
        timeout_s = float(os.environ.get("TINYQA_STORE_TIMEOUT_S") or WRITE_TIMEOUT_S)
    from tinyqa.runinfo import public_url

    where = public_url(str(root))
    for attempt in range(len(delays) + 1):
        outcome: list[BaseException | None] = []

        def attempt_write() -> None:
            try:
                write_run(root, result)
                outcome.append(None)
            except BaseException as e:   # handed to the caller's thread
                outcome.append(e)

        # A daemon thread: one blocked in fsspec must not keep the process from exiting.
        worker = threading.Thread(target=attempt_write, name="tinyqa-store-write", daemon=True)
        worker.start()
        worker.join(timeout_s)
        if worker.is_alive():
            raise InfraError(f"the report store {where} did not answer within {timeout_s:g} s "
                             f"(run {result.run_id} not written)")
        error = outcome[0]
        if error is None:
            return
        if isinstance(error, TinyQAError) or not isinstance(error, Exception) or attempt == len(delays):
            if isinstance(error, (TinyQAError, KeyboardInterrupt)) or not isinstance(error, Exception):
                raise error
            raise InfraError(f"the report store {where} failed writing run {result.run_id}: "
                             f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
                             ) from error
        time.sleep(delays[attempt])


def files(root: Path | str, table: str, run_ids=None) -> tuple[pafs.FileSystem, str, list[str]]:
    """The filesystem, the table's folder and its Parquet files, sorted; hidden or `_`-prefixed
    files and folders and anything not ending in `.parquet` are left out. A partition that holds
    a compacted file is that file alone (the run files beside it are the ones it was made from,
    being deleted). With `run_ids`, only those runs' files (`<run_id>.parquet`) and the
    compacted files, which may hold them."""
    wanted = None if run_ids is None else {f"{r}.parquet" for r in run_ids} | {f"{COMPACTED}.parquet"}
    fs, base = filesystem(root)
    folder = f"{base}/{table}"
    selector = pafs.FileSelector(folder, recursive=True, allow_not_found=True)
    try:
        infos = fs.get_file_info(selector)
    except NotADirectoryError:   # fsspec's handler: the folder's first file came between its
        infos = fs.get_file_info(selector)   # "is it a folder?" and "does it exist?"
    paths = []
    for info in infos:
        parts = info.path[len(folder):].strip("/").split("/")
        if (info.type == pafs.FileType.File and info.path.endswith(".parquet")
                and not any(p.startswith((".", "_")) for p in parts)
                and (wanted is None or parts[-1] in wanted)):
            paths.append(info.path)
    compacted = {p.rsplit("/", 1)[0] for p in paths if p.endswith(f"/{COMPACTED}.parquet")}
    paths = [p for p in paths if p.rsplit("/", 1)[0] not in compacted or p.endswith(f"/{COMPACTED}.parquet")]
    return fs, folder, sorted(paths)


def table_schema(table: str) -> pa.Schema:
    """The table's declared schema plus the `date` partition column readers add."""
    return SCHEMAS[table].append(_f("date", pa.string()))


def dataset(root: Path | str, table: str, run_ids=None) -> ds.Dataset:
    """The table as a pyarrow dataset with its declared schema (plus `date` from the Hive
    partition); columns a file lacks read as null. An absent table is an empty dataset.
    With `run_ids` (an iterable of run ids), only those runs' files are read."""
    if table not in SCHEMAS:
        raise ValueError(f"unknown report table {table!r}; one of {', '.join(TABLES)}")
    fs, folder, paths = files(root, table, run_ids)
    schema = table_schema(table)
    if not paths:
        return ds.dataset(schema.empty_table())
    return open_files(fs, paths, schema, folder)


def open_files(fs: pafs.FileSystem, paths: list[str], schema: pa.Schema, folder: str | None = None) -> ds.Dataset:
    """`paths` as one dataset with `schema` (a column a file lacks reads as null) and, with
    `folder`, `date` from each file's Hive partition under it. Files behind fsspec (a URL store)
    are fetched here, concurrently where fsspec can, into memory pyarrow owns: a scan releases
    its files on pyarrow's own threads, and one that releases a Python-backed file or filesystem
    as the interpreter exits aborts the process (`terminate called without an active exception`,
    exit 134, after all the work is done)."""
    if not isinstance(fs, pafs.PyFileSystem):
        return ds.dataset(paths, schema=schema, filesystem=fs, format="parquet",
                          partitioning=PARTITIONING if folder else None, partition_base_dir=folder)
    fmt, fetched, fragments = ds.ParquetFileFormat(), fs.handler.fs.cat(paths), []
    for path in paths:
        owned = pa.BufferOutputStream()
        owned.write(fetched[path])
        where = PARTITIONING.parse(path[len(folder):]) if folder else None
        fragments.append(fmt.make_fragment(owned.getvalue(), partition_expression=where))
    return ds.FileSystemDataset(fragments, schema=schema, format=fmt)


def read(root: Path | str, table: str, filter=None, run_ids=None) -> pa.Table:
    """Read a table whole, or filtered (e.g. `pc.field("run_id") == rid`), or only the files of
    `run_ids` (the fast way to read a few runs of a large store)."""
    return dataset(root, table, run_ids).to_table(filter=filter)


def run_row(root: Path | str, run_id: str) -> dict | None:
    """The runs row of `run_id`, or None."""
    rows = run_rows(root, "runs", run_id)
    return rows[0] if rows else None


def run_rows(root: Path | str, table: str, run_id: str) -> list[dict]:
    """A run's rows of `table` (runs, items, metrics, drift): only its own files are read."""
    return read(root, table, ds.field("run_id") == run_id, run_ids=[run_id]).to_pylist()


def connect(root: Path | str):
    """An in-memory DuckDB connection with one view per table (`runs`, `items`, `metrics`,
    `drift`) over the store's Parquet files, read where they lie (any filesystem above)."""
    import duckdb

    con = duckdb.connect()
    for table in TABLES:
        con.register(table, dataset(root, table))
    return con
