"""What the gate can detect and what it compares: the detectable drop and the inconclusive
verdict, items edited or added since the baseline, baselines made differently, flaky items
quarantined, the expected cost before asking, and the JSON verdict."""
import json

import pytest

from tinyqa.suites import gate
from tinyqa.suites import items as item_rules
from tinyqa.suites.result import Baseline, GateResult

T = gate.Thresholds()


def rows(outcomes, pack="core_en", run_id="r1", sha=lambda i: f"{i:064x}"):
    return [{"run_id": run_id, "suite": "tinyqa", "pack_id": pack, "item_id": f"en-{i}", "lang": "en",
             "question": f"q{i}?", "prediction": "yes" if ok else "no", "em": ok, "contains": ok,
             "em_extracted": ok, "error": None, "item_sha256": sha(i)} for i, ok in enumerate(outcomes)]


RUN = {"run_id": "r0", "model": "openai/x", "prompt_template": "qa-v1", "prompt_hash": "a" * 64,
       "decoding": '{"max_tokens": 48, "seed": 1234, "temperature": 0.0}', "scorer_version": 1}


def base(outcomes, **kw):
    return gate.baseline_from_rows(RUN, rows(outcomes, run_id="r0", **kw))


def drop_check(checks):
    return next(c for c in checks if c.kind == "drop" and c.slice == "all")


def test_every_drop_check_says_what_it_could_detect():
    outcomes = [True] * 42 + [False] * 10
    c = drop_check(gate.verdict(rows(outcomes), base(outcomes), T))
    assert c.passed and c.measures["verdict"] == "pass"
    assert c.measures["min_detectable_drop"] == pytest.approx(0.148, abs=0.002)
    assert "n = 52: detects drops of 15 points or more" in c.message


def test_a_drop_above_max_drop_that_is_not_significant_is_inconclusive_and_says_what_would_settle_it():
    before = [True] * 42 + [False] * 10
    after = [False] * 4 + [True] * 38 + [False] * 10          # 4 of 52 lost: 7.7% > 5%, p = 0.125
    c = drop_check(gate.verdict(rows(after), base(before), T))
    assert c.passed and c.measures["verdict"] == "inconclusive"
    assert "inconclusive" in c.message and "paired items would detect a drop this large" in c.message
    result = GateResult("openai/x", [c], [])
    assert result.verdict == "inconclusive"


def test_an_item_edited_since_the_baseline_is_listed_and_not_compared():
    outcomes = [True] * 40 + [False] * 12
    edited = rows(outcomes, sha=lambda i: ("e" if i == 7 else "0") * 64)
    b = base(outcomes, sha=lambda i: "0" * 64)
    c = drop_check(gate.verdict(edited, b, T))
    assert c.measures["paired"] == 51
    assert c.measures["not_compared"] == [{"id": "en-7", "reason": "changed"}]
    assert "not compared: en-7 (changed)" in c.message


def test_an_item_added_since_the_baseline_is_listed_and_a_baseline_without_hashes_pairs_by_id():
    b = base([True] * 10)
    now = rows([True] * 11)
    c = drop_check(gate.verdict(now, b, T))
    assert c.measures["paired"] == 10 and c.measures["not_compared"] == [{"id": "en-10", "reason": "added"}]
    for item in b["items"].values():          # a file written before hashes were recorded
        del item["sha256"]
    assert drop_check(gate.verdict(now, b, T)).measures["paired"] == 10


def test_a_baseline_made_differently_is_named():
    b = base([True] * 3)
    assert gate.differences(b, RUN) == []
    other = {**RUN, "prompt_hash": "b" * 64, "scorer_version": 2}
    assert gate.differences(b, other) == ["prompt template hash: aaaaaaaaaaaa in the baseline, bbbbbbbbbbbb now",
                                          "scorer version: 1 in the baseline, 2 now"]
    old = {k: v for k, v in b.items() if k not in ("decoding", "scorer_version")}   # an older file
    assert [d.split(":")[0] for d in gate.differences(old, RUN)] == ["decoding", "scorer version"]


def history(outcomes_by_run, pack="core_en"):
    runs = [{**RUN, "run_id": f"h{k}", "suite": "tinyqa"} for k in range(len(outcomes_by_run))]
    items = [r for k, o in enumerate(outcomes_by_run) for r in rows(o, pack, run_id=f"h{k}")]
    return runs, items


