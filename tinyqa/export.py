"""Plug-and-play exports of a pack: files that other evaluation tools read as they are.

`export_pack(pack, fmt, out_dir)` writes one format's files into `out_dir` (each written to
a temporary name, then renamed into place) and returns their paths. The formats (`FORMATS`):

- `openai-evals`: a registry folder for OpenAI Evals' `Includes` template:
  `evals/<pack_id>.yaml` and `data/<pack_id>/samples.jsonl` (chat `input`, `ideal` = label
  and aliases). Run it with `oaieval MODEL tinyqa-<pack_id> --registry_path OUT_DIR`.
- `lm-eval`: `tinyqa_<pack_id>.yaml` (task `tinyqa_<pack_id>`, `-` made `_`) and its data
  `tinyqa_<pack_id>.jsonl`, for lm-evaluation-harness 0.4: `lm_eval --include_path OUT_DIR
  --tasks tinyqa_<pack_id> ...`. The task points at its data by absolute path: lm-eval
  hands `data_files` to `datasets.load_dataset`, which resolves a relative path against the
  working directory, not the YAML's folder; re-export after moving the folder.
- `hf`: a Hugging Face dataset folder, `data/test-00000-of-00001.parquet` and a `README.md`
  card whose YAML front matter declares the `test` split; `datasets.load_dataset(OUT_DIR)`
  reads it offline, and it uploads to the Hub as it is.
- `langsmith`: `<pack_id>.langsmith.json`, a list of LangSmith examples
  (`inputs`/`outputs`/`metadata`) for `Client.create_examples(dataset_id=..., examples=...)`.
- `opik`: `<pack_id>.opik.json`, a list of Opik dataset items (`input`, `expected_output`
  and flat metadata fields) for `dataset.insert(items)`.
- `promptfoo`: `<pack_id>.promptfoo.yaml`, a list of promptfoo test cases (`vars.question`,
  an `icontains-any` assertion on the label and aliases) for `tests: file://...`.
- `csv`: `<pack_id>.csv`, one row an item: id, lang, category, difficulty, text, label,
  aliases (joined with " | "), context, then any further tags.

YAML is written with PyYAML and JSON with real UTF-8 characters, so quotes, colons, `#`,
newlines and any script survive a round trip.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

from tinyqa.errors import InputError
from tinyqa.pack import Item, Pack
from tinyqa.files import write_atomic

# The instruction every format puts before the question (a system message where the
# format has one). Short answers keep exact match and "includes" meaningful.
INSTRUCTION = "Answer the question with only the answer: a word, a number or a short phrase."
ALIAS_SEPARATOR = " | "
_BASE_COLUMNS = ("id", "lang", "category", "difficulty", "text", "label", "aliases", "context")
# Names an extra tag must not shadow in any format (Opik reserves the last five).
_TAKEN = (*_BASE_COLUMNS, "answers", "sha256", "pack_id", "item_id", "input", "expected_output",
          "question", "answer", "source", "description", "trace_id", "span_id", "evaluators",
          "execution_policy")


# --- writing ---------------------------------------------------------------------------

def _write(path: Path, data: str | bytes) -> Path:
    """Write `data` to a temporary name beside `path`, then rename it into place."""
    return write_atomic(path, data)   # bytes as given: "\r\n" inside CSV fields survives


def _json(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2) + "\n"


def _jsonl(rows: list[dict]) -> str:
    # U+2028/U+2029 are legal raw in JSON but are line breaks to str.splitlines() and to
    # JavaScript readers: escape them so that one line is always one record.
    lines = (json.dumps(r, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
             for r in rows)
    return "".join(line + "\n" for line in lines)


def _yaml(obj: object, comment: str = "") -> str:
    import yaml

    class Dumper(yaml.SafeDumper):
        """Multi-line strings double-quoted ("a\\nb"): one line each, easy to read."""

    def str_style(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = '"' if any(c in value for c in "\n\r\x85\u2028\u2029") else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, str_style)
    header = "".join(f"# {line}".rstrip() + "\n" for line in comment.splitlines())
    body = yaml.dump(obj, Dumper=Dumper, allow_unicode=True, sort_keys=False,
                     default_flow_style=False, width=2**31 - 1)
    return header + body


# --- item fields -----------------------------------------------------------------------

def _extra_tags(item: Item) -> dict[str, object]:
    """Tags beyond category and difficulty, renamed `tag_<key>` where a name is _TAKEN."""
    return {(f"tag_{k}" if k in _TAKEN else k): v
            for k, v in item.tags.model_dump().items() if k not in ("category", "difficulty")}


def _flat(item: Item) -> dict[str, object]:
    """One item as a flat record: the content fields with the tags spread out."""
    return {"id": item.id, "lang": item.lang, "category": item.tags.category,
            "difficulty": item.tags.difficulty, "text": item.text, "label": item.label,
            "aliases": list(item.aliases), "context": item.context, **_extra_tags(item)}


def _extra_columns(pack: Pack) -> list[str]:
    """Extra tag columns over the whole pack, in first-seen order."""
    return list(dict.fromkeys(k for i in pack.items for k in _extra_tags(i)))


def _as_text(value: object) -> str | None:
    return value if isinstance(value, str) or value is None else json.dumps(value, ensure_ascii=False)


# --- formats ---------------------------------------------------------------------------

def _openai_evals(pack: Pack, out: Path) -> list[Path]:
    name = f"tinyqa-{pack.id}"
    samples = [{"input": [{"role": "system", "content": INSTRUCTION},
                          {"role": "user", "content": i.text}],
                "ideal": i.answers} for i in pack.items]
    registry = {
        name: {"id": f"{name}.test.v1", "description": f"tinyqa pack {pack.id}: {len(pack.items)} "
               f"short-answer questions ({', '.join(pack.langs)}); passes when the answer "
               "includes the label or an alias.", "metrics": ["accuracy"]},
        f"{name}.test.v1": {"class": "evals.elsuite.basic.includes:Includes",
                            "args": {"samples_jsonl": f"{pack.id}/samples.jsonl", "ignore_case": True}},
    }
    comment = (f"OpenAI Evals registry entry for tinyqa pack {pack.id}.\n"
               f"Run: oaieval MODEL {name} --registry_path <this folder's parent>")
    return [_write(out / "data" / pack.id / "samples.jsonl", _jsonl(samples)),
            _write(out / "evals" / f"{pack.id}.yaml", _yaml(registry, comment))]


def lm_eval_task(pack_id: str) -> str:
    """The lm-eval task name of a pack: `tinyqa_<id>`, `-` made `_`."""
    return f"tinyqa_{pack_id}".replace("-", "_")


def _lm_eval(pack: Pack, out: Path) -> list[Path]:
    task = lm_eval_task(pack.id)
    data = out / f"{task}.jsonl"
    rows = [{**_flat(i), "answers": i.answers} for i in pack.items]
    config = {
        "task": task,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data.resolve())}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": INSTRUCTION + "\n\nQuestion: {{text}}\nAnswer:",
        # A list target: lm-eval scores a generate_until doc as right when any entry matches.
        "doc_to_target": "answers",
        # Few-shot examples (if asked for) show the label alone, not the list.
        "fewshot_config": {"doc_to_target": "label"},
        "generation_kwargs": {"until": ["\n"], "do_sample": False, "temperature": 0.0},
        # exact_match does not strip whitespace: strip, then score the first response.
        "filter_list": [{"name": "strip", "filter": [{"function": "remove_whitespace"},
                                                     {"function": "take_first"}]}],
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True,
                         "ignore_case": True, "ignore_punctuation": True}],
        "metadata": {"version": 1.0, "pack_id": pack.id, "langs": pack.langs},
    }
    comment = (f"lm-evaluation-harness task for tinyqa pack {pack.id}.\n"
               f"Run: lm_eval --include_path <this folder> --tasks {task} --model ...\n"
               "doc_to_target is the list [label, *aliases]; an answer matching any of them counts.\n"
               "data_files is an absolute path (datasets resolves relative ones against the\n"
               "working directory): export again after moving this folder.")
    return [_write(data, _jsonl(rows)), _write(out / f"{task}.yaml", _yaml(config, comment))]


def _hf(pack: Pack, out: Path) -> list[Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    extras = _extra_columns(pack)
    fields = [pa.field(c, pa.list_(pa.string()) if c == "aliases" else pa.string()) for c in _BASE_COLUMNS]
    schema = pa.schema([*fields, *(pa.field(c, pa.string()) for c in extras), pa.field("sha256", pa.string())])
    rows = []
    for i in pack.items:
        row = _flat(i)
        rows.append({**{c: row[c] for c in _BASE_COLUMNS}, **{c: _as_text(row.get(c)) for c in extras},
                     "sha256": i.sha256})
    buf = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), buf)
    parquet = _write(out / "data" / "test-00000-of-00001.parquet", buf.getvalue().to_pybytes())

    card = {
        "license": "cc-by-4.0",
        "language": pack.langs,
        "pretty_name": f"tinyqa {pack.id}",
        "task_categories": ["question-answering"],
        "size_categories": ["n<1K" if len(pack.items) < 1000 else "1K<n<10K"],
        "tags": ["tinyqa", "evaluation"],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": "test", "path": "data/test-*.parquet"}]}],
    }
    columns = "\n".join(f"- `{c}`" for c in [*_BASE_COLUMNS, *extras, "sha256"])
    body = (f"# tinyqa pack `{pack.id}`\n\n"
            f"{len(pack.items)} short-answer questions ({', '.join(pack.langs)}), one split: `test`.\n"
            "Each `context` sentence contains the gold `label` verbatim; `aliases` are other "
            "accepted answers.\n\n"
            f"Columns:\n\n{columns}\n\n"
            "```python\nfrom datasets import load_dataset\n\n"
            "ds = load_dataset(\"path/to/this/folder\", split=\"test\")\n```\n\n"
            "License: CC BY 4.0.\n")
    readme = _write(out / "README.md", "---\n" + _yaml(card) + "---\n\n" + body)
    return [parquet, readme]


def _langsmith(pack: Pack, out: Path) -> list[Path]:
    examples = [{"inputs": {"question": i.text},
                 "outputs": {"answer": i.label, "aliases": list(i.aliases)},
                 "metadata": {"id": i.id, "pack_id": pack.id, "lang": i.lang,
                              "category": i.tags.category, "difficulty": i.tags.difficulty,
                              **_extra_tags(i), "context": i.context, "sha256": i.sha256}}
                for i in pack.items]
    return [_write(out / f"{pack.id}.langsmith.json", _json(examples))]


def _opik(pack: Pack, out: Path) -> list[Path]:
    # Opik reserves `id` (a UUID it assigns), `source`, `description`, `trace_id`, `span_id`:
    # the tinyqa id travels as `item_id`.
    items = [{"input": i.text, "expected_output": i.label, "aliases": list(i.aliases),
              "context": i.context, "item_id": i.id, "pack_id": pack.id, "lang": i.lang,
              "category": i.tags.category, "difficulty": i.tags.difficulty,
              **_extra_tags(i)}
             for i in pack.items]
    return [_write(out / f"{pack.id}.opik.json", _json(items))]


def _promptfoo(pack: Pack, out: Path) -> list[Path]:
    tests = [{"description": f"{pack.id}/{i.id}",
              "vars": {"question": i.text},
              "assert": [{"type": "icontains-any", "value": i.answers}],
              "metadata": {"id": i.id, "pack_id": pack.id, "lang": i.lang,
                           "category": i.tags.category, "difficulty": i.tags.difficulty,
                           **_extra_tags(i)}}
             for i in pack.items]
    comment = (f"promptfoo test cases for tinyqa pack {pack.id}.\n"
               f"Use in promptfooconfig.yaml as: tests: file://{pack.id}.promptfoo.yaml\n"
               "with a prompt that contains {{question}}.")
    return [_write(out / f"{pack.id}.promptfoo.yaml", _yaml(tests, comment))]


def _csv(pack: Pack, out: Path) -> list[Path]:
    extras = _extra_columns(pack)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow([*_BASE_COLUMNS, *extras])
    for i in pack.items:
        row = _flat(i)
        row["aliases"] = ALIAS_SEPARATOR.join(i.aliases)
        writer.writerow([row[c] for c in _BASE_COLUMNS] + [_as_text(row.get(c)) or "" for c in extras])
    return [_write(out / f"{pack.id}.csv", buf.getvalue())]


FORMATS: dict[str, Callable[[Pack, Path], list[Path]]] = {
    "openai-evals": _openai_evals,
    "lm-eval": _lm_eval,
    "hf": _hf,
    "langsmith": _langsmith,
    "opik": _opik,
    "promptfoo": _promptfoo,
    "csv": _csv,
}


def export_pack(pack: Pack, fmt: str, out_dir: Path) -> list[Path]:
    """Write `pack` in format `fmt` (a key of FORMATS) into `out_dir`; return the files written."""
    writer = FORMATS.get(fmt)
    if writer is None:
        raise InputError(f"unknown export format {fmt!r} (formats: {', '.join(FORMATS)})")
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        return writer(pack, out_dir)
    except OSError as e:
        raise InputError(f"{e.filename or out_dir}: cannot write the {fmt} export: {e.strerror}") from None
