"""Compare two runs item by item: flips, per-slice deltas and an exact McNemar test.
Pure functions over report rows (reports/history.py reads them from a store)."""
from __future__ import annotations

from dataclasses import dataclass, field

from tinyqa.errors import InputError
from tinyqa.suites.scoring import PROPORTIONS
from tinyqa.suites.stats import mcnemar_exact


@dataclass
class Flips:
    run_a: str
    run_b: str
    metric: str
    regressed: list[dict] = field(default_factory=list)   # right in A, wrong in B
    improved: list[dict] = field(default_factory=list)    # wrong in A, right in B
    paired: int = 0
    p_value: float = 1.0
    deltas: list[dict] = field(default_factory=list)      # per pack and slice: a, b, b - a


def counted(a: dict, b: dict, metric: str) -> bool:
    """Whether the pair (before `a`, after `b`) counts: both scored on `metric`, `b` not errored."""
    return a.get(metric) is not None and b.get(metric) is not None and b.get("error") is None


def flips(pairs, metric: str) -> tuple[list[dict], list[dict], int]:
    """Over (before, after) item pairs: the `after` rows that went right→wrong and wrong→right
    on `metric` (each with `prediction_a`, the answer before), and how many pairs counted. A
    pair where either side errored or was not scored is left out, never a flip."""
    lost, gained, paired = [], [], 0
    for a, b in pairs:
        if not counted(a, b, metric):
            continue
        paired += 1
        if a[metric] != b[metric]:
            (lost if a[metric] else gained).append(b | {"prediction_a": a["prediction"]})
    return lost, gained, paired


def check_metric(metric: str) -> str:
    if metric not in PROPORTIONS:
        raise InputError(f"--metric: {metric!r} is not one of {', '.join(PROPORTIONS)}")
    return metric


def compare(run_a: str, run_b: str, items_a: list[dict], items_b: list[dict], metrics_a: list[dict],
            metrics_b: list[dict], metric: str = "contains") -> Flips:
    """Items answered in both runs are paired (by pack and item id); an errored item is left
    out, never a flip. Deltas per pack and slice come from the two runs' metrics rows."""
    check_metric(metric)
    a = {(r["pack_id"], r["item_id"]): r for r in items_a}
    b = {(r["pack_id"], r["item_id"]): r for r in items_b}
    out = Flips(run_a, run_b, metric)
    out.regressed, out.improved, out.paired = flips(((a[k], b[k]) for k in sorted(a.keys() & b.keys())), metric)
    out.p_value = mcnemar_exact(len(out.regressed), len(out.improved))
    ma, mb = (_values(ms, metric) for ms in (metrics_a, metrics_b))
    for key in sorted(ma.keys() & mb.keys()):
        out.deltas.append({"pack_id": key[0], "slice": key[1], "a": ma[key], "b": mb[key],
                           "delta": mb[key] - ma[key]})
    return out


def _values(rows: list[dict], metric: str) -> dict[tuple[str, str], float]:
    return {(r["pack_id"], r["slice"]): r["value"] for r in rows if r["metric"] == metric and r["value"] is not None}
