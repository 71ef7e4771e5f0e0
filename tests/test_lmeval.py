"""lm-eval suites: the exact lm-eval call per backend, offline safety, the normalisation into
the report store, and tinyqa packs run through lm-eval against a scripted loopback server and
(slow) the embedded model, with lm-eval's exact_match checked against tinyqa's on the same answers."""
import math
import os
import re
import subprocess

import pyarrow.compute as pc
import pytest
from conftest import write_pack
from fakeserver import ScriptedServer

from tinyqa import runinfo
from tinyqa.errors import InputError
from tinyqa.suites import lmeval
from tinyqa.suites.lmeval import Settings

# --- the lm-eval call, built without running it (the GPU path on a machine without one) ---


def test_hf_call_is_exact(tmp_path):
    model = tmp_path / "SmolLM2-135M-Instruct"
    model.mkdir()
    s = Settings(model=str(model), tasks=("mmlu", "tinyqa_core_en"), backend="hf", num_fewshot=5,
                 chat_template=True, model_args={"dtype": "bfloat16"})
    lmeval.check(s)   # a local folder passes the offline check
    assert lmeval.build_call(s) == {
        "model": "hf", "model_args": {"pretrained": str(model), "dtype": "bfloat16", "device": "cuda"},
        "tasks": ["tinyqa_core_en", "mmlu"], "num_fewshot": 5, "batch_size": "auto", "limit": None,
        "apply_chat_template": True, "fewshot_as_multiturn": True, "random_seed": 1234,
        "numpy_random_seed": 1234, "torch_random_seed": 1234, "fewshot_random_seed": 1234,
        "log_samples": True, "bootstrap_iters": 1000,
    }


def test_vllm_call_is_exact(tmp_path):
    s = Settings(model=str(tmp_path), tasks=("gsm8k",), backend="vllm", batch_size=16, seed=7, limit=100,
                 model_args={"tensor_parallel_size": 2, "max_model_len": 4096})
    call = lmeval.build_call(s)
    assert call["model"] == "vllm"
    assert call["model_args"] == {"pretrained": str(tmp_path), "dtype": "auto", "tensor_parallel_size": 2,
                                  "gpu_memory_utilization": 0.9, "seed": 7, "max_model_len": 4096}
    assert (call["batch_size"], call["limit"], call["random_seed"], call["apply_chat_template"]) == (16, 100, 7, False)


def test_api_calls_reach_the_endpoint_offline():
    s = Settings(model="openai/qwen2.5-7b", tasks=("tinyqa_core_en",), backend="local-completions",
                 api_base="http://gpu-1:8000/v1/", batch_size=4)
    call = lmeval.build_call(s)
    assert call["model_args"] == {"model": "qwen2.5-7b", "base_url": "http://gpu-1:8000/v1/completions",
                                  "num_concurrent": 8, "max_retries": 3, "seed": 1234,
                                  "tokenizer_backend": "none", "tokenized_requests": False}
    assert (call["batch_size"], call["apply_chat_template"]) == (4, False)
    chat = lmeval.build_call(Settings(model="local", tasks=("tinyqa_core_en",)), "http://127.0.0.1:9/v1")
    assert chat["model_args"]["base_url"] == "http://127.0.0.1:9/v1/chat/completions"
    assert chat["model_args"]["num_concurrent"] == 1 and chat["model_args"]["model"] == "smollm2-135m-instruct"
    assert (chat["batch_size"], chat["apply_chat_template"]) == (1, True)
    assert lmeval.api_base(Settings(model="openai/gpt-4o-mini", tasks=("x",))) == "https://api.openai.com/v1"


