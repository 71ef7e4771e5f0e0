"""Each scorer's agreement with the grader on the graded set (answers.jsonl): overall and per
language, with precision (of the answers the scorer credits, the share the grader credits) and
recall (of the answers the grader credits, the share the scorer credits).

    .venv/bin/python tests/data/graded/report.py            # the markdown table of docs/scoring.md
    .venv/bin/python tests/data/graded/report.py --misses   # every disagreement
    .venv/bin/python tests/data/graded/report.py --tqb      # TQB++'s lev >= 0.75 verdict against em's grader verdict
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCORERS = ("em", "contains", "em_extracted")


def rows() -> list[dict]:
    return [json.loads(x) for x in (HERE / "answers.jsonl").read_text(encoding="utf-8").splitlines()]


def judged(tqb: bool = False) -> list[tuple[dict, str, bool, bool]]:
    """(row, scorer, grader's verdict, scorer's verdict) for every row and scorer."""
    from tinyqa.suites.scoring import lev_verdict, score

    out = []
    for r in rows():
        s = score(r["prediction"], r["answers"], r["lang"], r["case"])
        for c in SCORERS:
            out.append((r, c, r["verdict"][c], s[c]))
        if tqb:
            out.append((r, "lev>=0.75", r["verdict"]["em"] or r["verdict"]["em_extracted"],
                        lev_verdict(s["extracted"], r["answers"], r["lang"], r["case"])))
    return out


def table(results) -> dict:
    """{scorer: {lang or "all": (n, agree, tp, fp, fn)}}"""
    t: dict = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0, 0]))
    for r, c, want, got in results:
        for key in (r["lang"], "all"):
            cell = t[c][key]
            cell[0] += 1
            cell[1] += want == got
            cell[2] += want and got
            cell[3] += got and not want
            cell[4] += want and not got
    return t


def pct(a: int, b: int) -> str:
    return "–" if not b else f"{100 * a / b:.1f}%"


def markdown(t: dict) -> str:
    """One row per language: for each scorer, agreement · precision · recall (and the grader's
    right answers among them)."""
    langs = sorted({k for c in t for k in t[c] if k != "all"}) + ["all"]
    head = " | ".join(f"`{c}` agreement · precision · recall" for c in t)
    lines = [f"| lang | answers (right by the grader: {' / '.join(t)}) | {head} |", "|---" * (2 + len(t)) + "|"]
    for lang in langs:
        n = t[next(iter(t))][lang][0]
        right = " / ".join(str(t[c][lang][2] + t[c][lang][4]) for c in t)
        cells = " | ".join(f"{pct(a, n)} · {pct(tp, tp + fp)} · {pct(tp, tp + fn)}"
                           for c in t for n, a, tp, fp, fn in [t[c][lang]])
        lines.append(f"| {'**all**' if lang == 'all' else lang} | {n} ({right}) | {cells} |")
    return "\n".join(lines)


if __name__ == "__main__":
    res = judged(tqb="--tqb" in sys.argv)
    if "--misses" in sys.argv:
        for r, c, want, got in res:
            if want != got:
                print(c, "grader", want, "scorer", got, r["lang"], r["answers"], repr(r["prediction"][:160]))
    else:
        print(markdown(table(res)))
        print(f"\n{len(rows())} answers, {sum(r['source'] != 'written' for r in rows())} of them real")
