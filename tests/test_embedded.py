"""The real embedded model (SmolLM2-135M on llama.cpp's server) end to end through Prefect."""
import subprocess

import duckdb
import pyarrow.dataset as ds
import pytest

pytestmark = pytest.mark.slow


def test_server_starts_answers_and_stops():
    import urllib.request

    from tinyqa.models import local

    with local.serve() as base:
        with urllib.request.urlopen(f"{base}/models", timeout=5) as r:
            assert local.MODEL_NAME in r.read().decode()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{base}/models", timeout=2)


def test_run_on_embedded_model_is_deterministic_and_reads_back(tinyqa_bin, cli_env, mini_pack, tmp_path):
    reports = tmp_path / "reports"
    for extra in ([], ["--no-cache"]):   # the second run asks the model again
        res = subprocess.run([tinyqa_bin, "run", "--model", "local", "--packs", str(mini_pack),
                              "--reports", str(reports), *extra], capture_output=True, text=True,
                             env=cli_env, timeout=300)
        assert res.returncode == 0, res.stderr
        assert "contains" in res.stdout and "mini" in res.stdout
    items = ds.dataset(reports / "items", partitioning="hive").to_table().to_pylist()
    assert len(items) == 8 and all(r["error"] is None and r["prediction"] for r in items)
    by_run: dict[str, dict] = {}
    for r in items:
        by_run.setdefault(r["run_id"], {})[r["item_id"]] = r["prediction"]
    first, second = by_run.values()
    assert first == second                       # temperature 0, fixed seed: same answers
    assert not any(r["cached"] for r in items)
    # A 135M model still knows the capital of France.
    assert any(r["contains"] for r in items if r["gold"] == "Paris")
    con = duckdb.connect()
    n_runs = con.sql(f"select count(distinct run_id) from read_parquet('{reports}/runs/**/*.parquet', "
                     "hive_partitioning=true) where model = 'local'").fetchall()[0][0]
    assert n_runs == 2
