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


def flips(pairs, metric: str) -> tuple[list[dict], list[dict], int]:
    """Over (before, after) item pairs: the `after` rows that went right→wrong and wrong→right
    on `metric` (each with `prediction_a`, the answer before), and how many pairs counted. A
    pair where either side errored or was not scored is left out, never a flip."""
    lost, gained, paired = [], [], 0
    for a, b in pairs:
        if a.get(metric) is None or b.get(metric) is None or b.get("error") is not None:
            continue
        paired += 1
        if a[metric] != b[metric]:
            (lost if a[metric] else gained).append(b | {"prediction_a": a["prediction"]})
    return lost, gained, paired


def compare(reports, run_a: str, run_b: str, metric: str = "contains") -> Comparison:
    """Items answered in both runs are paired; an errored item is left out, never a flip."""
    if metric not in METRICS:
        raise InputError(f"--metric: must be one of {', '.join(METRICS)}")
    a, b = _items(reports, run_a), _items(reports, run_b)
    out = Comparison(run_a, run_b, metric)
    out.regressed, out.improved, out.paired = flips(((a[k], b[k]) for k in sorted(a.keys() & b.keys())), metric)
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
