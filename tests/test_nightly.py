"""The nightly flow fans model × pack out over a real 2-worker Dask cluster."""
import pyarrow.dataset as ds
import pytest

from conftest import GOLD, MINI, write_pack
from fakeserver import ScriptedServer


@pytest.mark.slow
def test_fan_out_over_two_dask_workers(prefect_harness, tmp_path, monkeypatch):
    from distributed import Client, LocalCluster, get_task_stream

    from tinyqa.flows.nightly import nightly
    from tinyqa.flows.runners import task_runner
    from tinyqa.pack import describe_pack

    packs = []
    for i in range(2):
        packs.append(str(describe_pack(write_pack(tmp_path / f"p{i}", MINI)).path))
    with ScriptedServer(lambda q, n: GOLD.get(q, "?"), latency=0.3) as srv:
        monkeypatch.chdir(tmp_path)
        (tmp_path / "tinyqa.toml").write_text(
            f'[models."openai/a"]\napi_base = "{srv.url}"\n[models."openai/b"]\napi_base = "{srv.url}"\n')
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client, get_task_stream(client) as stream:
            result = nightly.with_options(task_runner=task_runner(cluster.scheduler_address))(
                models=["openai/a", "openai/b"], packs=packs, reports=str(tmp_path / "r"), site=None)
    assert result.errors == 0 and len(result.qa) == 4
    workers = {t["worker"] for t in stream.data}
    assert len(workers) == 2, workers
    runs = ds.dataset(tmp_path / "r" / "runs", partitioning="hive").to_table().to_pylist()
    assert sorted((r["model"], r["pack_ids"][0]) for r in runs) == sorted(
        (m, p) for m in ("openai/a", "openai/b") for p in ("p0", "p1"))
    items = ds.dataset(tmp_path / "r" / "items", partitioning="hive").to_table()
    assert items.num_rows == 16 and all(items.column("em").to_pylist())


def test_nightly_command_checks_packs_then_runs(tmp_path, tinyqa_bin, cli_env):
    import subprocess

    from tinyqa.pack import describe_pack

    good = describe_pack(write_pack(tmp_path / "good", MINI)).path
    bad = describe_pack(write_pack(tmp_path / "bad", MINI)).path
    data = bad / "data.jsonl"
    data.write_text(data.read_text().replace("Paris is the capital", "Paris was the capital"))
    with ScriptedServer(lambda q, n: GOLD.get(q, "?")) as srv:
        (tmp_path / "tinyqa.toml").write_text(f'[models."openai/a"]\napi_base = "{srv.url}"\n')
        cmd = [tinyqa_bin, "nightly", "--models", "openai/a", "--reports", str(tmp_path / "r"),
               "--site", str(tmp_path / "site")]
        res = subprocess.run([*cmd, "--packs", f"{good},{bad}"], cwd=tmp_path, env=cli_env, capture_output=True,
                             text=True, timeout=300)
        assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
        assert res.stderr.startswith("tinyqa: error: 1 pack problem(s), first: bad:") and "field sha256" in res.stderr
        assert sum(srv.asked.values()) == 0 and not (tmp_path / "r").exists()   # nothing asked on a broken pack
        res = subprocess.run([*cmd, "--packs", str(good)], cwd=tmp_path, env=cli_env, capture_output=True,
                             text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "1 tiny QA run(s), 0 item error(s)" in res.stdout and (tmp_path / "site" / "index.html").is_file()
    assert sum(srv.asked.values()) == len(MINI)


def test_tasks_get_absolute_packs_and_store(tmp_path, monkeypatch):
    """A worker started in another folder (or machine) gets what the flow resolved."""
    from tinyqa.flows.nightly import portable_packs, portable_reports

    monkeypatch.chdir(tmp_path)
    write_pack(tmp_path / "mine", MINI)
    assert portable_packs(["core_en", "mine"]) == ["core_en", str(tmp_path / "mine")]
    assert portable_reports("reports") == str(tmp_path / "reports")
    assert portable_reports(f"file://{tmp_path}/r") == f"{tmp_path}/r"
    assert portable_reports("s3://bucket/team/reports") == "s3://bucket/team/reports"
