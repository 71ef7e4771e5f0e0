"""The gate against a report store, through the command and through the flow a deployment
runs: the baseline is the latest comparable run that passed, it is named in the output and in
JUnit, and the two paths apply the same rules ([gate] of tinyqa.toml included)."""
import shutil

import pytest
from junitparser import JUnitXml
from typer.testing import CliRunner

from conftest import MINI, write_pack
from fakeserver import ScriptedServer

pytestmark = pytest.mark.slow


@pytest.fixture
def world(prefect_harness, tmp_path, monkeypatch):
    from tinyqa.pack import resolve_packs
    from tinyqa.validators.croissant import describe_pack

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TINYQA_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "tinyqa.toml").write_text("[gate]\nmin_contains = 0.5\n")
    gold = {i.text: i.label for i in resolve_packs("core_en")[0].items} | {i["text"]: i["label"] for i in MINI}
    mode = {"right": True}
    mini = describe_pack(write_pack(tmp_path / "mini", MINI)).path
    with ScriptedServer(lambda q, n: gold[q] if mode["right"] else "I don't know") as srv:
        yield srv, mode, mini, tmp_path


def cli(srv, reports, *args):
    from tinyqa.cli import app

    res = CliRunner().invoke(app, [*args, "--model", "openai/x", "--api-base", srv.url, "--no-cache",
                                   "--reports", str(reports)])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    return res


def baseline_of(junit_path) -> str:
    (suite,) = [s for s in JUnitXml.fromfile(str(junit_path)) if s.name == "core_en"]
    return {p.name: p.value for p in suite.properties()}["baseline"]


def test_a_failed_gate_or_a_run_on_other_packs_is_never_the_baseline(world):
    srv, mode, mini, tmp = world
    reports = tmp / "r"
    assert cli(srv, reports, "run", "--packs", f"core_en,{mini}").exit_code == 0
    first = cli(srv, reports, "gate", "--packs", "core_en", "--junit", str(tmp / "1.xml"))
    assert first.exit_code == 0, first.output
    assert "no baseline: 1 earlier run(s) of openai/x, none comparable (1 on other packs)" in first.output
    assert "contains 100% (floor 50%" in first.output                   # [gate] of tinyqa.toml
    assert baseline_of(tmp / "1.xml") == "none"

    from tinyqa.reports import store

    passing = [r["run_id"] for r in store.read(reports, "runs").to_pylist() if r["pack_ids"] == ["core_en"]]
    mode["right"] = False
    broken = cli(srv, reports, "gate", "--packs", "core_en", "--junit", str(tmp / "2.xml"))
    assert broken.exit_code == 1 and f"baseline: run {passing[0]}" in broken.output
    assert baseline_of(tmp / "2.xml") == passing[0]
    statuses = {r["run_id"]: r["status"] for r in store.read(reports, "runs").to_pylist()}
    assert sorted(statuses.values()) == ["complete", "complete", "failed"]

    mode["right"] = True
    again = cli(srv, reports, "gate", "--packs", "core_en", "--junit", str(tmp / "3.xml"))
    assert again.exit_code == 0 and baseline_of(tmp / "3.xml") == passing[0]   # not the failed gate


def test_the_deployment_and_the_command_are_one_gate(world):
    from pydantic import SecretStr

    from tinyqa.flows.gate import gate

    srv, mode, mini, tmp = world
    assert cli(srv, tmp / "a", "run", "--packs", "core_en").exit_code == 0
    shutil.copytree(tmp / "a", tmp / "b")              # the same history in two stores
    mode["right"] = False
    res = cli(srv, tmp / "a", "gate", "--packs", "core_en")
    flow = gate(model="openai/x", packs=["core_en"], api_base=SecretStr(srv.url), use_cache=False,
                reports=str(tmp / "b"))                # what the deployment runs, with its parameters
    assert res.exit_code == 1 and not flow.passed
    assert flow.baseline.why in res.output and flow.notes[0] in res.output and flow.baseline.source == "run"
    for c in flow.checks:
        assert f"{c.name}" in res.output and c.message.split(" (")[0] in res.output
    assert [c.name for c in flow.checks if not c.passed] == ["floor contains", "drop all"]
