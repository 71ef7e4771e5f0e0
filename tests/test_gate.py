"""The gate's verdict, baselines and JUnit output; the scenarios on the real embedded model
live in test_gate_embedded.py."""
import json

import pytest
from junitparser import JUnitXml

from tinyqa.errors import InputError
from tinyqa.reports import junit
from tinyqa.suites import gate


def rows(outcomes, pack="core_en", lang="en", errors=()):
    return [{"pack_id": pack, "item_id": f"{lang}-{i}", "lang": lang, "question": f"q{i}?",
             "prediction": "yes" if ok else "no", "em": ok, "contains": ok, "em_extracted": ok,
             "error": "boom" if i in errors else None} for i, ok in enumerate(outcomes)]


def base(outcomes, **kw):
    run = {"run_id": "r0", "model": "local", "prompt_template": "qa-v1", "prompt_hash": "x"}
    return gate.baseline_from_rows(run, rows(outcomes, **kw))


T = gate.Thresholds()


def failed(checks):
    return [c for c in checks if not c.passed]


def test_identical_run_passes():
    outcomes = [True] * 30 + [False] * 22
    assert not failed(gate.verdict(rows(outcomes), base(outcomes), T))


def test_a_few_flips_are_noise_not_a_regression():
    before = [True] * 30 + [False] * 22
    after = [False] * 2 + [True] * 28 + [False] * 22          # 2 of 52 lost: p = 0.5
    assert not failed(gate.verdict(rows(after), base(before), T))


def test_a_significant_drop_fails_and_names_the_items():
    before = [True] * 30 + [False] * 22
    after = [False] * 10 + [True] * 20 + [False] * 22
    bad = failed(gate.verdict(rows(after), base(before), T))
    assert [c.name for c in bad] == ["drop all"]
    assert "right→wrong" in bad[0].details[0] and len(bad[0].details) == 10
    assert "McNemar" in bad[0].message


def test_errors_are_never_counted_as_regressions():
    before = [True] * 30
    after_rows = rows([True] * 30, errors=set(range(12)))
    for r in after_rows[:12]:
        r.update(em=None, contains=None, em_extracted=None, prediction=None)
    assert not failed(gate.verdict(after_rows, base(before), T))


def test_floors():
    bad = failed(gate.verdict(rows([True] * 5 + [False] * 15), None, gate.Thresholds(min_contains=0.5)))
    assert [c.name for c in bad] == ["floor contains"]


def test_language_slices_of_a_multilingual_pack():
    before = rows([True] * 20, lang="fr") + rows([True] * 20, lang="de")
    after = rows([True] * 20, lang="fr") + rows([False] * 12 + [True] * 8, lang="de")
    b = gate.baseline_from_rows({"run_id": "r", "model": "m", "prompt_template": "t", "prompt_hash": "h"}, before)
    bad = failed(gate.verdict(after, b, T))
    assert {c.name for c in bad} == {"drop all", "drop lang=de"}
    assert {(c.kind, c.pack_id, c.slice, c.lang, c.metric) for c in bad} == {
        ("drop", "core_en", "all", None, "contains"), ("drop", "core_en", "lang=de", "de", "contains")}


def test_majority_over_repeats():
    a, b, c = rows([True, True, False]), rows([True, False, False]), rows([False, True, False])
    assert [r["contains"] for r in gate.majority([a, b, c], "contains")] == [True, True, False]


@pytest.mark.parametrize("content, needle", [
    ("not json", "not valid JSON"),
    ('{"format": "other"}', "field format"),
    ('{"format": "tinyqa-baseline/1", "items": []}', "field items"),
])
def test_bad_baseline_file(tmp_path, content, needle):
    p = tmp_path / "b.json"
    p.write_text(content)
    with pytest.raises(InputError, match=needle):
        gate.load_baseline(p)
    with pytest.raises(InputError, match="cannot read"):
        gate.load_baseline(tmp_path / "missing.json")


def test_junit_is_read_by_a_junit_consumer(tmp_path):
    before = [True] * 30 + [False] * 22
    checks = gate.verdict(rows([False] * 10 + [True] * 20 + [False] * 22), base(before), T)
    checks.append(gate.Check.drift("local", True, "52 items fingerprinted, none changed"))
    path = junit.write(tmp_path / "out" / "gate.xml", checks, time_s=1.5)
    xml = JUnitXml.fromfile(str(path))
    suites = {s.name: s for s in xml}
    assert set(suites) == {"core_en", "drift"}
    assert suites["core_en"].tests == 3 and suites["core_en"].failures == 1
    cases = {c.name: c for c in suites["core_en"]}
    assert not cases["drop all"].is_passed and cases["floor em"].is_passed
    assert "en-0" in cases["drop all"].result[0].text
    assert xml.tests == 4 and xml.failures == 1


def test_baseline_document_roundtrip(tmp_path):
    b = base([True, False])
    p = tmp_path / "b.json"
    p.write_text(json.dumps(b))
    assert gate.load_baseline(p)["items"]["core_en/en-0"]["contains"] is True


# --- which run is the baseline --------------------------------------------------------------

def run_row(run_id, day, packs=("core_en",), prompt_hash="h", status="complete", model="local", suite="tinyqa"):
    from datetime import datetime, timezone

    return {"run_id": run_id, "started_at": datetime(2026, 11, day, tzinfo=timezone.utc), "suite": suite,
            "model": model, "pack_ids": list(packs), "prompt_hash": prompt_hash, "status": status}


