"""The pytest plugin without a model: what tests read (the views of a run and of a gate), what
a failure says, how tinyqa tests are parametrised and configured, and the errors raised before
anything starts. The example against a loopback server is in test_pytest_example.py."""
import pytest

from tinyqa.pytest_views import Changed, DriftView, GateView, Log, Metric, Outcome, PackView, RunView, compare_lines, section
from tinyqa.suites import gate, qa
from tinyqa.suites.result import Baseline, DriftDetails, GateResult, RunResult
from tinyqa.suites.scoring import PROPORTIONS

pytest_plugins = ["pytester"]


def item(pack, i, ok, lang="en", error=None):
    return {"run_id": "r1", "suite": "tinyqa", "pack_id": pack, "item_id": f"{lang}-{i:03d}", "lang": lang,
            "category": "geo", "difficulty": "easy", "question": f"q{i}?", "gold": "yes",
            "prediction": None if error else ("yes" if ok else "no"), "extracted": None,
            **{m: None if error else ok for m in PROPORTIONS}, "lev_ratio": None if error else float(ok),
            "f1": None if error else float(ok), "latency_s": 0.1, "prompt_tokens": 5, "completion_tokens": 1,
            "cost_usd": None, "cached": False, "attempts": 1, "error": error}


def run_result(items):
    row = {"run_id": "r1", "model": "openai/peer", "pack_ids": sorted({r["pack_id"] for r in items})}
    return RunResult(row, items=items, metrics=qa.metrics("r1", items))


def gated(items, before):
    """A gate of `items` against a baseline where `before` (item index → outcome) held."""
    base_rows = [{**r, "contains": before(i), "em": before(i), "prediction": "yes" if before(i) else "no"}
                 for i, r in enumerate(items)]
    baseline = gate.baseline_from_rows({"run_id": "r0", "model": "openai/peer", "prompt_template": "qa-v1",
                                        "prompt_hash": "h"}, base_rows)
    run = run_result(items)
    checks = gate.verdict(items, baseline, gate.Thresholds())
    run.checks = checks
    result = GateResult("openai/peer", checks, [run], None,
                        Baseline("run", "baseline: run r0, the latest passing run", run_id="r0"))
    return Outcome("openai/peer", run, result)


# core_x: 40 items, the first 12 now wrong that were right in the baseline; core_y unchanged.
ITEMS = [item("core_x", i, i >= 12) for i in range(40)] + [item("core_y", i, True, "fr") for i in range(20)]
BEFORE = lambda i: True  # noqa: E731


def test_pack_scores_are_the_metrics_rows_with_their_intervals():
    outcome = gated(ITEMS, BEFORE)
    view = GateView(outcome).pack("core_x")
    row = outcome.run.metric("core_x", "contains")
    assert isinstance(view.contains, Metric) and view.contains == row["value"] == 28 / 40
    assert (view.contains.low, view.contains.high, view.contains.n) == (row["ci_low"], row["ci_high"], 40)
    assert view.contains >= 0.6 and not view.contains >= 0.8 and view.em == view.em_extracted == 0.7
    assert 0 < view.contains.low < 0.7 < view.contains.high < 1
    assert view.f1 == 0.7 and view.lev_ratio.low is None            # means: no interval
    assert [m for m in PROPORTIONS if isinstance(getattr(view, m), float)] == list(PROPORTIONS)
    with pytest.raises(AttributeError, match="scores: em, contains"):
        view.accuracy
    with pytest.raises(LookupError, match=r"'core_z' was not run in this session \(run: core_x, core_y\)"):
        GateView(outcome).pack("core_z")


def test_a_failed_comparison_names_pack_metric_interval_baseline_and_flipped_items():
    outcome = gated(ITEMS, BEFORE)
    contains = PackView(outcome, "core_x").contains
    lines = compare_lines(">=", contains, 0.8)
    assert lines[0] == "core_x contains 0.700 (40 answered, 95% CI 0.546–0.819) >= 0.8"
    assert lines[1] == "core_x: contains 70% (95% CI 55%–82%) on 40 answered item(s)"
    assert lines[2] == "baseline: run r0, the latest passing run"
    assert lines[3].startswith("drop all: FAIL: contains dropped +30% on 40 paired items, 100% in the baseline → 70%")
    assert lines[4:] == [f"right→wrong en-{i:03d} 'q{i}?': was 'yes', now 'no'" for i in range(12)]
    assert compare_lines("==", 1, 2) is None                       # not ours: pytest's own text


