"""lm-eval's standard tasks offline: the dataset mirror (layout, loader, what is missing), the
task needs read from lm-eval's index, log-likelihood tasks on the backends that can and cannot
score them, and (slow) the real `arc_easy` and `gsm8k` task definitions run from a mirror of
items authored here (tests/data/datasets): through lm-eval's hf backend on the embedded
SmolLM2 GGUF on the CPU, through the nightly beside a tiny pack, and the llama.cpp server's
prompt log-probabilities checked against transformers'."""
import json
import math
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pyarrow.compute as pc
import pytest

from tinyqa.errors import InputError
from tinyqa.suites import lmeval, lmeval_mirror
from tinyqa.suites.lmeval import Settings
from tinyqa.suites.lmeval_tasks import TaskNeed, needs

MIRROR = Path(__file__).parent / "data" / "datasets"
ARC = TaskNeed("arc_easy", "multiple_choice", "allenai/ai2_arc", "ARC-Easy")
GSM8K = TaskNeed("gsm8k", "generate_until", "openai/gsm8k", "main")


def hf_cpu() -> str | None:
    """Why the hf-cpu extra is missing (None when torch, transformers and gguf import)."""
    import importlib.util

    absent = [m for m in ("torch", "transformers", "gguf", "accelerate") if importlib.util.find_spec(m) is None]
    return f"the hf-cpu extra is not installed ({', '.join(absent)}; `make test` installs it)" if absent else None


# --- what tasks need, from lm-eval's index ------------------------------------------------

def _entry(kind, cfg=None, tags=()):
    return SimpleNamespace(kind=SimpleNamespace(name=kind), cfg=cfg, tags=set(tags))


def test_needs_expand_groups_tags_and_inline_overrides():
    index = {
        "arc_easy": _entry("TASK", {"task": "arc_easy", "dataset_path": "allenai/ai2_arc", "dataset_name": "ARC-Easy",
                                    "output_type": "multiple_choice"}),
        "arc_challenge": _entry("TASK", {"task": "arc_challenge", "dataset_path": "allenai/ai2_arc",
                                         "dataset_name": "ARC-Challenge", "output_type": "multiple_choice"}),
        "ai2_arc": _entry("TAG", tags={"arc_easy", "arc_challenge"}),
        "gen": _entry("TASK", {"task": "gen", "dataset_path": "x/gen"}),                 # default output type
        "files": _entry("TASK", {"task": "files", "dataset_path": "json",
                                 "dataset_kwargs": {"data_files": {"test": "t.jsonl"}}}),
        "pytask": _entry("PY_TASK", {"task": "pytask", "class": object}),
        "suite": _entry("GROUP", {"group": "suite", "task": [
            "ai2_arc", {"task": "gen", "dataset_name": "hard"},
            {"task": "inline_t", "dataset_path": "y/inline", "output_type": "loglikelihood"},
            {"group": "sub", "task": ["files", "pytask", "suite"]}]}),               # a cycle is walked once
    }
    got = {n.task: n for n in needs(index, ["suite", "arc_easy", "nosuch"])}
    assert list(got) == ["arc_challenge", "arc_easy", "gen", "inline_t", "files", "pytask"]
    assert got["arc_easy"] == ARC and got["arc_easy"].loglikelihood
    assert (got["gen"].output_type, got["gen"].dataset_name, got["gen"].loglikelihood) == ("generate_until", "hard", False)
    assert got["inline_t"].dataset == "y/inline" and got["inline_t"].loglikelihood
    assert got["files"].data_files and got["pytask"].dataset_path is None


# --- the mirror -----------------------------------------------------------------------------

