"""Exports of a pack, each read back by its real consumer where one is installed here:
lm-eval's TaskManager (and a scored run with a scripted model), `datasets.load_dataset`,
OpenAI Evals' registry layout, LangSmith's ExampleCreate, YAML, CSV and JSON readers."""
import csv
import json
import warnings

import pytest
import yaml

from conftest import MINI, write_pack
from tinyqa.errors import InputError
from tinyqa.export import ALIAS_SEPARATOR, FORMATS, INSTRUCTION, export_pack
from tinyqa.validators.croissant import describe_pack

TRICKY = [
    {"text": 'He said "it\'s 5: #1, ok?"\nAnd then: # not a comment, {{ not jinja }}?',
     "label": "yes: #1, \"q\"", "aliases": ["it's 'ok'", "- dash: start"],
     "context": 'The answer is yes: #1, "q" here.',
     "tags": {"category": "quoting", "difficulty": "hard", "hazard": "yaml: specials"}, "lang": "en"},
    {"text": "日本の首都はどこですか？", "label": "東京", "aliases": ["Tokyo", "とうきょう"],
     "context": "日本の首都は東京です。", "tags": {"category": "geography", "difficulty": "easy"}, "lang": "ja"},
    {"text": "ما هي عاصمة مصر؟", "label": "القاهرة", "aliases": [],
     "context": "القاهرة هي عاصمة مصر.", "tags": {"category": "geography", "difficulty": "easy"}, "lang": "ar"},
    {"text": "Is 'no' a YAML boolean?\ttrue, null, 1.0", "label": "no", "aliases": ["null", "1.0"],
     "context": "The answer is no.", "tags": {"category": "quoting", "difficulty": "medium"}, "lang": "en"},
]


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    folder = write_pack(tmp_path_factory.mktemp("packs") / "mini-x", MINI + TRICKY)
    return describe_pack(folder)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Hugging Face libraries offline, their cache inside the test."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    import datasets.config

    # datasets reads these once, at import: set the live values too.
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")


def tags_of(item) -> dict:
    return item.tags.model_dump()


def test_unknown_format_names_every_format(pack, tmp_path):
    with pytest.raises(InputError) as e:
        export_pack(pack, "xml", tmp_path / "out")
    msg = str(e.value)
    assert "\n" not in msg and "'xml'" in msg
    assert all(name in msg for name in FORMATS)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_writes_atomically_into_a_new_folder(pack, tmp_path, fmt):
    out = tmp_path / "a" / "b"
    paths = export_pack(pack, fmt, out)
    assert paths and all(p.is_file() and p.stat().st_size > 0 for p in paths)
    assert all(out in p.parents for p in paths)
    first = {p: p.read_bytes() for p in paths}
    assert export_pack(pack, fmt, out) == paths  # again: replaced in place, same bytes
    assert {p: p.read_bytes() for p in paths} == first
    written = sorted(p for p in out.rglob("*") if p.is_file())
    assert written == sorted(paths), "temporary files left behind"


def test_openai_evals_registry_and_samples(pack, tmp_path):
    out = tmp_path / "registry"
    export_pack(pack, "openai-evals", out)
    # The registry layout `oaieval --registry_path out` reads: evals/*.yaml, data/<samples_jsonl>.
    registry = yaml.safe_load((out / "evals" / f"{pack.id}.yaml").read_text(encoding="utf-8"))
    name = f"tinyqa-{pack.id}"
    assert registry[name]["metrics"] == ["accuracy"]
    spec = registry[registry[name]["id"]]
    assert spec["class"] == "evals.elsuite.basic.includes:Includes"
    assert spec["args"]["ignore_case"] is True
    lines = (out / "data" / spec["args"]["samples_jsonl"]).read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and len(lines) - 1 == len(pack.items)
    samples = [json.loads(line) for line in lines[:-1]]
    for item, s in zip(pack.items, samples, strict=True):
        assert s == {"input": [{"role": "system", "content": INSTRUCTION},
                               {"role": "user", "content": item.text}],
                     "ideal": [item.label, *item.aliases]}
    assert "東京" in lines[len(MINI) + 1]  # real characters, not \\u escapes


def test_lm_eval_task_loads_offline_and_scores_every_answer(pack, tmp_path, offline, monkeypatch):
    tasks = pytest.importorskip("lm_eval.tasks")
    from lm_eval import simple_evaluate
    from lm_eval.api.model import LM

    out = tmp_path / "lm"
    export_pack(pack, "lm-eval", out)
    name = "tinyqa_mini_x"
    assert (out / f"{name}.yaml").is_file()
    monkeypatch.chdir(tmp_path)  # the data path must not depend on the working directory

    manager = tasks.TaskManager(include_path=str(out), include_defaults=False)
    assert name in manager.all_tasks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        task = tasks.get_task_dict([name], manager)[name]
    assert task.OUTPUT_TYPE == "generate_until"
    docs = list(task.test_docs())
    assert len(docs) == len(pack.items)
    for item, doc in zip(pack.items, docs, strict=True):
        assert doc["id"] == item.id and doc["text"] == item.text and doc["label"] == item.label
        assert task.doc_to_text(doc) == f"{INSTRUCTION}\n\nQuestion: {item.text}\nAnswer:"
        assert task.doc_to_target(doc) == [item.label, *item.aliases]
    assert task.config.generation_kwargs == {"until": ["\n"], "do_sample": False, "temperature": 0.0}

    # A scripted model answers each question with its last accepted answer, padded and in
    # upper case: the filters strip it, exact_match ignores case; a wrong answer scores 0.
    answers = {i.text: i.answers[-1] for i in pack.items}
    wrong = pack.items[0].text

    class Scripted(LM):
        def loglikelihood(self, requests):
            raise NotImplementedError

        def loglikelihood_rolling(self, requests):
            raise NotImplementedError

        def generate_until(self, requests):
            out = []
            for r in requests:
                q = r.args[0].split("Question: ", 1)[1].rsplit("\nAnswer:", 1)[0]
                out.append("  nope\n" if q == wrong else f" {answers[q].upper()} \n")
            return out

    results = simple_evaluate(model=Scripted(), tasks=[name], task_manager=manager)["results"][name]
    assert results["exact_match,strip"] == pytest.approx((len(pack.items) - 1) / len(pack.items))


