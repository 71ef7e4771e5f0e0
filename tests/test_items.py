"""Item analysis (suites/items.py, reports/items.py, `tinyqa items`, the dashboard's section):
a store with repeated runs of two models, written row by row, where one item flips between
runs of one model, one is never answered right, one always, and one errors in a run."""
import statistics
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from tinyqa import cli
from tinyqa.errors import InputError
from tinyqa.reports import dashboard, store
from tinyqa.reports import items as item_store
from tinyqa.suites import items as rules

PACK = "core_xx"
# Per item, per model: contains in each of the three runs (None: the item errored in that run).
OUTCOMES = {
    "xx-flaky": {"model-a": [True, False, True], "model-b": [True, True, True]},
    "xx-never": {"model-a": [False, False, False], "model-b": [False, False, False]},
    "xx-always": {"model-a": [True, True, True], "model-b": [True, True, True]},
    "xx-split": {"model-a": [False, False, False], "model-b": [True, True, True]},
    "xx-error": {"model-a": [True, None, True], "model-b": [False, False, False]},
}
OTHER_PACK = {"yy-never": {"model-a": [False] * 3, "model-b": [False] * 3}}


def _row(run_id, pack_id, item_id, ok):
    return {"run_id": run_id, "suite": "tinyqa", "pack_id": pack_id, "item_id": item_id, "lang": "en",
            "category": "c", "difficulty": "hard" if item_id == "xx-split" else "easy", "question": f"Question {item_id}?", "gold": f"gold {item_id}",
            "prediction": None if ok is None else ("right" if ok else "wrong"),
            "em": None if ok is None else False, "contains": ok, "em_extracted": ok,
            "latency_s": 0.1, "cached": False, "attempts": 1, "error": "Timeout: synthetic" if ok is None else None}


def fill(root):
    """Three runs of each model, interleaved in time, on both packs; and one lm-eval run whose
    items must not count."""
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    for k in range(3):
        for j, model in enumerate(("model-a", "model-b")):
            at = start + timedelta(hours=k, minutes=j)
            run_id = f"{at:%Y%m%dT%H%M%SZ}-{j}"
            rows = [_row(run_id, pack, item, by[model][k])
                    for pack, items in ((PACK, OUTCOMES), ("core_yy", OTHER_PACK)) for item, by in items.items()]
            store.write(root, "items", rows, run_id, f"{at:%Y-%m-%d}")
            store.write(root, "runs", [{"run_id": run_id, "started_at": at, "finished_at": at, "suite": "tinyqa",
                                        "model": model, "prompt_template": "qa-v1", "pack_ids": [PACK, "core_yy"],
                                        "status": "complete"}], run_id, f"{at:%Y-%m-%d}")
    at = start + timedelta(hours=5)
    store.write(root, "items", [_row("lmeval-1", PACK, "xx-never", True) | {"suite": "lmeval"}], "lmeval-1", f"{at:%Y-%m-%d}")
    store.write(root, "runs", [{"run_id": "lmeval-1", "started_at": at, "suite": "lmeval", "model": "model-a",
                                "status": "complete"}], "lmeval-1", f"{at:%Y-%m-%d}")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "reports"
    fill(path)
    return path


def test_analysis_of_repeated_runs_of_two_models(root):
    a = item_store.analyse(root)
    assert a.series == ["model-a", "model-b"] and a.runs == {"model-a": 3, "model-b": 3}
    by = {i.item_id: i for i in a.items}
    flaky = by["xx-flaky"]
    assert flaky.by_series["model-a"].runs == [True, False, True]
    assert (flaky.flips, flaky.pairs, flaky.flip_rate) == (2, 4, 0.5)       # two flips in A, none in B
    assert flaky.share_of("model-a") == pytest.approx(2 / 3) and flaky.share == pytest.approx(5 / 6)
    assert [i.item_id for i in a.flaky] == ["xx-flaky"]
    # an errored answer is left out, never counted wrong, never a flip
    err = by["xx-error"]
    assert err.by_series["model-a"].runs == [True, True] and err.flips == 0 and not err.never
    assert [i.item_id for i in a.never] == ["xx-never", "yy-never"]          # the lm-eval run does not count
    assert [i.item_id for i in a.always] == ["xx-always"]
    assert by["xx-split"].share == 0.5 and not by["xx-split"].flaky
    assert not a.discriminating and all(i.discrimination is None for i in a.items)   # two models: no index


