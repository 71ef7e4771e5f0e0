"""The nightly command: packs checked before anything starts, then every model × pack run.
(Its fan-out over a Dask scheduler and two `dask worker` processes: tests/test_store_s3.py;
over a two-node Ray cluster: tests/test_ray.py.)"""
from conftest import GOLD, MINI, write_pack
from fakeserver import ScriptedServer


def test_nightly_command_checks_packs_then_runs(tmp_path, tinyqa_bin, cli_env):
    import subprocess

    from tinyqa.validators.croissant import describe_pack

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
