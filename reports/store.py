"""The report store (DESIGN.md): Hive-partitioned Parquet, one folder per table.

Each run writes its own files, atomically (a temporary name, then a rename), so readers never
see half a file and concurrent writers never touch each other's files. Files sit under
`<table>/date=YYYY-MM-DD/<run_id>.parquet`.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

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
    ]),
    "items": pa.schema([
        _f("run_id", pa.string(), False), _f("suite", pa.string()), _f("pack_id", pa.string()),
        _f("item_id", pa.string()), _f("lang", pa.string()), _f("category", pa.string()),
        _f("difficulty", pa.string()), _f("question", pa.string()), _f("gold", pa.string()),
        _f("prediction", pa.string()), _f("em", pa.bool_()), _f("contains", pa.bool_()),
        _f("lev_ratio", pa.float64()), _f("latency_s", pa.float64()),
        _f("prompt_tokens", pa.int64()), _f("completion_tokens", pa.int64()),
        _f("cost_usd", pa.float64()), _f("cached", pa.bool_()), _f("attempts", pa.int32()),
        _f("error", pa.string()),
        # Beyond DESIGN.md's columns: the answer inside common wrappers, its exact match, token F1.
        _f("extracted", pa.string()), _f("em_extracted", pa.bool_()), _f("f1", pa.float64()),
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


def write(root: Path | str, table: str, rows: list[dict], run_id: str, date: str) -> Path:
    """Write one run's rows of `table` atomically; returns the file's path."""
    schema = SCHEMAS[table].with_metadata({"tinyqa.schema_version": SCHEMA_VERSION})
    data = pa.Table.from_pylist(rows, schema=schema)
    folder = Path(root) / table / f"date={date}"
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{run_id}.parquet"
    tmp = folder / f".{run_id}.{uuid.uuid4().hex}.tmp"
    try:
        pq.write_table(data, tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def dataset(root: Path | str, table: str) -> ds.Dataset:
    """The table as a pyarrow dataset (Hive partitioning; hidden temporary files ignored)."""
    path = Path(root) / table
    if not path.is_dir():
        return ds.dataset(pa.Table.from_pylist([], schema=SCHEMAS[table]))
    return ds.dataset(path, format="parquet", partitioning="hive", schema=None,
                      exclude_invalid_files=False, ignore_prefixes=[".", "_"])


def read(root: Path | str, table: str, filter=None) -> pa.Table:
    """Read a table whole (or filtered, e.g. `pc.field("run_id") == rid`)."""
    return dataset(root, table).to_table(filter=filter)