def test_mirror_layout_files_and_what_is_missing(tmp_path):
    found = lmeval_mirror.files(MIRROR, "allenai/ai2_arc", "ARC-Easy")
    assert found.builder == "json" and sorted(found.splits) == ["test", "train", "validation"]
    hub = tmp_path / "m" / "openai" / "gsm8k" / "main"       # the Hub's own shard names
    hub.mkdir(parents=True)
    for split in ("train", "test"):
        (hub / f"{split}-00000-of-00001.parquet").write_bytes(b"")
    (hub / "README.md").write_text("not data")
    assert sorted(lmeval_mirror.files(tmp_path / "m", "openai/gsm8k", "main").splits) == ["test", "train"]
    (hub / "extra.jsonl").write_text("{}\n")
    with pytest.raises(InputError, match="mixes Parquet and JSON"):
        lmeval_mirror.files(tmp_path / "m", "openai/gsm8k", "main")
    assert lmeval_mirror.files(MIRROR, "../etc", None) is None and lmeval_mirror.files(MIRROR, "/abs", None) is None

    files_task = TaskNeed("t", "generate_until", "json", None, data_files=True)
    pytask = TaskNeed("p", None, None, None)
    mmlu = [TaskNeed(f"mmlu_{s}", "multiple_choice", "cais/mmlu", s) for s in ("anatomy", "astronomy")]
    lacking = lmeval_mirror.missing(MIRROR, [ARC, GSM8K, files_task, pytask, *mmlu])
    assert lacking == mmlu          # tasks with their own data files or Python datasets load as they do
    line = lmeval_mirror.missing_message("/mirror", lacking + [TaskNeed(f"x{i}", None, f"o/d{i}", None) for i in range(9)],
                                         ["mmlu", "x"])
    assert "\n" not in line and line.startswith("--datasets /mirror: not in the mirror: cais/mmlu anatomy (mmlu_anatomy)")
    assert "and 5 more" in line and "`tinyqa lmeval mirror --tasks mmlu,x --out DIR`" in line


def test_a_datasets_cache_is_a_mirror_too(tmp_path):
    cache = tmp_path / "hf"
    (cache / "allenai___ai2_arc" / "ARC-Easy" / "0.0.0" / "abc123").mkdir(parents=True)
    assert lmeval_mirror.is_hf_cache(cache) and not lmeval_mirror.is_hf_cache(MIRROR)
    assert lmeval_mirror.missing(cache, [ARC, GSM8K]) == [GSM8K]


def test_loader_serves_the_real_schemas_to_lm_eval_templates(tmp_path, monkeypatch):
    """datasets.load_dataset(path, name) as lm-eval calls it reads the mirror: ARC-Easy and
    GSM8K with the Hub's features and splits, every item valid for the tasks' own templates."""
    import datasets
    import jinja2

    monkeypatch.setattr(datasets, "load_dataset", datasets.load_dataset)   # restored after the test
    lmeval_mirror.install(MIRROR, tmp_path / "cache")
    arc = datasets.load_dataset(path="allenai/ai2_arc", name="ARC-Easy")
    assert {k: v.num_rows for k, v in arc.items()} == {"test": 20, "train": 5, "validation": 5}
    assert arc["test"].features == datasets.Features({
        "id": datasets.Value("string"), "question": datasets.Value("string"),
        "choices": {"text": datasets.List(datasets.Value("string")), "label": datasets.List(datasets.Value("string"))},
        "answerKey": datasets.Value("string")})
    target = jinja2.Template("{{choices.label.index(answerKey)}}")     # arc_easy's doc_to_target
    for doc in arc["test"]:
        assert 0 <= int(target.render(**doc)) < len(doc["choices"]["text"]) == len(doc["choices"]["label"])
    assert {len(d["choices"]["text"]) for d in arc["test"]} == {3, 4, 5}
    gsm = datasets.load_dataset(path="openai/gsm8k", name="main")
    assert {k: v.num_rows for k, v in gsm.items()} == {"test": 20, "train": 5}
    assert set(gsm["test"].features) == {"question", "answer"}
    for doc in gsm["test"]:     # gsm8k's strict-match filter finds the answer in every reference
        assert re.search(r"#### (\-?[0-9\.\,]+)", doc["answer"])
    plain = datasets.load_dataset("json", data_files={"test": str(MIRROR / "openai/gsm8k/main/test.jsonl")},
                                  cache_dir=str(tmp_path / "c2"))
    assert plain["test"].num_rows == 20     # anything else loads as before


# --- log-likelihood tasks and the backends ----------------------------------------------

def test_loglikelihood_tasks_only_where_they_can_be_scored():
    def problem(**kw):
        return lmeval.loglikelihood_problem(Settings(**{"model": "m", "tasks": ("x",), **kw}), [ARC, GSM8K])

    assert "chat completions cannot give" in problem(model="local")
    assert "one token off" in problem(model="local", backend="local-completions")
    assert "tokenizer=FOLDER" in problem(backend="local-completions", api_base="http://h/v1")
    assert problem(backend="local-completions", api_base="http://h/v1", model_args={"tokenizer": "/t"}) is None
    assert problem(model="local", backend="hf") is None and problem(backend="vllm") is None
    assert lmeval.loglikelihood_problem(Settings(model="local", tasks=("gsm8k",)), [GSM8K]) is None