def test_packs_and_last_runs(root):
    a = item_store.analyse(root, packs=[PACK])
    assert {i.pack_id for i in a.items} == {PACK}
    last = item_store.analyse(root, last=1)                                  # one run a model: nothing to flip
    assert last.runs == {"model-a": 1, "model-b": 1} and not last.repeated and last.flaky == []
    last2 = item_store.analyse(root, last=2)                                 # A's last two: False, True
    assert {i.item_id for i in last2.flaky} == {"xx-flaky"}


def test_the_command_lists_flaky_and_never_answered_items(root):
    res = CliRunner().invoke(cli.app, ["items", "--reports", str(root)])
    assert res.exit_code == 0, res.output
    text = res.output
    assert "6 tiny QA run(s) of 2 model(s) · 6 items · metric contains" in text
    flaky = text.split("flaky: the outcome changed")[1].split("never right")[0]
    assert "core_xx/xx-flaky" in flaky and "2/4 (50%)" in flaky and "2/3" in flaky
    assert "xx-never" not in flaky and "xx-error" not in flaky
    never = text.split("never right: suspect gold")[1].split("always right")[0]
    assert "(2)" in never.splitlines()[0]
    assert "core_xx/xx-never" in never and "core_yy/yy-never" in never and "xx-flaky" not in never
    assert "core_xx/xx-always" in text.split("always right: no signal")[1]
    assert "discrimination: needs 3 models or more (2 here)" in text


def test_the_command_per_item_and_its_errors(root, tmp_path):
    res = CliRunner().invoke(cli.app, ["items", "--reports", str(root), "--packs", PACK, "--per-item", "--metric", "em"])
    assert res.exit_code == 0, res.output
    per_item = res.output.split("per item: runs right (em)")[1]
    assert "core_xx/xx-split" in per_item and "core_yy" not in per_item
    for args, needle in ((["--metric", "lev_ratio"], "not one of em, contains, em_extracted"),
                         (["--reference", "model-z"], "no tiny QA runs of 'model-z'")):
        with pytest.raises(InputError, match=needle):
            cli.app(["items", "--reports", str(root), *args], standalone_mode=False)
    with pytest.raises(InputError, match="no report store at"):
        item_store.analyse(tmp_path / "nowhere")


def test_dashboard_shows_flaky_and_never_answered_items(root, tmp_path, monkeypatch):
    monkeypatch.setenv("TINYQA_CACHE_DIR", str(tmp_path / "cache"))
    d = dashboard.gather(root)
    assert d.items["flaky"]["count"] == 1 and d.items["never"]["count"] == 2 and d.items["always"]["count"] == 1
    html = dashboard.render(d)
    section = html.split('<section id="items">')[1].split("</section>")[0]
    flaky = section.split('id="items-flaky"')[1].split('id="items-never"')[0]
    assert "xx-flaky" in flaky and "2/4 (50%)" in flaky and "(2↕)" in flaky and "xx-never" not in flaky
    never = section.split('id="items-never"')[1].split("Always answered right")[0]
    assert "xx-never" in never and "yy-never" in never and "xx-flaky" not in never
    assert '<a href="#items">' in html


def test_the_command_lists_the_tags_the_rule_would_change(root):
    res = CliRunner().invoke(cli.app, ["items", "--reports", str(root), "--reference", "model-b"])
    assert res.exit_code == 0, res.output
    changes = res.output.split("difficulty by the rule of packs/README.md, measured by model-b (1)")[1]
    assert "core_xx/xx-split" in changes and "hard" in changes and "easy" in changes and "3/3" in changes
    # model-a misses xx-split in every run: no evidence, the tag stays
    res = CliRunner().invoke(cli.app, ["items", "--reports", str(root), "--reference", "model-a"])
    assert "measured by model-a (0)" in res.output