def test_without_a_baseline_the_wrong_items_are_listed():
    outcome = Outcome("openai/peer", run_result(ITEMS))
    lines = compare_lines("<", 0.9, RunView(outcome).pack("core_x").em)
    assert lines[2].startswith("no baseline") and lines[3] == "wrong on em (12):"
    assert lines[4] == "en-000 'q0?': 'no' (gold 'yes')"
    with pytest.raises(RuntimeError, match="regressions are the gate's"):
        RunView(outcome).pack("core_x").regressions()


def test_regressions_of_the_gate_and_of_a_pack():
    outcome = gated(ITEMS, BEFORE)
    g = GateView(outcome)
    assert not g.passed and [(c.pack_id, c.name) for c in g.regressions()] == [("core_x", "drop all")]
    assert not g.regressions("core_y") and not g.pack("core_y").regressions()
    assert repr(g.pack("core_x").regressions()).startswith("1 failed check(s): core_x drop all: contains dropped +30%")
    assert GateView(gated(ITEMS, lambda i: i >= 12)).passed           # the same answers as the baseline


def test_one_language_of_a_multilingual_pack_reads_its_own_slice_and_check():
    mixed = [item("mix", i, True, "en") for i in range(20)] + [item("mix", 20 + i, i >= 10, "de") for i in range(20)]
    outcome = gated(mixed, BEFORE)
    de, en = PackView(outcome, "mix", "de"), PackView(outcome, "mix", "en")
    assert (de.contains, en.contains, PackView(outcome, "mix").contains) == (0.5, 1.0, 0.75)
    assert [c.name for c in de.regressions()] == ["drop lang=de"] and not en.regressions()
    with pytest.raises(LookupError, match="no 'fr' items"):
        PackView(outcome, "mix", "fr")


def drift_outcome(changed):
    drift = RunResult({"run_id": "d1"}, details=DriftDetails(
        tokenizer={"spec": "local"}, timings={}, items=92, packs=["core_x"], unchanged=90, new=0, missing=2,
        failures=[f"{len(changed)} item(s) tokenize differently (max 0)"] if changed else [], changed=changed))
    outcome = gated(ITEMS, lambda i: i >= 12)
    outcome.gate.drift = drift
    return outcome


def test_drift_counts_changed_items_and_explains_them():
    changed = [{"pack_id": "core_x", "item_id": "en-001", "lang": "en", "parts": ["question"],
                "old": {"question": ["q", "1", "?"]}, "new": {"question": ["q1", "?"]}}]
    assert GateView(drift_outcome([])).drift.changed == 0
    count = GateView(drift_outcome(changed)).drift.changed
    assert isinstance(count, Changed) and count == 1
    lines = compare_lines("==", count, 0)
    assert lines[0] == "1 item(s) tokenized differently by local == 0"
    assert "changed core_x/en-001 [en] question: q|1|? → q1|?" in lines[-1]


def test_drift_that_did_not_run_skips_the_test_with_the_gates_reason():
    outcome = gated(ITEMS, BEFORE)
    outcome.gate.drift_note = "drift skipped: no offline tokenizer known for openai/peer (pass --tokenizer)"
    with pytest.raises(pytest.skip.Exception, match=r"openai/peer \(pass --tinyqa-tokenizer\)"):
        GateView(outcome).drift
    outcome.gate.drift = RunResult({"run_id": "d1"}, details=DriftDetails(tokenizer={"spec": "x"}, timings={},
                                                                          items=0, packs=[]))
    with pytest.raises(pytest.skip.Exception, match="no baseline for tokenizer x"):
        DriftView(outcome)


def test_a_failing_tests_section_reports_what_it_read():
    outcome = gated(ITEMS, BEFORE)
    log = Log(outcome)
    g = GateView(outcome, log)
    assert not log
    g.pack("core_y").contains
    g.regressions()
    text = section(log).splitlines()
    assert text[0] == "tinyqa gate of openai/peer · run r1 · baseline: run r0, the latest passing run"
    assert text[1].startswith("core_y: em 100% [84%–100%], contains 100% [84%–100%]")
    assert "core_x drop all: FAIL: contains dropped +30%" in "\n".join(text)
    assert text[-1] == "  right→wrong en-011 'q11?': was 'yes', now 'no'"


# --- the plugin in pytest ---------------------------------------------------------------------

