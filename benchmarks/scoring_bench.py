"""Scoring speed: every scorer on 616 answers (one per shipped item), cold caches, against the
target of 0.5 s; and a plain-Python floor (each answer lower-cased and searched for its gold).

    .venv/bin/python benchmarks/scoring_bench.py

The answers are the graded set's real model answers (tests/data/graded/answers.jsonl), one per
item where it has one, else the item's question (a long, wrong answer).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from tinyqa.pack import load_pack, shipped_dir, shipped_ids
from tinyqa.suites import scoring

GRADED = Path(__file__).resolve().parents[1] / "tests" / "data" / "graded" / "answers.jsonl"


def clear() -> None:
    for f in (scoring._analysed, scoring._forms, scoring._fold, scoring.marks_agree, scoring.numbers.canonical):
        f.cache_clear()


def main() -> None:
    items = [i for pid in shipped_ids() for i in load_pack(shipped_dir() / pid).items]
    real = {}
    if GRADED.exists():
        for line in GRADED.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            if r.get("item_id") and r["source"] != "written":
                real.setdefault(r["item_id"], r["prediction"])
    preds = [(real.get(i.id, i.text), i) for i in items]
    runs = []
    for _ in range(5):
        clear()
        t = time.perf_counter()
        for pred, i in preds:
            scoring.score(pred, i.answers, i.lang, getattr(i.tags, "match", None) == "case")
        runs.append(time.perf_counter() - t)
    t = time.perf_counter()
    for pred, i in preds:
        p = pred.lower()
        any(a.lower() in p for a in i.answers)
    floor = time.perf_counter() - t
    best, worst = min(runs), max(runs)
    print(f"{len(preds)} answers ({sum(1 for _, i in preds if i.id in real)} real), every scorer, cold caches: "
          f"best {best:.3f} s, worst {worst:.3f} s (target < 0.5 s: {'met' if worst < 0.5 else 'NOT met'}); "
          f"{1e3 * best / len(preds):.2f} ms an answer; a bare substring test {floor * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
