"""Language identification for pack items, three identifiers side by side in one run.

Each candidate reads an item's question and context sentence together and gives a probability
per language, restricted to the languages tinyqa knows (`validators.langid.CANDIDATES`). The
check that `tinyqa validate` and `tinyqa generate` apply flags an item when another language
beats the declared one by at least the margin. Measured here, per candidate:

- accuracy: the top language is the declared one, on every shipped item (616), for the question
  alone and for question + context;
- false alarms: shipped items the check would flag (must be 0);
- caught: deliberately wrong-language items the check flags, in groups: every English and
  Spanish item of the shipped packs and 20 Italian items written for this benchmark
  (benchmarks/data/langid_italian.jsonl), all declared French; and close pairs (Spanish declared
  Portuguese and back, German declared English, Russian declared Ukrainian, Arabic declared
  Persian, Chinese declared Japanese);
- separation: the gap (best other language's probability minus the declared one's) of the
  worst shipped item and of the weakest wrong-language item, and false alarms / caught items
  at other margins;
- time: loading the model, and checking all the items once (per item); memory added.

    .venv/bin/python benchmarks/langid_bench.py [--margin 0.5]
"""
from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from tinyqa.pack import load_pack, shipped_dir, shipped_ids
from tinyqa.validators import langid

HERE = Path(__file__).resolve().parent
SWEEP = (0.1, 0.3, 0.5, 0.7, 0.9)


def shipped() -> list[tuple[str, str, str]]:
    """(declared lang, question, context) of every shipped item."""
    return [(i.lang, i.text, i.context) for pid in shipped_ids()
            for i in load_pack(shipped_dir() / pid).items]


def wrong_language() -> dict[str, list[tuple[str, str, str]]]:
    """Groups of items whose declared language is not the one they are written in."""
    def core(lang):
        return [(i.text, i.context) for i in load_pack(shipped_dir() / f"core_{lang}").items]

    english = [(i.text, i.context) for pid in shipped_ids() if pid == "core_en" or pid.startswith("domain_")
               for i in load_pack(shipped_dir() / pid).items]
    italian = [(d["text"], d["context"]) for d in map(json.loads, (HERE / "data" / "langid_italian.jsonl")
                                                       .read_text(encoding="utf-8").splitlines()) if d]
    groups = {
        "en as fr": ("fr", english), "es as fr": ("fr", core("es")), "it as fr": ("fr", italian),
        "es as pt": ("pt", core("es")), "pt as es": ("es", core("pt")), "de as en": ("en", core("de")),
        "ru as uk": ("uk", core("ru")), "ar as fa": ("fa", core("ar")), "zh as ja": ("ja", core("zh")),
    }
    return {name: [(lang, q, c) for q, c in items] for name, (lang, items) in groups.items()}


def rss_mb() -> float:
    """This process's resident memory now (a model loaded earlier stays counted, so each
    candidate's figure is what loading it added)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def gap(probs: dict[str, float], lang: str) -> float:
    """How far the best other language is ahead of the declared one (negative: behind)."""
    declared = langid.base(lang)
    return max(p for c, p in probs.items() if c != declared) - probs[declared]


def measure(name: str, margin: float, items, wrong) -> dict:
    t0 = time.perf_counter()
    ident = langid.identifier(name)
    ident.probabilities("warm up", "en")
    load = time.perf_counter() - t0
    top_q = top_qc = 0
    alarms, gaps = [], []
    t0 = time.perf_counter()
    for lang, q, c in items:
        probs = ident.probabilities(f"{q} {c}", lang)
        top_qc += max(probs, key=probs.get) == langid.base(lang)
        gaps.append(gap(probs, lang))
        if langid.verdict(probs, lang, margin):
            alarms.append((lang, q))
    per_item = (time.perf_counter() - t0) / len(items)
    for lang, q, c in items:
        probs = ident.probabilities(q, lang)
        top_q += max(probs, key=probs.get) == langid.base(lang)
    wrong_gaps = {g: [gap(ident.probabilities(f"{q} {c}", lang), lang) for lang, q, c in its]
                  for g, its in wrong.items()}
    caught = {g: sum(x >= margin for x in v) for g, v in wrong_gaps.items()}
    every_wrong = [x for v in wrong_gaps.values() for x in v]
    sweep = {m: (sum(x >= m for x in gaps), sum(x >= m for x in every_wrong)) for m in SWEEP}
    return {"name": name, "load_s": load, "per_item_ms": per_item * 1000, "acc_q": top_q / len(items),
            "acc_qc": top_qc / len(items), "alarms": alarms, "caught": caught, "sweep": sweep,
            "worst_shipped": max(gaps), "weakest_wrong": min(every_wrong)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--margin", type=float, default=langid.MARGIN)
    ap.add_argument("--only", default=",".join(langid.IDENTIFIERS))
    args = ap.parse_args()
    items, wrong = shipped(), wrong_language()
    print(f"{len(items)} shipped items; wrong-language groups: "
          + ", ".join(f"{g} {len(v)}" for g, v in wrong.items()) + f"; margin {args.margin}")
    results = []
    for name in args.only.split(","):
        rss0 = rss_mb()
        try:
            r = measure(name, args.margin, items, wrong)
        except ImportError as e:
            print(f"{name}: not installed ({e.name}); pip install -e '.[langid-bench]' to compare it")
            continue
        r["rss_mb"] = rss_mb() - rss0
        results.append(r)
    head = ["", *(r["name"] for r in results)]
    rows = [
        ["top-1 accuracy, question alone", *(f"{r['acc_q']:.1%}" for r in results)],
        ["top-1 accuracy, question + context", *(f"{r['acc_qc']:.1%}" for r in results)],
        ["false alarms on shipped items", *(f"{len(r['alarms'])}" for r in results)],
        *[[f"caught: {g} ({len(wrong[g])})", *(f"{r['caught'][g]}" for r in results)] for g in wrong],
        ["separation: worst shipped item's gap", *(f"{r['worst_shipped']:+.2f}" for r in results)],
        ["separation: weakest wrong item's gap", *(f"{r['weakest_wrong']:+.2f}" for r in results)],
        *[[f"margin {m}: false alarms / caught of {sum(map(len, wrong.values()))}",
           *(f"{r['sweep'][m][0]} / {r['sweep'][m][1]}" for r in results)] for m in SWEEP],
        ["load (build + first call)", *(f"{r['load_s']:.2f} s" for r in results)],
        ["check per item", *(f"{r['per_item_ms']:.2f} ms" for r in results)],
        ["memory added", *(f"{r['rss_mb']:.0f} MB" for r in results)],
    ]
    width = [max(len(str(row[i])) for row in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, width)))
    for r in results:
        for lang, q in r["alarms"][:10]:
            print(f"{r['name']}: false alarm: [{lang}] {q}")


if __name__ == "__main__":
    main()
