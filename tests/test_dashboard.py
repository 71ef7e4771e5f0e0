"""The static dashboard: built from a store of many synthetic runs, every section present, all
text escaped, and the page drawn by headless Chromium (charts rendered, screenshot checked)."""
import json
import os
import random
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from tinyqa.errors import InputError
from tinyqa.reports import dashboard, store
from tinyqa.suites.stats import wilson

SCRIPT_Q = '<script>document.title="pwned"</script> What is 2 + 2?'
EVIL_MODEL = "evil/<img src=x onerror=alert(1)>"
MODELS = {"openai/gpt-4o-mini": 0.85, "ollama/llama3": 0.6, "local": 0.35, EVIL_MODEL: 0.5}
PACKS = {
    "core_en": [("en", SCRIPT_Q, "4")] + [("en", f"English question {i}?", f"a{i}") for i in range(9)],
    "core_fr": [("fr", f"Question française {i} ?", f"r{i}") for i in range(8)],
}
RUNS_PER_MODEL = 30
TITLE = "tinyqa · model QA dashboard"


def _metrics(run_id, pack_id, rows):
    """The metrics rows the dashboard reads: proportions with Wilson bands per pack and
    language, errors and p50 latency (as tinyqa.suites.qa.metrics writes them)."""
    out = []
    for slice_, group in (("all", rows), (f"lang={rows[0]['lang']}", rows)):
        answered = [r for r in group if r["error"] is None]
        for m in ("contains", "em", "em_extracted"):
            k = sum(bool(r[m]) for r in answered)
            lo, hi = wilson(k, len(answered))
            out.append({"run_id": run_id, "suite": "tinyqa", "pack_id": pack_id, "slice": slice_, "metric": m,
                        "value": k / len(answered), "n": len(answered), "ci_low": lo, "ci_high": hi})
        if slice_ == "all":
            lat = sorted(r["latency_s"] for r in answered)
            out.append({"run_id": run_id, "suite": "tinyqa", "pack_id": pack_id, "slice": "all",
                        "metric": "errors", "value": float(len(group) - len(answered)), "n": len(group)})
            out.append({"run_id": run_id, "suite": "tinyqa", "pack_id": pack_id, "slice": "all",
                        "metric": "latency_p50_s", "value": lat[len(lat) // 2], "n": len(answered)})
    return out


LMEVAL_MODELS = {"local": 0.55, "openai/gpt-4o-mini": 0.8}


def _lmeval_metrics(run_id, k, skill):
    """An lm-eval run's metrics rows as suites/lmeval.metrics_rows writes them: arc_easy (acc,
    acc_norm), gsm8k (two filters), the group mmlu with a subtask, and a perplexity."""
    rows = []

    def add(task, filt, metric, value, se, n):
        ci = (max(0.0, value - 1.96 * se), min(1.0, value + 1.96 * se))
        rows.append({"run_id": run_id, "suite": "lmeval", "pack_id": task, "slice": f"filter={filt}", "metric": metric,
                     "value": value, "n": n, "ci_low": ci[0], "ci_high": ci[1]})
        rows.append({"run_id": run_id, "suite": "lmeval", "pack_id": task, "slice": f"filter={filt}",
                     "metric": f"{metric}_stderr", "value": se, "n": n, "ci_low": None, "ci_high": None})

    acc = round(skill + 0.01 * (k % 5), 4)
    add("arc_easy", "none", "acc", acc, 0.0099, 2376)
    add("arc_easy", "none", "acc_norm", round(acc - 0.05, 4), 0.0102, 2376)
    add("gsm8k", "strict-match", "exact_match", round(skill / 4, 4), 0.011, 1319)
    add("gsm8k", "flexible-extract", "exact_match", round(skill / 3, 4), 0.012, 1319)
    add("mmlu", "none", "acc", round(skill - 0.1, 4), 0.004, 14042)
    add("mmlu_anatomy", "none", "acc", 0.5, 0.04, 135)
    rows.append({"run_id": run_id, "suite": "lmeval", "pack_id": "wikitext", "slice": "filter=none",
                 "metric": "word_perplexity", "value": 31.5, "n": 62, "ci_low": None, "ci_high": None})
    return rows


def fill(root, runs_per_model=RUNS_PER_MODEL):
    """Synthetic runs of every model on both packs, every 6 hours; gpt-4o-mini gets every item
    right in its second-to-last run and wrong in its last (a clear regression), and two
    tokenizer drift runs; lm-eval runs of two models every other 6 hours."""
    rng = random.Random(11)
    start = datetime(2026, 10, 1, tzinfo=timezone.utc)
    for k in range(runs_per_model):
        for j, (model, skill) in enumerate(MODELS.items()):
            at = start + timedelta(hours=6 * k, minutes=j)
            run_id = f"{at:%Y%m%dT%H%M%SZ}-{j:06x}"
            items, metrics = [], []
            for pack_id, questions in PACKS.items():
                rows = []
                for i, (lang, q, gold) in enumerate(questions):
                    if model == "openai/gpt-4o-mini" and k >= runs_per_model - 2:
                        right = k == runs_per_model - 2
                    else:
                        right = rng.random() < skill
                    failed = model == "ollama/llama3" and i == 3 and k == runs_per_model - 1
                    rows.append({"run_id": run_id, "suite": "tinyqa", "pack_id": pack_id, "item_id": f"{lang}-{i:03d}",
                                 "lang": lang, "category": "c", "difficulty": "easy", "question": q, "gold": gold,
                                 "prediction": None if failed else (f"It is {gold}." if right else "No idea <b>really</b>"),
                                 "em": None if failed else False, "contains": None if failed else right,
                                 "em_extracted": None if failed else right,
                                 "latency_s": rng.lognormvariate(-1, 0.4), "prompt_tokens": 30, "completion_tokens": 8,
                                 "cost_usd": 0.0001 if model.startswith("openai") else None, "cached": False,
                                 "attempts": 1, "error": "Timeout: synthetic" if failed else None})
                items += rows
                metrics += _metrics(run_id, pack_id, rows)
            run = {"run_id": run_id, "started_at": at, "finished_at": at + timedelta(seconds=9), "suite": "tinyqa",
                   "model": model, "prompt_template": "qa-v1", "pack_ids": list(PACKS), "trigger": "nightly",
                   "status": "errors" if any(r["error"] for r in items) else "complete"}
            date = f"{at:%Y-%m-%d}"
            store.write(root, "items", items, run_id, date)
            store.write(root, "metrics", metrics, run_id, date)
            store.write(root, "runs", [run], run_id, date)
        for j, (model, skill) in enumerate(LMEVAL_MODELS.items()):
            if k % 2:
                continue
            at = start + timedelta(hours=6 * k, minutes=30 + j)
            run_id = f"{at:%Y%m%dT%H%M%SZ}-lm{j:04x}"
            run = {"run_id": run_id, "started_at": at, "finished_at": at + timedelta(minutes=40), "suite": "lmeval",
                   "model": model, "prompt_template": "lm-eval/hf" if model == "local" else "lm-eval/local-completions",
                   "pack_ids": ["arc_easy", "gsm8k", "mmlu", "wikitext"], "trigger": "nightly", "status": "complete"}
            store.write(root, "metrics", _lmeval_metrics(run_id, k, skill), run_id, f"{at:%Y-%m-%d}")
            store.write(root, "runs", [run], run_id, f"{at:%Y-%m-%d}")
    for j, tokenizer in enumerate(("local", "tiktoken:o200k_base", "no-baseline")):
        run_id = f"drift-{j}"
        based = tokenizer != "no-baseline"
        rows = [{"run_id": run_id, "tokenizer": tokenizer, "item_id": f"{lang}-{i:03d}", "pack_id": pack_id,
                 "lang": lang, "n_tokens": 10 + i, "ids_sha": "a" if j and i % 3 == 0 else "b",
                 "baseline_ids_sha": "b" if based else None, "changed": bool(j and i % 3 == 0) if based else None}
                for pack_id, qs in PACKS.items() for i, (lang, _, _) in enumerate(qs)]
        store.write(root, "drift", rows, run_id, "2026-10-09")
        store.write(root, "metrics", [{"run_id": run_id, "suite": "drift", "slice": f"lang={lang}", "metric": m,
                                       "value": v + j / 10, "n": 40}
                                      for lang in ("en", "fr") for m, v in (("fertility", 1.3), ("split_word_rate", 0.1))],
                    run_id, "2026-10-09")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """The Vega bundle cache for this module: built once, never in the user's cache."""
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TINYQA_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def built(tmp_path_factory, cache):
    root = tmp_path_factory.mktemp("store") / "reports"
    fill(root)
    out = tmp_path_factory.mktemp("site")
    page = dashboard.build(root, out)
    return root, page, page.read_text(encoding="utf-8")


def test_page_has_every_section_and_chart(built):
    root, page, html = built
    d = dashboard.gather(root)
    assert d.n_qa_runs == RUNS_PER_MODEL * len(MODELS)
    assert set(d.charts) == {"chart-latest", "chart-packs", "chart-langs", "chart-lmeval", "chart-latency",
                             "chart-cost", "chart-drift"}
    for section in ("status", "packs", "langs", "lmeval", "flips", "items", "drift", "perf"):
        assert f'<section id="{section}">' in html
    assert len(d.status) == len(MODELS) * len(PACKS)
    status = {(s["series"], s["pack"]): s for s in d.status}
    gpt = status[("openai/gpt-4o-mini", "core_en")]
    assert gpt["value"] == 0 and gpt["delta"] == -1 and gpt["verdict"] == "worse"
    assert gpt["flips"] == "10↓ 0↑" and gpt["p"] < 0.01
    assert status[("ollama/llama3", "core_en")]["errors"] == 1
    flips = {g["series"]: g for g in d.flips}
    assert flips["openai/gpt-4o-mini"]["regressed"] == 18 and d.flips[0]["series"] == "openai/gpt-4o-mini"
    # the errored item is never a flip
    assert all(i["item_id"] != "en-003" for i in flips["ollama/llama3"]["items"])
    drift = {(r["tokenizer"], r["lang"]): r for r in d.drift}
    assert drift[("tiktoken:o200k_base", "en")]["changed"] == 4 and drift[("local", "fr")]["changed"] == 0
    assert drift[("tiktoken:o200k_base", "fr")]["share"] == 3 / 8
    assert drift[("no-baseline", "en")]["changed"] is None and drift[("no-baseline", "en")]["share"] is None
    assert drift[("local", "fr")]["metrics"] == {"fertility": 1.3, "split_word_rate": 0.1}
    assert d.drift_metrics == ["fertility", "split_word_rate"]
    assert d.has_cost and d.verdicts["worse"] >= 1
    # item analysis over all 30 runs of each model: random outcomes flip, and the errored item
    # is left out of its run, never counted wrong
    assert d.items["n"] == 18 and d.items["repeated"] and d.items["flaky"]["count"] > 0
    assert d.items["discriminating"] and [s["name"] for s in d.items["series"]] == list(MODELS)


def test_lmeval_suites_beside_the_packs(built):
    """lm-eval's tasks as panels (a group once, its subtasks and perplexities left out), each
    point with its ± 1.96·stderr band, the latest scores per model and task in the table, and
    a model's colour the same in both suites."""
    root, _, html = built
    d = dashboard.gather(root)
    assert d.n_lmeval_runs == len(LMEVAL_MODELS) * RUNS_PER_MODEL // 2
    assert d.lmeval_metrics == ["acc", "exact_match", "acc_norm"]
    spec = d.charts["chart-lmeval"]
    points = spec["datasets"]["lmeval"]
    assert {p["facet"] for p in points} == {"arc_easy", "gsm8k · strict-match", "gsm8k · flexible-extract", "mmlu"}
    shown = {(p["facet"], p["shown"]) for p in points if p["metric"] == "headline"}   # the default view
    assert shown == {("arc_easy", "acc"), ("gsm8k · strict-match", "exact_match"),
                     ("gsm8k · flexible-extract", "exact_match"), ("mmlu", "acc")}
    for p in points:
        assert p["lo"] == pytest.approx(max(0, p["v"] - 1.96 * p["se"]), abs=1e-4)
        assert p["hi"] == pytest.approx(min(1, p["v"] + 1.96 * p["se"]), abs=1e-4)
    assert len([p for p in points if p["series"] == "local" and p["facet"] == "arc_easy"
                and p["metric"] == "acc"]) == RUNS_PER_MODEL // 2
    rows = {(r["series"], r["facet"]): r for r in d.lmeval}
    assert len(rows) == len(LMEVAL_MODELS) * 4
    arc = rows[("local", "arc_easy")]
    last_k = RUNS_PER_MODEL - 2
    assert (arc["metric"], arc["value"], arc["se"], arc["backend"]) == ("acc", round(0.55 + 0.01 * (last_k % 5), 4),
                                                                          0.0099, "hf")
    assert arc["others"] == [("acc_norm", round(arc["value"] - 0.05, 4), 0.0102)] and arc["runs"] == RUNS_PER_MODEL // 2
    assert arc["delta"] == pytest.approx(0.01 * (last_k % 5) - 0.01 * ((last_k - 2) % 5))
    assert rows[("openai/gpt-4o-mini", "gsm8k · strict-match")]["metric"] == "exact_match"
    qa_color = {s["series"]: s["color"] for s in d.status}
    assert arc["color"] == qa_color["local"]
    assert 'href="#lmeval"' in html and "gsm8k · flexible-extract" in html and "word_perplexity" not in html


def test_all_text_is_escaped(built):
    _, _, html = built
    assert SCRIPT_Q not in html and "<img src=x" not in html and "<b>really" not in html
    assert "&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt; What is 2 + 2?" in html
    assert "No idea &lt;b&gt;really&lt;/b&gt;" in html
    specs = re.search(r'<script type="application/json" id="tinyqa-specs">(.*?)</script>', html, re.S).group(1)
    assert "<" not in specs and "\\u003cimg" in specs
    assert EVIL_MODEL in json.dumps(json.loads(specs), ensure_ascii=False)


def test_script_json_cannot_close_its_element():
    text = dashboard.script_json({"q": "</script><script>alert(1)</script>&"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"q": "</script><script>alert(1)</script>&"}


def test_empty_store_builds_and_missing_store_is_input_error(tmp_path, cache):
    (tmp_path / "empty").mkdir()
    html = dashboard.build(tmp_path / "empty", tmp_path / "site").read_text(encoding="utf-8")
    assert "No tiny QA runs in this store yet" in html and "No tokenizer drift runs" in html
    with pytest.raises(InputError, match="no report store at"):
        dashboard.build(tmp_path / "nowhere", tmp_path / "site2")


def test_memory_store_renders(cache):
    fill("memory://tinyqa-dash/reports", runs_per_model=2)
    d = dashboard.gather("memory://tinyqa-dash/reports")
    assert d.n_qa_runs == 2 * len(MODELS) and "chart-packs" in d.charts
    import fsspec

    fsspec.filesystem("memory").rm("/tinyqa-dash", recursive=True)


def test_cli_report(built, tmp_path, tinyqa_bin, cache):
    root, _, _ = built
    env = dict(os.environ, TINYQA_CACHE_DIR=str(cache))
    res = subprocess.run([tinyqa_bin, "report", "--reports", str(root), "--out", str(tmp_path / "site")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "site" / "index.html").is_file() and "dashboard written to" in res.stdout


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(page, tmp_path, *args):
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000", *args, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(chromium() is None, reason="chromium not found (`make test` installs Debian's chromium)")
@pytest.mark.slow
def test_page_draws_in_headless_chromium(built, tmp_path):
    _, page, _ = built
    dom = _chromium(page, tmp_path, "--dump-dom").stdout
    n_charts = len(dashboard.gather(built[0]).charts)
    assert f'data-charts-drawn="{n_charts}"' in dom and 'data-charts-failed="0"' in dom, dom[-2000:]
    for chart_id in ("chart-latest", "chart-packs", "chart-langs", "chart-lmeval", "chart-latency", "chart-cost",
                     "chart-drift"):
        tail = dom.split(f'id="{chart_id}"', 1)[1][:3000]
        assert re.search(r"<svg[^>]*class=\"marks\"", tail), chart_id   # vega drew it as SVG
    assert f"<title>{TITLE}</title>" in dom  # the item's <script> never ran
    assert "&lt;script&gt;document.title=\"pwned\"&lt;/script&gt; What is 2 + 2?" in dom

    from PIL import Image

    shot = tmp_path / "shot.png"
    _chromium(page, tmp_path, f"--screenshot={shot}", "--window-size=1400,2400")
    img = Image.open(shot).convert("RGB")
    assert img.size == (1400, 2400)
    colors = img.getcolors(maxcolors=1 << 20)
    def near(rgb, tol=40):
        return sum(c for c, p in colors if sum(abs(a - b) for a, b in zip(p, rgb)) <= tol)
    # Each model's colour (the palette's first three) drawn in the charts: lines, bands and dots.
    for hex_ in dashboard.PALETTE[:3]:
        rgb = tuple(int(hex_[i:i + 2], 16) for i in (1, 3, 5))
        assert near(rgb) > 400, hex_


def test_status_shows_the_detectable_drop_and_the_cost_per_pack(built):
    """Per model and pack: the smallest drop a gate against the latest run would detect (the
    gate's rule, 80% power) and what the pack's answers cost; a model LiteLLM has no price
    for says so, the embedded model costs nothing."""
    from tinyqa.suites.stats import min_detectable_drop

    root, _, html = built
    d = dashboard.gather(root)
    rows = {(s["series"], s["pack"]): s for s in d.status}
    shown = 0
    for s in rows.values():
        want = min_detectable_drop(s["n"], s["value"], alpha=d.rule.alpha, max_drop=d.rule.max_drop)
        assert s["detectable"] == want
        if want is not None:
            shown += 1
            assert f"drops of {round(want * 100)} pts+" in html
    assert shown, "no pack of the synthetic store detects any drop"
    priced = rows[("openai/gpt-4o-mini", "core_en")]
    assert priced["price"] == "priced" and priced["cost"] == pytest.approx(0.0001 * len(PACKS["core_en"]))
    assert rows[("ollama/llama3", "core_en")]["price"] == "no price"
    assert rows[("local", "core_fr")]["price"] == "free"
    assert "unknown: LiteLLM has no price" in html and "$0 (embedded)" in html
    assert f"${0.0001 * len(PACKS['core_en']):.4f}" in html                                # per pack
    assert f"${0.0001 * sum(len(q) for q in PACKS.values()):.4f}" in html                 # per run
    perf = {p["series"]: p for p in d.perf}
    assert perf["ollama/llama3"]["price"] == "no price" and perf["openai/gpt-4o-mini"]["price"] == "priced"
