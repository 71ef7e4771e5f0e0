"""Compare two runs item by item: flips, per-slice deltas and an exact McNemar test."""
from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow.compute as pc

from tinyqa.errors import InputError
from tinyqa.reports import store
from tinyqa.suites.stats import mcnemar_exact

METRICS = ("contains", "em", "em_extracted")


@dataclass
class Comparison:
    run_a: str
    run_b: str
    metric: str
    regressed: list[dict] = field(default_factory=list)   # right in A, wrong in B
    improved: list[dict] = field(default_factory=list)    # wrong in A, right in B
    paired: int = 0
    p_value: float = 1.0
    deltas: list[dict] = field(default_factory=list)      # per pack and slice: a, b, b - a


def _items(reports, run_id: str) -> dict[tuple[str, str], dict]:
    rows = store.read(reports, "items", pc.field("run_id") == run_id).to_pylist()
    if not rows:
        raise InputError(f"run {run_id!r}: no items in {reports}")
    return {(r["pack_id"], r["item_id"]): r for r in rows}


def compare(reports, run_a: str, run_b: str, metric: str = "contains") -> Comparison:
    """Items answered in both runs are paired; an errored item is left out, never a flip."""
    if metric not in METRICS:
        raise InputError(f"--metric: must be one of {', '.join(METRICS)}")
    a, b = _items(reports, run_a), _items(reports, run_b)
    out = Comparison(run_a, run_b, metric)
    for key in sorted(a.keys() & b.keys()):
        ra, rb = a[key], b[key]
        if ra["error"] is not None or rb["error"] is not None:
            continue
        out.paired += 1
        if ra[metric] and not rb[metric]:
            out.regressed.append(rb | {"prediction_a": ra["prediction"]})
        elif rb[metric] and not ra[metric]:
            out.improved.append(rb | {"prediction_a": ra["prediction"]})
    out.p_value = mcnemar_exact(len(out.regressed), len(out.improved))
    ma = _metric_values(reports, run_a, metric)
    mb = _metric_values(reports, run_b, metric)
    for key in sorted(ma.keys() & mb.keys()):
        out.deltas.append({"pack_id": key[0], "slice": key[1], "a": ma[key], "b": mb[key],
                           "delta": mb[key] - ma[key]})
    return out


def _metric_values(reports, run_id: str, metric: str) -> dict[tuple[str, str], float]:
    rows = store.read(reports, "metrics", (pc.field("run_id") == run_id) & (pc.field("metric") == metric))
    return {(r["pack_id"], r["slice"]): r["value"] for r in rows.to_pylist() if r["value"] is not None}