@pytest.mark.parametrize("settings, message", [
    (Settings(model="local", tasks=("tinyqa_core_en",), backend="vllm", device="cuda"), "--device is hf's"),
    (Settings(model="/nowhere/model", tasks=("mmlu",), backend="vllm"), "not a local model folder"),
    (Settings(model="local", tasks=("tinyqa_nosuch",)), "'tinyqa_nosuch' is not a shipped tinyqa pack"),
    (Settings(model="local", tasks=(" ",)), "at least one"),
    (Settings(model="local", tasks=("tinyqa_core_en",), chat_template=False), "needs the chat template"),
    (Settings(model="ollama/llama3", tasks=("tinyqa_core_en",)), "needs --api-base"),
    (Settings(model="m", tasks=("tinyqa_core_en",), backend="openai"), "--backend: 'openai' is not one of"),
    (Settings(model="m", tasks=("tinyqa_core_en",), api_base="ftp://x"), "not an http(s) URL"),
])
def test_bad_settings_are_one_clear_line(settings, message):
    with pytest.raises(InputError, match=re.escape(message)) as e:
        lmeval.check(settings)
    assert "\n" not in str(e.value)


def test_option_parsers():
    assert [lmeval.parse_batch_size(x) for x in (None, "8", "auto", "auto:4")] == [None, 8, "auto", "auto:4"]
    assert [lmeval.parse_limit(x) for x in (None, 10.0, 0.25)] == [None, 10, 0.25]
    assert lmeval.parse_model_args("dtype=bfloat16,max_model_len=4096,trust_remote_code=True") == {
        "dtype": "bfloat16", "max_model_len": 4096, "trust_remote_code": True}
    for bad in (lambda: lmeval.parse_batch_size("0"), lambda: lmeval.parse_limit(2.5),
                lambda: lmeval.parse_model_args("dtype")):
        with pytest.raises(InputError):
            bad()


def test_lmeval_child_is_offline_and_quiet_unless_asked():
    offline = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    env = lmeval.child_env(allow_hub=False, verbose=False)
    assert {env[k] for k in offline} == {"1"} and env["TQDM_DISABLE"] == "1"
    assert not set(offline) & set(lmeval.child_env(allow_hub=True, verbose=True))


def test_a_missing_dataset_is_named():
    s = Settings(model="local", tasks=("arc_easy",))
    e = lmeval._input_error(ConnectionError("Couldn't reach 'allenai/ai2_arc' on the Hub (OfflineModeIsEnabled)"),
                            s, ["arc_easy"])
    assert isinstance(e, InputError) and "'allenai/ai2_arc'" in str(e) and "--allow-hub" in str(e)
    assert lmeval._input_error(RuntimeError("CUDA out of memory"), s, ["arc_easy"]) is None


def test_reports_never_carry_credentials():
    assert runinfo.public_url("https://user:sk-secret@host:8443/v1?api_key=sk-2#x") == "https://host:8443/v1"


# --- normalising lm-eval's output ------------------------------------------------------------

def test_metrics_rows_intervals_groups_and_unknown_stderr():
    results = {
        "results": {
            "mmlu": {"alias": "mmlu", "acc,none": 0.6, "acc_stderr,none": 0.01},
            "mmlu_anatomy": {"acc,none": 0.99, "acc_stderr,none": 0.02, "acc_norm,none": 0.5,
                             "acc_norm_stderr,none": "N/A"},
            "wikitext": {"word_perplexity,none": 30.0, "word_perplexity_stderr,none": 2.0,
                         "bits_per_byte,none": float("nan")},
        },
        "group_subtasks": {"mmlu": ["mmlu_stem"], "mmlu_stem": ["mmlu_anatomy", "mmlu_astronomy"]},
        "n-samples": {"mmlu_anatomy": {"original": 135, "effective": 135},
                      "mmlu_astronomy": {"original": 152, "effective": 152},
                      "wikitext": {"original": 62, "effective": 62}},
    }
    rows = {(r["pack_id"], r["metric"]): r for r in lmeval.metrics_rows("r1", results)}
    assert rows[("mmlu", "acc")]["n"] == 287 and rows[("mmlu", "acc")]["slice"] == "filter=none"
    assert rows[("mmlu", "acc")]["ci_low"] == pytest.approx(0.6 - 0.0196)
    assert rows[("mmlu_anatomy", "acc")]["ci_high"] == 1.0                  # clipped
    assert rows[("mmlu_anatomy", "acc_stderr")]["value"] == 0.02
    assert rows[("mmlu_anatomy", "acc_norm")]["ci_low"] is None             # stderr "N/A"
    assert ("mmlu_anatomy", "acc_norm_stderr") not in rows
    assert rows[("wikitext", "word_perplexity")]["ci_high"] == pytest.approx(33.92)   # not a proportion
    assert ("wikitext", "bits_per_byte") not in rows                        # NaN
    assert {r["suite"] for r in rows.values()} == {"lmeval"}