def test_flaky_items_are_those_right_and_wrong_in_runs_with_identical_settings():
    runs, items = history([[True, True, False], [True, False, False]])
    hashes = {"core_en": item_rules.pack_hash(f"{i:064x}" for i in range(3))}
    assert item_rules.flaky_items(runs, items, RUN, hashes) == {("core_en", "en-1")}
    other = [{**r, "decoding": "{}"} for r in runs]                  # other settings: not evidence
    assert item_rules.flaky_items(other, items, RUN, hashes) == set()
    assert item_rules.flaky_items(runs, items, RUN, {"core_en": "f" * 64}) == set()   # other pack content


def test_a_flaky_item_quarantined_no_longer_fails_the_gate():
    before = [True] * 52
    after = [False] * 8 + [True] * 44                                # 8 lost: 15%, p = 0.008
    flaky = {("core_en", f"en-{i}") for i in range(8)}
    assert not drop_check(gate.verdict(rows(after), base(before), T)).passed
    listed = drop_check(gate.verdict(rows(after), base(before), T, flaky=flaky))
    assert not listed.passed and listed.measures["flaky"] == sorted(i for _, i in flaky)
    c = drop_check(gate.verdict(rows(after), base(before), T, flaky=flaky, quarantine=True))
    assert c.passed and c.measures["paired"] == 44
    assert c.measures["quarantined"] == sorted(i for _, i in flaky) and "flaky (quarantined)" in c.message


def test_the_json_verdict_has_every_field(tmp_path):
    from tinyqa.reports import verdict

    before = [True] * 42 + [False] * 10
    checks = gate.verdict(rows(before), base(before), T)
    result = GateResult("openai/x", checks, [], baseline=Baseline("run", "baseline: run r0", run_id="r0"))
    doc = json.loads(verdict.write(tmp_path / "v.json", result).read_text())
    assert doc["verdict"] == "pass" and doc["baseline"]["run_id"] == "r0" and doc["cost_usd"] is None
    (pack,) = doc["packs"]
    assert set(pack) >= {"pack", "metric", "n", "rate", "baseline_rate", "change", "change_ci", "p_value",
                         "min_detectable_drop", "compared", "not_compared", "quarantined", "verdict"}
    assert pack["n"] == 52 and pack["compared"] == 52 and pack["min_detectable_drop"] == pytest.approx(0.148, abs=0.002)


def test_the_expected_cost_of_a_priced_model_and_of_one_without_a_price():
    from tinyqa.models import cost
    from tinyqa.pack import resolve_packs
    from tinyqa.suites.templates import load_template

    packs, tmpl = resolve_packs("core_en"), load_template()
    priced = cost.estimate("openai/gpt-4o-mini", packs, tmpl, repeats=2)
    assert priced.requests == 104 and priced.usd > 0.0001
    assert cost.estimate("openai/no-such-model-anywhere", packs, tmpl).usd is None
    assert cost.estimate("local", packs, tmpl).usd == 0.0


# --- through the command, against a loopback server ------------------------------------------

def _cli(*args):
    """The command as `tinyqa` runs it: a TinyQAError is one line and its exit code (cli.main)."""
    from typer.testing import CliRunner

    from tinyqa.cli import app
    from tinyqa.errors import TinyQAError

    res = CliRunner().invoke(app, list(args))
    if isinstance(res.exception, TinyQAError):
        return type("Refused", (), {"exit_code": res.exception.exit_code, "output": res.output + str(res.exception)})()
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    return res


@pytest.mark.slow
def test_max_usd_refuses_a_priced_model_before_any_request(prefect_harness, tmp_path, monkeypatch):
    from fakeserver import ScriptedServer

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key")
    with ScriptedServer(lambda q, n: "Paris") as srv:
        res = _cli("gate", "--model", "openai/gpt-4o-mini", "--api-base", srv.url, "--packs", "core_en",
                   "--max-usd", "0.0001", "--no-cache", "--reports", str(tmp_path / "r"))
        assert res.exit_code == 2, res.output
        assert "expected cost: at most $0.00" in res.output and "is above it; nothing was asked" in res.output
        assert srv.requests == []