def test_the_baseline_is_the_latest_comparable_run_that_passed():
    runs = [run_row("old", 1), run_row("good", 2), run_row("other-packs", 3, packs=("core_en", "core_fr")),
            run_row("other-template", 4, prompt_hash="h2"), run_row("failed-gate", 5, status="failed"),
            run_row("errored", 6, status="errors"), run_row("other-model", 7, model="openai/x"),
            run_row("drift", 8, suite="drift")]
    chosen, choice = gate.choose_baseline(runs, "local", ["core_en"], "h")
    assert chosen["run_id"] == "good" and "run good" in choice.why and "same prompt template" in choice.why
    assert (choice.source, choice.run_id, choice.ref) == ("run", "good", "good")
    none, choice = gate.choose_baseline(runs[2:], "local", ["core_en"], "h")
    assert none is None and choice.source == "none" and choice.ref is None
    assert choice.why == ("no baseline: 4 earlier run(s) of local, none comparable (1 on other packs, 1 with another "
                   "prompt template, 2 failed or with errored items); only the floors are checked")
    assert gate.choose_baseline([], "local", ["core_en"], "h")[0] is None


def test_thresholds_merge_the_gate_table_with_the_options():
    t = gate.Thresholds.merged({"max_drop": 0.1, "alpha": 0.01}, {"alpha": 0.2, "min_em": None}, "tinyqa.toml")
    assert (t.max_drop, t.alpha, t.min_em) == (0.1, 0.2, 0.0)
    with pytest.raises(InputError, match=r"tinyqa.toml: field gate.metric: must be one of em, contains"):
        gate.Thresholds.merged({"metric": "f1"}, None, "tinyqa.toml")
    with pytest.raises(InputError, match=r"field gate.max_dorp"):
        gate.Thresholds.merged({"max_dorp": 0.1}, None, "tinyqa.toml")


def test_worse_means_the_same_on_the_dashboard_as_in_the_gate():
    """A significant but small net loss is not "worse" (the gate passes it); a large one is."""
    from tinyqa.reports.dashboard import _flip_groups

    def group(lost, gained, paired):
        rows = [{"series": "m", "pack_id": "p", "item_id": str(i), "ok_a": i < lost, "ok_b": lost <= i < lost + gained}
                for i in range(paired)]
        runs = {"a": {"t": 1, "color": "#000"}, "b": {"t": 2, "color": "#000"}}
        return _flip_groups(runs, {"m": ("a", "b")}, rows, T)[0]["verdict"]

    small = gate.judge(6, 0, 200, T)     # p < 0.05 but 3% < max_drop: the gate passes it
    assert small.p < T.alpha and not small.worse and group(6, 0, 200) == "steady"
    assert gate.judge(10, 0, 52, T).worse and group(10, 0, 52) == "worse"
    assert group(0, 10, 52) == "better"


def test_markdown_verdict_per_pack_with_the_change_its_interval_and_the_flips_folded():
    from tinyqa.reports import markdown
    from tinyqa.suites.result import GateResult, RunResult

    before = [True] * 30 + [False] * 22
    checks = gate.verdict(rows([False] * 10 + [True] * 20 + [False] * 21 + [True]), base(before), T)
    multi = rows([True] * 20, lang="fr", pack="multi") + rows([True] * 20, lang="de", pack="multi")
    checks += gate.verdict(multi, gate.baseline_from_rows({"run_id": "r", "model": "m", "prompt_template": "t",
                                                           "prompt_hash": "h"}, multi), T)
    checks.append(gate.Check.drift("local", False, "2 of 52 items tokenize differently", ["core_en/en-3"]))
    chosen = gate.file_baseline("b.json", {"run_id": "r0"})
    text = markdown.gate(GateResult("local", checks, [RunResult({"run_id": "r1"})], None, chosen), link="LINK")
    assert text.startswith(markdown.MARKER + "\n") and "FAIL" in text.splitlines()[1]
    table = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert "**FAIL**" in table["core_en"] and "pass" in table["multi"] and "pass" in table["multi · de"]
    # 10 lost, 1 gained of 52: -17%, its Newcombe interval and the exact McNemar p
    assert "40% (28%–54%)" in table["core_en"] and "**-17% (-29% to -5%)**" in table["core_en"]
    assert "| 0.012 |" in table["core_en"] and "10 right→wrong · 1 wrong→right" in table["core_en"]
    assert "+0% (" in table["multi"] and "| 1 |" in table["multi"]
    assert "**Tokenizer drift** (tokenizer local): ❌ 2 of 52 items tokenize differently" in text
    folded = text.split("<details><summary>core_en · drop all: 10 right→wrong, 1 wrong→right</summary>")[1]
    assert folded.split("</details>")[0].count("\n- ") == 11 and "right→wrong en-9 'q9?'" in folded
    assert "<summary>drift · tokenizer local: 1 item(s)</summary>" in text and "multi · drop" not in text
    assert "- baseline: the file b.json (run r0)" in text
    assert text.rstrip().endswith("Reports and dashboard: LINK")


def test_markdown_without_a_baseline_says_so():
    from tinyqa.reports import markdown
    from tinyqa.suites.result import GateResult, RunResult

    checks = gate.verdict(rows([True] * 5 + [False] * 15), None, gate.Thresholds(min_contains=0.5))
    text = markdown.gate(GateResult("m", checks, [RunResult({"run_id": "r1"})]))
    row = next(line for line in text.splitlines() if line.startswith("| core_en"))
    assert "❌ **FAIL**: contains below its 50% floor | 25% (" in row and "no baseline" in row
    assert "**Tokenizer drift**: not checked" in text