def test_hf_on_the_embedded_gguf_call():
    from tinyqa.models.local import gguf_path

    gguf = gguf_path()
    s = Settings(model="local", tasks=("arc_easy",), backend="hf", datasets=str(MIRROR))
    lmeval.check(s)     # no Hub, no folder: the GGUF file is the model
    on_gpu = lmeval.build_call(s)
    assert on_gpu["model_args"] == {"pretrained": str(gguf.parent), "gguf_file": gguf.name, "dtype": "auto",
                                    "device": "cuda"}
    assert on_gpu["batch_size"] == "auto"
    on_cpu = lmeval.build_call(s, device="cpu")
    assert (on_cpu["model_args"]["device"], on_cpu["batch_size"]) == ("cpu", 1)
    assert lmeval.build_call(s.model_copy(update={"model": str(gguf)}))["model_args"]["gguf_file"] == gguf.name
    assert lmeval.build_call(s.model_copy(update={"backend": "vllm"}))["model_args"]["pretrained"] == str(gguf)
    assert lmeval.build_call(s.model_copy(update={"device": "cuda:1"}), device="cpu")["model_args"]["device"] == "cuda:1"
    assert lmeval.run_notes(s, "cpu", 1)[1:] == [
        "hf ran on cpu (1 thread)", f"datasets from the mirror {MIRROR.resolve()}"]


@pytest.mark.parametrize("settings, message", [
    (Settings(model="local", tasks=("arc_easy",), backend="hf", datasets="/nowhere"), "--datasets /nowhere: no such folder"),
    (Settings(model="/nowhere/m.gguf", tasks=("arc_easy",), backend="hf"), "no such GGUF file"),
    (Settings(model="local", tasks=("arc_easy",), device="cpu"), "--device is hf's"),
])
def test_bad_mirror_settings_are_one_line(settings, message):
    with pytest.raises(InputError, match=re.escape(message)) as e:
        lmeval.check(settings)
    assert "\n" not in str(e.value)


# --- the real tasks, offline (slow) -----------------------------------------------------------

def _offline(env: dict, tmp_path: Path) -> dict:
    return dict(env, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(tmp_path / "hf-home"))


