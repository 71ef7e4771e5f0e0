"""A gate's verdict as JSON (`tinyqa gate --json FILE`, the action's `verdict-json` output): what
a program reads instead of the Markdown. Every field is listed in README.md ("The gate")."""
from __future__ import annotations

import json
from pathlib import Path

from tinyqa.files import write_atomic
from tinyqa.suites.result import DRIFT, DROP, FLOOR, GateResult

FORMAT = "tinyqa-verdict/1"


def _round(x: float | None, places: int = 4) -> float | None:
    return None if x is None else round(x, places)


def document(result: GateResult) -> dict:
    """The verdict as a JSON-able dict: per pack (its `drop all` check, or its floor when there
    is no baseline) the numbers behind it, the baseline and how comparable it was, the cost."""
    packs = []
    by_pack: dict[str, list] = {}
    for c in result.checks:
        if c.kind != DRIFT:
            by_pack.setdefault(c.pack_id, []).append(c)
    for pack_id, checks in by_pack.items():
        drop = next((c for c in checks if c.kind == DROP and c.slice == "all"), None)
        m = drop.measures if drop else {}
        metric = drop.metric if drop else next((c.metric for c in checks if c.metric), None)
        floor = next((c for c in checks if c.kind == FLOOR and c.metric == metric), None)
        failed = not all(c.passed for c in checks)
        packs.append({
            "pack": pack_id, "metric": metric,
            "n": m.get("paired") if drop else (floor.measures.get("n") if floor else None),
            "rate": _round(m.get("rate") if drop else floor.measures.get("value") if floor else None),
            "baseline_rate": _round(m.get("baseline_rate")),
            "change": _round(m.get("change")),
            "change_ci": [_round(m.get("low")), _round(m.get("high"))] if drop else None,
            "p_value": _round(m.get("p"), 6),
            "min_detectable_drop": _round(m.get("min_detectable_drop"), 3),
            "compared": m.get("paired", 0),
            "not_compared": m.get("not_compared", []),
            "quarantined": m.get("quarantined", []),
            "flaky": m.get("flaky", []),
            "verdict": "fail" if failed else "inconclusive" if any(
                c.measures.get("verdict") == "inconclusive" for c in checks) else "pass",
        })
    b = result.baseline
    estimate = result.estimate
    return {
        "format": FORMAT, "verdict": result.verdict, "model": result.model, "packs": packs,
        "baseline": {"source": b.source if b else "none", "file": b.file if b else None,
                     "run_id": b.run_id if b else None, "comparable": bool(b and b.comparable),
                     "differences": list(b.differences) if b else []},
        "drift": [{"check": c.name, "passed": c.passed, "message": c.message}
                  for c in result.checks if c.kind == DRIFT],
        "cost_usd": _round(result.cost_usd, 6),
        "expected_cost_usd": _round(getattr(estimate, "usd", None), 6),
        "runs": [r.run_id for r in result.qa],
    }


def write(path: Path, result: GateResult) -> Path:
    return write_atomic(path, json.dumps(document(result), ensure_ascii=False, indent=1) + "\n")
