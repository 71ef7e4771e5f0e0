"""Write answers.jsonl, the graded set: the models' real answers (collect.py's output and the
shipped baseline's SmolLM2 answers on core_en) and the written cases (written.py).

    .venv/bin/python tests/data/graded/build.py /tmp/smollm2.jsonl [/tmp/gemma.jsonl ...]

A real answer's verdicts start as the scorers' and were then read, one by one, by a grader
(the verdicts in answers.jsonl are the grader's: rows marked "reviewed"); build.py keeps the
verdicts already in answers.jsonl for answers it has seen before.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main(paths: list[str]) -> None:
    from written import CASES

    from tinyqa.pack import load_pack, shipped_dir, shipped_ids
    from tinyqa.suites.scoring import score

    items = {i.id: (pid, i) for pid in shipped_ids() for i in load_pack(shipped_dir() / pid).items}
    out_path = HERE / "answers.jsonl"
    old = {}
    if out_path.exists():
        for line in out_path.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            old[(r["source"], r.get("item_id"), r["prediction"])] = r
    real = []
    baseline = json.loads((HERE.parents[2] / "packs" / "baselines" / "qa-local-core_en.json").read_text())
    for key, row in baseline["items"].items():
        real.append({"source": "smollm2-llama.cpp", "item_id": key.split("/")[1], "prediction": row["prediction"]})
    for p in paths:
        real += [json.loads(x) for x in Path(p).read_text(encoding="utf-8").splitlines() if x.strip()]
    rows, seen = [], set()
    for r in real:
        pid, item = items[r["item_id"]]
        k = (r["source"], r["item_id"], r["prediction"])
        if k in seen:
            continue
        seen.add(k)
        case = getattr(item.tags, "match", None) == "case"
        if k in old:
            rows.append(old[k])
            continue
        s = score(r["prediction"], item.answers, item.lang, case)
        rows.append({"source": r["source"], "item_id": item.id, "pack": pid, "lang": item.lang,
                     "answers": item.answers, "case": case, "prediction": r["prediction"],
                     "verdict": {c: s[c] for c in ("em", "contains", "em_extracted")}, "reviewed": False})
    for lang, answers, pred, em, contains, extracted, rule in CASES:
        rows.append({"source": "written", "item_id": None, "pack": None, "lang": lang, "answers": answers,
                     "case": False, "prediction": pred, "rule": rule,
                     "verdict": {"em": em, "contains": contains, "em_extracted": extracted}, "reviewed": True})
    out_path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} answers ({sum(r['source'] != 'written' for r in rows)} real) -> {out_path}")


if __name__ == "__main__":
    main(sys.argv[1:])