def test_point_biserial_is_pearson_and_needs_three_models():
    xs, ys = [1, 0, 1, 0, 1], [0.9, 0.2, 0.7, 0.4, 0.6]
    assert rules.point_biserial(xs, ys) == pytest.approx(statistics.correlation(xs, ys))
    assert rules.point_biserial([1, 1, 1], [0.1, 0.5, 0.9]) is None           # the item does not vary
    runs = [{"run_id": f"r{m}", "suite": "tinyqa", "model": f"m{m}", "started_at": m} for m in range(4)]
    # Models m0..m3 get more right as m grows; "odd" is right only for the weakest model.
    right = {m: {f"i{k}": k < m + 1 for k in range(4)} | {"odd": m == 0} for m in range(4)}
    rows = [{"run_id": f"r{m}", "suite": "tinyqa", "pack_id": "p", "item_id": i, "contains": ok, "error": None}
            for m, items in right.items() for i, ok in items.items()]
    a = rules.analyse(runs, rows)
    by = {i.item_id: i for i in a.items}
    assert a.discriminating and by["odd"].discrimination < -0.5 and by["i2"].discrimination > 0.5
    assert by["i0"].discrimination is None                                   # every model right: no variance


def test_series_are_model_and_template():
    runs = [{"run_id": "a", "model": "m", "prompt_template": "qa-v1"}, {"run_id": "b", "model": "m", "prompt_template": "qa-v2"},
            {"run_id": "c", "model": "n", "prompt_template": "qa-v1"}]
    assert rules.series_labels(runs) == {"a": "m · qa-v1", "b": "m · qa-v2", "c": "n"}


@pytest.mark.parametrize("authored, shares, measured", [
    ("hard", [1.0], "easy"), ("medium", [2 / 3], "easy"), ("easy", [1.0], "easy"), ("medium", [0.5], "medium"),
    ("easy", [0.0], "easy"), ("hard", [0.0], "hard"), ("medium", [0.0], "medium"), ("hard", [1.0, 0.0], "hard"),
    ("hard", [0.4], "hard"), ("easy", [0.4], "easy"), ("hard", [], "hard"),
])
def test_measured_difficulty(authored, shares, measured):
    assert rules.measured_difficulty(authored, shares) == measured


def _fewshot_server():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "benchmarks" / "fewshot_server.py"
    spec = importlib.util.spec_from_file_location("fewshot_server", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_reference_prompt_shows_no_pack_question():
    """The base model's few-shot prompt (benchmarks/fewshot_server.py): in the question's
    language, read from the qa-v1 instruction; its solved questions are in no shipped pack."""
    from tinyqa.pack import load_pack, shipped_dir, shipped_ids
    from tinyqa.suites.scoring import normalize
    from tinyqa.suites.templates import load_template

    fs = _fewshot_server()
    tpl = load_template("qa-v1")
    by_system = {text: lang for lang, text in tpl.system_by_lang.items()} | {tpl.system: "en"}
    doc = fs.document(tpl.messages("Wie heißt die Hauptstadt?", "de"), by_system, "b")
    assert doc.startswith(tpl.system_by_lang["de"]) and "Frage: Wie viele Räder hat ein Fahrrad?\nAntwort: 2" in doc
    assert doc.endswith("Frage: Wie heißt die Hauptstadt?\nAntwort:")
    asked = {normalize(i.text, i.lang) for p in shipped_ids() for i in load_pack(shipped_dir() / p).items}
    for shots in fs.SHOTS.values():
        assert set(shots) == set(fs.WORDS)
        for lang, pairs in shots.items():
            for question, _ in pairs:
                assert normalize(question, lang) not in asked, question


def test_items_command_as_a_process(root, tinyqa_bin, cli_env):
    import subprocess

    res = subprocess.run([tinyqa_bin, "items", "--reports", str(root), "--show", "1"], capture_output=True,
                         text=True, env=cli_env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "core_xx/xx-flaky" in res.stdout and "… and 1 more (--show)" in res.stdout
    res = subprocess.run([tinyqa_bin, "items", "--reports", str(root / "nowhere")], capture_output=True,
                         text=True, env=cli_env, timeout=120)
    assert res.returncode == 2 and "no report store at" in res.stderr and "Traceback" not in res.stderr