COLLECT = """
import pytest

@pytest.mark.tinyqa(packs=["core_en", "core_fr"])
def test_packs(tinyqa_pack):
    pass

@pytest.mark.tinyqa(packs=["stress_tokenizer"], langs=["de", "ja", "tr"])
def test_languages_of_a_pack(tinyqa_pack):
    pass

@pytest.mark.tinyqa(langs="de,es")
def test_languages(tinyqa_pack):
    pass

def test_default_packs(tinyqa_pack):
    pass

@pytest.mark.parametrize("tinyqa_pack", ["core_ko", ("core_ja", "ja")], ids=["ko", "ja"], indirect=True)
def test_own_parametrisation(tinyqa_pack):
    pass

def test_not_tinyqa():
    pass
"""


def test_each_pack_or_language_is_its_own_test(pytester):
    pytester.makepyfile(test_collect=COLLECT)
    pytester.makefile(".toml", tinyqa='[pytest]\npacks = ["domain_law", "domain_finance"]\n')
    res = pytester.runpytest("--collect-only", "-q")
    ids = [line.split("::")[1] for line in res.outlines if "::" in line]
    assert ids == ["test_packs[core_en]", "test_packs[core_fr]",
                   "test_languages_of_a_pack[stress_tokenizer-de]", "test_languages_of_a_pack[stress_tokenizer-tr]",
                   "test_languages[core_de-de]", "test_languages[core_es-es]",
                   "test_default_packs[domain_law]", "test_default_packs[domain_finance]",
                   "test_own_parametrisation[ko]", "test_own_parametrisation[ja]", "test_not_tinyqa"]


def test_options_win_over_the_pytest_table_of_tinyqa_toml(pytester):
    from tinyqa.pytest_session import settings, wanted

    pytester.makefile(".toml", tinyqa='[pytest]\nmodel = "openai/a"\napi_base = "http://127.0.0.1:1/v1"\n'
                                      'reports = "r"\npacks = ["core_de"]\ntokenizer = "local"\n')
    s = settings(pytester.parseconfig("--tinyqa-model", "openai/b", "--tinyqa-baseline", "b.json"))
    assert (s.model, s.api_base, s.baseline, s.reports, s.packs, s.tokenizer, s.use_cache) == (
        "openai/b", "http://127.0.0.1:1/v1", "b.json", "r", ("core_de",), "local", True)
    assert settings(pytester.parseconfig("--tinyqa-packs", "core_en,core_fr", "--tinyqa-no-cache")).packs == (
        "core_en", "core_fr")
    pytester.makepyfile(test_collect=COLLECT)
    items, _ = pytester.inline_genitems()
    packs, needs_gate = wanted(items, ("core_de",))
    assert needs_gate and packs == ["core_en", "core_fr", "stress_tokenizer", "core_de", "core_es", "core_ko",
                                    "core_ja"]
    assert wanted([i for i in items if "test_not" in i.name], ("core_de",)) == ([], False)
    pytester.makefile(".toml", tinyqa='[pytest]\nmodle = "openai/a"\n')
    with pytest.raises(pytest.fail.Exception, match="tinyqa: error: tinyqa.toml: field pytest.modle"):
        settings(pytester.parseconfig())


READ = """
def test_reads(tinyqa_run):
    assert tinyqa_run.pack("core_en").contains >= 0
"""


@pytest.mark.parametrize("args, message", [
    ((), "tinyqa: error: no model: pass --tinyqa-model"),
    (("--tinyqa-model", "openai/peer", "--tinyqa-api-base", "http://127.0.0.1:9/v1", "--tinyqa-packs", "nope"),
     "tinyqa: error: --tinyqa-packs: unknown pack 'nope'"),
    (("--tinyqa-model", "local", "--tinyqa-baseline", "missing.json"),
     "tinyqa: error: --tinyqa-baseline: cannot read missing.json"),
])
def test_what_cannot_start_is_an_error_not_a_failure(pytester, args, message):
    pytester.makepyfile(test_reads=READ.replace("tinyqa_run", "tinyqa_gate" if "--tinyqa-baseline" in args else "tinyqa_run"))
    res = pytester.runpytest(*args)
    res.assert_outcomes(errors=1)
    assert message in res.stdout.str()


def test_a_marker_with_other_arguments_is_a_collection_error(pytester):
    pytester.makepyfile(test_bad="import pytest\n\n@pytest.mark.tinyqa(pack='core_en')\n"
                                 "def test_x(tinyqa_pack):\n    pass\n")
    res = pytester.runpytest()
    res.assert_outcomes(errors=1)
    assert "tinyqa: error: @pytest.mark.tinyqa takes packs=[...] and langs=[...], not ['pack']" in res.stdout.str()