@pytest.mark.skipif(hf_cpu() is not None, reason=str(hf_cpu()))
def test_cli_hf_arc_easy_and_gsm8k_from_a_parquet_mirror(tinyqa_bin, cli_env, tmp_path):
    """The mirror command turns the authored JSONL into a Parquet mirror (offline, --from);
    `tinyqa lmeval --backend hf --model <the embedded GGUF> --tasks arc_easy,gsm8k --datasets`
    runs lm-eval's own task definitions on it on the CPU: acc and acc_norm with stderr for
    arc_easy, both gsm8k filters, items rows whose prediction is the choice lm-eval scored."""
    from tinyqa.models.local import gguf_path
    from tinyqa.reports import store

    env = _offline(cli_env, tmp_path)
    mirror = tmp_path / "mirror"
    for task in ("arc_easy", "gsm8k"):     # the second run adds to the mirror
        p = subprocess.run([tinyqa_bin, "lmeval", "mirror", "--tasks", task, "--from", str(MIRROR),
                            "--out", str(mirror)], capture_output=True, text=True, env=env, timeout=300)
        assert p.returncode == 0, p.stderr
    assert "openai/gsm8k │ main" in p.stdout and "test 20, train 5" in p.stdout
    manifest = json.loads((mirror / "tinyqa-mirror.json").read_text())
    assert manifest["tasks"] == ["arc_easy", "gsm8k"]
    assert [(d["path"], d["name"], d["tasks"]) for d in manifest["datasets"]] == [
        ("allenai/ai2_arc", "ARC-Easy", ["arc_easy"]), ("openai/gsm8k", "main", ["gsm8k"])]
    assert sorted(p.name for p in (mirror / "allenai/ai2_arc/ARC-Easy").iterdir()) == [
        "test.parquet", "train.parquet", "validation.parquet"]
    assert not (mirror / ".cache").exists()

    reports = tmp_path / "reports"
    p = subprocess.run([tinyqa_bin, "lmeval", "--backend", "hf", "--model", str(gguf_path()), "--tasks",
                        "arc_easy,gsm8k", "--datasets", str(mirror), "--limit", "6", "--reports", str(reports)],
                       capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "hf ran on cpu" in p.stdout and f"datasets from the mirror {mirror.resolve()}" in p.stdout
    assert "Running loglikelihood requests" not in p.stderr and "fatal:" not in p.stderr   # kept in the log
    assert "Running loglikelihood requests" in (tmp_path / "cache" / "logs" / "lmeval-last-run.log").read_text()

    (run,) = store.read(reports, "runs").to_pylist()
    assert (run["suite"], run["pack_ids"], run["prompt_template"], run["api_base"]) == (
        "lmeval", ["arc_easy", "gsm8k"], "lm-eval/hf", None)
    assert any(n.startswith("hf ran on cpu") for n in run["notes"])
    metrics = {(m["pack_id"], m["slice"], m["metric"]): m for m in store.read(reports, "metrics").to_pylist()}
    for metric in ("acc", "acc_norm"):
        m, se = metrics[("arc_easy", "filter=none", metric)], metrics[("arc_easy", "filter=none", f"{metric}_stderr")]
        assert m["n"] == 6 and 0 <= m["value"] <= 1 and se["value"] > 0
        assert m["ci_low"] == pytest.approx(max(0.0, m["value"] - 1.96 * se["value"]))
    for filt in ("strict-match", "flexible-extract"):
        assert metrics[("gsm8k", f"filter={filt}", "exact_match")]["n"] == 6

    items = store.read(reports, "items", pc.field("pack_id") == "arc_easy").to_pylist()
    docs = [json.loads(line) for line in (MIRROR / "allenai/ai2_arc/ARC-Easy/test.jsonl").read_text().splitlines()]
    assert sorted(i["item_id"] for i in items) == [f"arc_easy-{k}" for k in range(6)]
    for i in items:
        doc = docs[int(i["item_id"].split("-")[1])]
        choices = doc["choices"]["text"]
        assert i["question"] == doc["question"]
        assert i["gold"] == choices[doc["choices"]["label"].index(doc["answerKey"])]
        assert i["prediction"] in choices and i["em"] == (i["prediction"] == i["gold"])
    assert sum(i["em"] for i in items) == round(metrics[("arc_easy", "filter=none", "acc")]["value"] * 6)
    gsm = store.read(reports, "items", pc.field("pack_id") == "gsm8k").to_pylist()
    assert len(gsm) == 12 and {i["item_id"].split("@")[1] for i in gsm} == {"strict-match", "flexible-extract"}
    assert all(i["gold"].rstrip().split("#### ")[-1].isdigit() for i in gsm)


@pytest.mark.skipif(hf_cpu() is not None, reason=str(hf_cpu()))
def test_llama_cpp_prompt_logprobs_are_off_by_one_so_tinyqa_refuses(tinyqa_bin, cli_env, tmp_path):
    """llama.cpp's server (llama-cpp-python) with echo and logprobs: each prompt token's
    log-probability is the one the *following* distribution gives it (transformers on the same
    weights shows it), and the generated token has no entry, so lm-eval's `[ctxlen:-1]` would
    score the wrong numbers. tinyqa refuses the combination in one line."""
    import urllib.request

    import torch
    import transformers

    from tinyqa.models import local

    text = "Question: What is the capital of France?\nAnswer: Paris"
    with local.serve() as base:
        body = {"model": "m", "prompt": text, "max_tokens": 1, "logprobs": 1, "echo": True, "temperature": 0}
        req = urllib.request.Request(base + "/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        got = json.load(urllib.request.urlopen(req, timeout=120))["choices"][0]
    gguf = local.gguf_path()
    tok = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = transformers.AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    ids = tok(text, return_tensors="pt")["input_ids"][0]
    with torch.no_grad():
        logp = torch.log_softmax(model(ids[None]).logits[0], -1)
    tokens, server = got["logprobs"]["tokens"], got["logprobs"]["token_logprobs"]
    assert tokens == [tok.decode([i]) for i in ids]            # the prompt only: no generated token
    assert got["text"].startswith(text) and len(got["text"]) > len(text)   # though one was generated
    true = [logp[k - 1, ids[k]].item() for k in range(1, len(ids))]
    shifted = [logp[k, ids[k]].item() for k in range(1, len(ids))]
    off_true = sum(abs(a - b) for a, b in zip(server[1:], true)) / len(true)
    off_shifted = sum(abs(a - b) for a, b in zip(server[1:], shifted)) / len(true)
    assert off_shifted < 0.5 < 3 < off_true, (off_shifted, off_true)

    p = subprocess.run([tinyqa_bin, "lmeval", "--backend", "local-completions", "--model", "local", "--tasks",
                        "arc_easy", "--datasets", str(MIRROR)], capture_output=True, text=True,
                       env=_offline(cli_env, tmp_path), timeout=300)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode == 2 and len(lines) == 1 and "one token off" in lines[0] and "--backend hf" in lines[0], p.stderr


@pytest.mark.slow
def test_missing_mirror_dataset_is_named_before_the_model_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYQA_CACHE_DIR", str(tmp_path / "cache"))
    partial = tmp_path / "mirror"
    shutil.copytree(MIRROR / "allenai", partial / "allenai")
    s = Settings(model="local", tasks=("arc_easy", "gsm8k"), backend="hf", datasets=str(partial))
    with pytest.raises(InputError) as e:
        lmeval.evaluate(s)
    assert str(e.value).startswith(f"--datasets {partial}: not in the mirror: openai/gsm8k main (gsm8k); ")


@pytest.mark.slow
def test_nightly_runs_gsm8k_from_the_mirror_beside_a_pack(prefect_harness, tmp_path, monkeypatch):
    """The nightly's lm-eval stage with [nightly] lmeval settings: gsm8k (its regex filters)
    from the mirror against a scripted endpoint, beside a tiny pack, and the dashboard's lm-eval
    section shows it with its stderr band."""
    from conftest import GOLD, MINI, write_pack
    from fakeserver import ScriptedServer

    from tinyqa.flows.nightly import nightly
    from tinyqa.validators.croissant import describe_pack
    from tinyqa.reports import dashboard

    docs = [json.loads(line) for line in (MIRROR / "openai/gsm8k/main/test.jsonl").read_text().splitlines()]
    answers = {d["question"]: d["answer"].split("#### ")[-1] for d in docs}

    def answer(prompt, attempt):
        q = re.search(r"Question: (.*)\nAnswer:", prompt, re.S)
        if q is None:
            return GOLD.get(prompt, "?")
        n = answers.get(q.group(1).strip(), "0")
        return f"So the answer is {n}.\n#### {n}" if int(n) % 2 == 0 else f"I think it is {n}."

    pack = describe_pack(write_pack(tmp_path / "p0", MINI)).path
    monkeypatch.setenv("TINYQA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    with ScriptedServer(answer) as srv:
        (tmp_path / "tinyqa.toml").write_text(
            f'[models."openai/a"]\napi_base = "{srv.url}"\n'
            f'[nightly]\nlmeval_tasks = ["gsm8k"]\nlmeval_datasets = "{MIRROR}"\nlmeval_limit = 8\n')
        result = nightly(models=["openai/a"], packs=[str(pack)], reports=str(tmp_path / "r"), site=str(tmp_path / "site"))
    (lm,) = result.lmeval
    assert len(result.qa) == 1 and result.errors == 0
    even = sum(int(answers[d["question"]]) % 2 == 0 for d in docs[:8])
    strict = lm.metric("gsm8k", "exact_match", "filter=strict-match")
    flexible = lm.metric("gsm8k", "exact_match", "filter=flexible-extract")
    assert (strict["value"], flexible["value"], strict["n"]) == (even / 8, 1.0, 8)
    assert any("datasets from the mirror" in n for n in lm.run["notes"])
    d = dashboard.gather(tmp_path / "r")
    rows = {(r["series"], r["facet"]): r for r in d.lmeval}
    assert rows[("openai/a", "gsm8k · strict-match")]["value"] == pytest.approx(even / 8)
    assert rows[("openai/a", "gsm8k · strict-match")]["lo"] < even / 8 < rows[("openai/a", "gsm8k · strict-match")]["hi"]
    assert d.status[0]["pack"] == "p0" and "chart-lmeval" in d.charts
    assert not math.isnan(strict["ci_low"])