def test_hf_folder_loads_with_datasets(pack, tmp_path, offline):
    import datasets

    out = tmp_path / "hf"
    paths = export_pack(pack, "hf", out)
    assert out / "data" / "test-00000-of-00001.parquet" in paths
    card = (out / "README.md").read_text(encoding="utf-8")
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["license"] == "cc-by-4.0" and front["language"] == ["ar", "en", "fr", "ja"]

    ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf-cache"))
    assert list(ds) == ["test"]
    rows = list(ds["test"])
    assert len(rows) == len(pack.items)
    assert ds["test"].features["aliases"] == datasets.List(datasets.Value("string"))
    for item, row in zip(pack.items, rows, strict=True):
        tags = tags_of(item)
        assert row == {"id": item.id, "lang": item.lang, "category": tags["category"],
                       "difficulty": tags["difficulty"], "text": item.text, "label": item.label,
                       "aliases": list(item.aliases), "context": item.context,
                       "hazard": tags.get("hazard"), "sha256": item.sha256}


def test_langsmith_examples(pack, tmp_path):
    out = tmp_path / "ls"
    (path,) = export_pack(pack, "langsmith", out)
    examples = json.loads(path.read_text(encoding="utf-8"))
    assert len(examples) == len(pack.items)
    for item, ex in zip(pack.items, examples, strict=True):
        assert ex["inputs"] == {"question": item.text}
        assert ex["outputs"] == {"answer": item.label, "aliases": list(item.aliases)}
        assert ex["metadata"]["id"] == item.id and ex["metadata"]["lang"] == item.lang
        assert {k: ex["metadata"][k] for k in tags_of(item)} == tags_of(item)
    try:
        from langsmith.schemas import ExampleCreate
    except ImportError:
        return
    allowed = set(ExampleCreate.model_fields) | {"outputs"}
    for ex in examples:
        assert set(ex) <= allowed
        with warnings.catch_warnings():
            # langsmith >= 0.15 calls `outputs` a deprecated alias of `reference_outputs`;
            # it is still the name on the wire, which is what the dump below checks.
            warnings.simplefilter("ignore", DeprecationWarning)
            model = ExampleCreate(**ex)
        wire = model.model_dump(by_alias=True, mode="json")
        assert (wire["inputs"], wire["outputs"], wire["metadata"]) == (ex["inputs"], ex["outputs"], ex["metadata"])


def test_opik_items(pack, tmp_path):
    (path,) = export_pack(pack, "opik", tmp_path / "opik")
    items = json.loads(path.read_text(encoding="utf-8"))
    assert len(items) == len(pack.items)
    for item, row in zip(pack.items, items, strict=True):
        assert row["input"] == item.text and row["expected_output"] == item.label
        assert row["aliases"] == list(item.aliases) and row["item_id"] == item.id
        assert row["category"] == item.tags.category and row["lang"] == item.lang
        # Opik's DatasetItem owns these names (id is a UUID Opik assigns).
        assert not {"id", "source", "description", "trace_id", "span_id"} & set(row)
    assert items[len(MINI)]["hazard"] == "yaml: specials"


def test_promptfoo_tests(pack, tmp_path):
    (path,) = export_pack(pack, "promptfoo", tmp_path / "pf")
    tests = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(tests, list) and len(tests) == len(pack.items)
    for item, t in zip(pack.items, tests, strict=True):
        assert set(t) == {"description", "vars", "assert", "metadata"}
        assert t["vars"] == {"question": item.text}
        assert t["assert"] == [{"type": "icontains-any", "value": [item.label, *item.aliases]}]
        assert t["metadata"]["id"] == item.id
        assert all(isinstance(v, str) for v in t["assert"][0]["value"])  # "no", "null", "1.0" stay strings


def test_csv(pack, tmp_path):
    (path,) = export_pack(pack, "csv", tmp_path / "csv")
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["id", "lang", "category", "difficulty", "text", "label",
                                     "aliases", "context", "hazard"]
        rows = list(reader)
    assert len(rows) == len(pack.items)
    for item, row in zip(pack.items, rows, strict=True):
        tags = tags_of(item)
        assert row == {"id": item.id, "lang": item.lang, "category": tags["category"],
                       "difficulty": tags["difficulty"], "text": item.text, "label": item.label,
                       "aliases": ALIAS_SEPARATOR.join(item.aliases), "context": item.context,
                       "hazard": tags.get("hazard", "")}