@pytest.mark.slow
def test_a_pack_with_one_item_edited_since_the_baseline_compares_51_and_lists_it(prefect_harness, tmp_path, monkeypatch):
    import shutil

    from fakeserver import ScriptedServer
    from tinyqa.pack import DATA_FILE, resolve_packs
    from tinyqa.validators.croissant import describe_pack
    from tinyqa.reports import store

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TINYQA_CACHE_DIR", str(tmp_path / "cache"))
    pack = tmp_path / "core_en"
    shutil.copytree(resolve_packs("core_en")[0].path, pack)
    gold = {i.text: i.label for i in resolve_packs(str(pack))[0].items}
    reports = str(tmp_path / "r")
    with ScriptedServer(lambda q, n: gold[q]) as srv:
        common = ["--model", "openai/x", "--api-base", srv.url, "--packs", str(pack), "--no-cache", "--reports", reports]
        assert _cli("run", *common).exit_code == 0
        (run_id,) = [r["run_id"] for r in store.read(reports, "runs").to_pylist()]
        assert _cli("baseline", "update", run_id, "--out", str(tmp_path / "b.json"), "--reports", reports).exit_code == 0
        lines = (pack / DATA_FILE).read_text(encoding="utf-8").splitlines()
        first = json.loads(lines[0])
        first["aliases"] = [*first["aliases"], "an alias added since"]      # same id, new content hash
        (pack / DATA_FILE).write_text("\n".join([json.dumps(first, ensure_ascii=False), *lines[1:]]) + "\n",
                                      encoding="utf-8")
        describe_pack(pack)
        res = _cli("gate", *common, "--baseline", str(tmp_path / "b.json"), "--json", str(tmp_path / "v.json"))
        assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "v.json").read_text())
    (p,) = doc["packs"]
    assert p["compared"] == 51 and p["not_compared"] == [{"id": first["id"], "reason": "changed"}]
    assert doc["verdict"] == "pass" and doc["baseline"]["comparable"] and doc["baseline"]["source"] == "file"
    assert 0 < p["min_detectable_drop"] < 0.2 and "expected cost: unknown" in res.output


def test_the_pr_comment_and_junit_show_the_detectable_drop_per_pack(tmp_path):
    """The comment's line per pack ("core_en, n = 52: detects drops of 15 points or more (80%
    power)"), each pack its own n and rate; the same figure in the pack's JUnit properties."""
    import xml.etree.ElementTree as ET

    from tinyqa.reports import junit, markdown

    en = [True] * 42 + [False] * 10
    fr = [True] * 20 + [False] * 20
    checks = (gate.verdict(rows(en), base(en), T)
              + gate.verdict(rows(fr, pack="core_fr"), gate.baseline_from_rows(RUN, rows(fr, pack="core_fr", run_id="r0")), T))
    result = GateResult("openai/x", checks, [], baseline=Baseline("run", "baseline: run r0", run_id="r0"))
    text = markdown.gate(result)
    fr_drop = drop_check([c for c in checks if c.pack_id == "core_fr"])
    fr_points = round(fr_drop.measures["min_detectable_drop"] * 100)
    assert "- **core_en**, n = 52: detects drops of 15 points or more (80% power)" in text
    assert f"- **core_fr**, n = 40: detects drops of {fr_points} points or more (80% power)" in text
    assert fr_points > 15          # fewer items, a rate nearer one half: only larger drops
    props = {(s.get("name"), p.get("name")): p.get("value")
             for s in ET.parse(junit.write(tmp_path / "j.xml", checks)).getroot()
             for p in s.iter("property")}
    assert props[("core_en", "min_detectable_drop")] == "0.148" and props[("core_en", "n")] == "52"
    assert props[("core_fr", "n")] == "40"


def test_an_item_steady_before_and_changed_now_is_a_regression_not_a_flaky_item(tmp_path):
    """Flaky is over the store's earlier identical runs, or among this gate's repeats: an item
    right in every earlier run and wrong now is what the drop test judges, never quarantined."""
    from datetime import datetime, timezone

    from tinyqa.reports import history, store

    steady = [True] * 10
    flips = [[True] * 10, [False] + [True] * 9]             # en-0 flipped between two earlier runs
    for k, outcomes in enumerate([steady, *flips]):
        run_id = f"2026010{k + 1}T000000Z-00000{k}"
        run = {**RUN, "run_id": run_id, "suite": "tinyqa", "pack_ids": ["core_en"],
               "started_at": datetime(2026, 1, k + 1, tzinfo=timezone.utc)}
        store.write(tmp_path, "items", rows(outcomes, run_id=run_id), run_id, f"2026-01-0{k + 1}")
        store.write(tmp_path, "runs", [run], run_id, f"2026-01-0{k + 1}")
    now = rows([True] + [False] + [True] * 8, run_id="now")  # en-1 lost now, after 3 runs right
    found = history.flaky_items(tmp_path, [{"run": {**RUN, "run_id": "now"}, "items": now}])
    assert found == {("core_en", "en-0")}
    repeats = [{"run": {**RUN, "run_id": f"rep{k}"}, "items": rows(o, run_id=f"rep{k}")}
               for k, o in enumerate([[True] * 10, [True] * 9 + [False]])]
    assert ("core_en", "en-9") in history.flaky_items(tmp_path, repeats)   # flips among this gate's repeats
