from datetime import datetime, timezone

import duckdb
import pyarrow.compute as pc
import pyarrow.dataset as ds

from tinyqa.reports import store


def _item(run_id, i):
    return {"run_id": run_id, "suite": "tinyqa", "pack_id": "p", "item_id": f"en-{i}", "lang": "en",
            "category": "c", "difficulty": "easy", "question": "q", "gold": "g", "prediction": "g",
            "em": True, "contains": True, "lev_ratio": 1.0, "latency_s": 0.1, "prompt_tokens": 1,
            "completion_tokens": 1, "cost_usd": None, "cached": False, "attempts": 1, "error": None}


def test_runs_write_their_own_files_and_read_back(tmp_path):
    for run_id in ("r1", "r2"):
        store.write(tmp_path, "items", [_item(run_id, i) for i in range(3)], run_id, "2026-11-23")
    files = sorted(p.name for p in (tmp_path / "items").rglob("*") if p.is_file())
    assert files == ["r1.parquet", "r2.parquet"]  # no temporary files left behind
    table = ds.dataset(tmp_path / "items", partitioning="hive").to_table()
    assert table.num_rows == 6
    assert store.read(tmp_path, "items", pc.field("run_id") == "r2").num_rows == 3
    n = duckdb.sql(f"select count(*) from read_parquet('{tmp_path}/items/**/*.parquet', hive_partitioning=true) "
                   "where em and run_id = 'r1'").fetchall()[0][0]
    assert n == 3


def test_schema_is_declared_and_versioned(tmp_path):
    at = datetime(2026, 11, 23, tzinfo=timezone.utc)
    path = store.write(tmp_path, "runs", [{"run_id": "r", "started_at": at, "pack_ids": ["a"]}], "r", "2026-11-23")
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    assert schema.metadata[b"tinyqa.schema_version"] == store.SCHEMA_VERSION.encode()
    assert schema.field("pack_ids").type == store.SCHEMAS["runs"].field("pack_ids").type


def test_empty_store_reads_as_empty_table(tmp_path):
    assert store.read(tmp_path, "metrics").num_rows == 0