def test_items_rows_for_multiple_choice_and_several_filters():
    mc = {"doc_id": 3, "doc": {"question": "2+2?", "choices": ["3", "4"]}, "target": 1,
          "arguments": [["Q: 2+2?\nA:", " 3"], ["Q: 2+2?\nA:", " 4"]],
          "filtered_resps": [[-2.0, False], [-0.1, True]], "filter": "none", "acc": 1.0}
    gen = [{"doc_id": 0, "doc": {"question": "6*7?"}, "target": "42", "arguments": [["6*7?", {}]],
            "filtered_resps": [f], "filter": name, "exact_match": float(f == "42")}
           for name, f in (("strict-match", "[invalid]"), ("flexible-extract", "42"))]
    rows = lmeval.items_rows("r1", {"samples": {"arc": [mc], "gsm8k": gen}}, packs={})
    arc, strict, flexible = rows
    assert (arc["item_id"], arc["question"], arc["gold"], arc["prediction"], arc["em"]) == ("arc-3", "2+2?", "4", "4", True)
    assert [strict["item_id"], flexible["item_id"]] == ["gsm8k-0@strict-match", "gsm8k-0@flexible-extract"]
    assert (strict["em"], flexible["em"], flexible["contains"]) == (False, True, None)   # no answers list


@pytest.mark.parametrize("pred, answers, lang, case, cause", [
    ("The Pacific Ocean", ["Pacific Ocean"], "en", False, "English article"),
    ("« Rome »", ["Rome"], "fr", False, "punctuation outside ASCII («»)"),
    ("William  Shakespeare", ["William Shakespeare"], "en", False, "whitespace inside"),
    ("U-S-A", ["USA"], "en", False, "punctuation inside the answer"),
    ("CO", ["Co"], "en", True, "match: case"),
    ("Ｔｏｋｙｏ", ["Tokyo"], "en", False, "Unicode normalisation"),
    ("Pele", ["Pelé"], "pt", False, "an accent: tinyqa's rule for pt"),
    ("four", ["4"], "en", False, "English number word"),
    ("4", ["4위"], "ko", False, "a label's counter"),
])
def test_each_disagreement_is_explained(pred, answers, lang, case, cause):
    from tinyqa.suites import scoring

    lm = lmeval.lmeval_normalize(pred.strip()) in {lmeval.lmeval_normalize(a) for a in answers}
    assert lm != scoring.exact_match(pred, answers, lang, case)
    assert cause in lmeval.why_differ(pred, answers, lang, case)


# --- tinyqa packs through lm-eval against a scripted loopback server -------------------------

XCHECK = [  # question, label, aliases, lang, extra tags, the scripted answer
    ("What is the capital of France?", "Paris", [], "en", {}, "Paris"),
    ("Which ocean is the largest?", "Pacific Ocean", ["Pacific"], "en", {}, "The Pacific Ocean"),
    ("Quelle est la capitale de l'Italie ?", "Rome", ["Roma"], "fr", {}, "« Rome »"),
    ("Who wrote Hamlet?", "William Shakespeare", ["Shakespeare"], "en", {}, "William  Shakespeare"),
    ("Which country has Washington, D.C. as its capital?", "USA", ["United States"], "en", {}, "U-S-A"),
    ("How many legs does a spider have?", "8", ["eight"], "en", {}, "  Eight "),
    ("What is the chemical symbol for cobalt?", "Co", [], "en", {"match": "case"}, "CO"),
    ("What colour is a ripe banana?", "yellow", [], "en", {}, "I don't know"),
]
SCRIPT = {q: answer for q, *_, answer in XCHECK}


@pytest.fixture
def xcheck_pack(tmp_path):
    from tinyqa.validators.croissant import describe_pack

    items = [{"text": q, "label": label, "aliases": aliases, "context": f"The answer is {label}.",
              "tags": {"category": "misc", "difficulty": "easy", **tags}, "lang": lang}
             for q, label, aliases, lang, tags, _ in XCHECK]
    return describe_pack(write_pack(tmp_path / "xcheck", items)).path


def scripted(prompt: str, attempt: int) -> str:
    question = re.search(r"Question: (.*)\nAnswer:", prompt).group(1)
    return SCRIPT[question]


@pytest.mark.slow
def test_pack_through_lmeval_agrees_with_tinyqa_or_says_why(xcheck_pack, tmp_path, monkeypatch):
    from tinyqa.flows.lmeval import lmeval_task
    from tinyqa.reports import store

    monkeypatch.setenv("TINYQA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with ScriptedServer(scripted) as srv:
        result = lmeval_task.fn(Settings(model="openai/scripted", tasks=(str(xcheck_pack),),
                                         api_base=srv.url, concurrency=2), reports=str(tmp_path / "reports"))
    # The request lm-eval sent: chat messages, the served model name, greedy, cut at a newline.
    body = srv.requests[0]["body"]
    assert body["model"] == "scripted" and body["temperature"] == 0 and "\n" in body["stop"]
    assert body["messages"][-1]["role"] == "user" and len(srv.requests) == len(XCHECK)
    assert "HF_HUB_OFFLINE" not in os.environ          # offline only in lm-eval's own process
    assert not list((tmp_path / "cache" / "lmeval").iterdir())   # the exported tasks are removed

    metrics = {(m["pack_id"], m["slice"], m["metric"]): m for m in result.metrics}
    key = ("tinyqa_xcheck", "filter=strip")
    em = metrics[(*key, "exact_match")]
    # lm-eval right: Paris, U-S-A (hyphens deleted), "  Eight " (ends stripped), CO (case ignored).
    assert (em["value"], em["n"]) == (4 / 8, 8)
    assert em["ci_low"] == pytest.approx(max(0, 0.5 - 1.96 * metrics[(*key, "exact_match_stderr")]["value"]))
    assert metrics[(*key, "tinyqa_exact_match")]["value"] == 5 / 8
    assert metrics[(*key, "em_disagreements")]["value"] == 5

    (agree,) = result.details["agreement"]
    assert (agree["k_lmeval"], agree["k_tinyqa"], agree["n"]) == (4, 5, 8)
    # Recompute tinyqa's EM on the predictions lm-eval logged: the same answers, item by item.
    from tinyqa.suites import scoring

    items = {i["question"]: i for i in result.items}
    for q, label, aliases, lang, tags, answer in XCHECK:
        row = items[q]
        assert row["prediction"] == answer.strip() and row["gold"] == label
        tq = scoring.exact_match(row["prediction"], [label, *aliases], lang, tags.get("match") == "case")
        assert row["em"] == (q in {XCHECK[i][0] for i in (0, 4, 5, 6)})
        assert (row["em"] != tq) == (row["item_id"] in {d["item_id"] for d in agree["differ"]})
    why = {d["prediction"]: d["why"] for d in agree["differ"]}
    assert "English article" in why["The Pacific Ocean"] and "outside ASCII" in why["« Rome »"]
    assert "whitespace inside" in why["William  Shakespeare"] and "inside the answer" in why["U-S-A"]
    assert "match: case" in why["CO"]

    # The store: one runs row without credentials, metrics and items readable by run id.
    run_id = result.run_id
    (run,) = store.read(tmp_path / "reports", "runs", pc.field("run_id") == run_id).to_pylist()
    assert (run["suite"], run["model"], run["pack_ids"], run["status"]) == ("lmeval", "openai/scripted",
                                                                          ["tinyqa_xcheck"], "complete")
    assert run["api_base"] == srv.url
    stored = store.read(tmp_path / "reports", "items", pc.field("run_id") == run_id).to_pylist()
    assert {i["item_id"] for i in stored} == {i["item_id"] for i in result.items} and len(stored) == 8
    assert sorted(i["prediction"] for i in stored if not i["contains"]) == ["CO", "I don't know", "U-S-A"]
    assert store.read(tmp_path / "reports", "metrics", pc.field("run_id") == run_id).num_rows == len(result.metrics)


@pytest.mark.slow
def test_endpoint_down_is_an_infrastructure_error(xcheck_pack, tmp_path, monkeypatch):
    from tinyqa.errors import InfraError

    monkeypatch.setenv("TINYQA_CACHE_DIR", str(tmp_path / "cache"))
    s = Settings(model="m", tasks=(str(xcheck_pack),), api_base="http://127.0.0.1:9/v1", limit=1,
                 model_args={"max_retries": 1, "timeout": 5})
    with pytest.raises(InfraError, match="lm-eval failed"):
        lmeval.run(s)


def test_cli_bad_task_is_one_line(tinyqa_bin, cli_env):
    p = subprocess.run([tinyqa_bin, "lmeval", "--model", "local", "--tasks", "tinyqa_nosuch"],
                       capture_output=True, text=True, env=cli_env, timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == [p.stderr.strip()] and "tinyqa_nosuch" in p.stderr


# --- the embedded model (slow) ---------------------------------------------------------------

@pytest.mark.slow
def test_cli_local_model_offline(tinyqa_bin, cli_env, tmp_path):
    """`tinyqa lmeval --model local` on core_en (10 docs): offline, a summary table, reports
    written, and lm-eval's EM checked against tinyqa's on the same answers."""
    from tinyqa.reports import store
    from tinyqa.suites import scoring

    env = dict(cli_env, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    p = subprocess.run([tinyqa_bin, "lmeval", "--backend", "local-chat-completions", "--tasks", "tinyqa_core_en",
                        "--model", "local", "--limit", "10", "--reports", str(tmp_path / "reports")],
                       capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "exact_match" in p.stdout and "on the same answers" in p.stdout
    assert "Requesting API" not in p.stderr            # progress bars hidden
    (run,) = store.read(tmp_path / "reports", "runs").to_pylist()
    items = store.read(tmp_path / "reports", "items").to_pylist()
    metrics = {m["metric"]: m for m in store.read(tmp_path / "reports", "metrics").to_pylist()}
    assert run["suite"] == "lmeval" and run["api_base"] is None and len(items) == 10
    from tinyqa.pack import load_pack, shipped_dir

    pack = {i.id: i for i in load_pack(shipped_dir() / "core_en").items}
    tinyqa_em = [scoring.exact_match(i["prediction"], pack[i["item_id"]].answers, "en") for i in items]
    differ = sum(bool(i["em"]) != t for i, t in zip(items, tinyqa_em))
    assert metrics["exact_match"]["value"] == pytest.approx(sum(bool(i["em"]) for i in items) / 10)
    assert metrics["tinyqa_exact_match"]["value"] == pytest.approx(sum(tinyqa_em) / 10)
    assert metrics["em_disagreements"]["value"] == differ
    assert (f"differs on {differ} item(s)" if differ else "agrees with") in p.stdout
    assert not math.isnan(metrics["exact_match"]["value"])
