"""The gate's verdict: a run against a baseline, pack by pack and language by language.

A pack fails when it is below an absolute floor, or when it lost more than `max_drop` of its
paired items against the baseline *and* the loss is significant (exact McNemar on the paired
items, p < alpha): identical runs never fail, and a flip or two on a 40-item pack is not
called a regression. Errored items are infrastructure, never a regression.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tinyqa.errors import InputError
from tinyqa.suites.compare import flips
from tinyqa.suites.stats import mcnemar_exact

BASELINE_FORMAT = "tinyqa-baseline/1"


class Thresholds(BaseModel):
    """`[gate]` in tinyqa.toml (or [tool.tinyqa.gate]); command-line options override."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(default="contains", pattern="^(contains|em|em_extracted)$")
    min_em: float = Field(default=0.0, ge=0, le=1)
    min_contains: float = Field(default=0.0, ge=0, le=1)
    max_drop: float = Field(default=0.05, ge=0, le=1)
    alpha: float = Field(default=0.05, gt=0, le=1)
    max_drifted: int = Field(default=0, ge=0)


@dataclass
class Check:
    """One line of the verdict (and one JUnit test case)."""

    pack_id: str
    name: str
    passed: bool
    message: str
    details: list[str] = field(default_factory=list)


def baseline_from_rows(run: dict, rows: list[dict], drift: dict | None = None) -> dict:
    """A baseline document from a stored run's row and its items."""
    return {
        "format": BASELINE_FORMAT, "run_id": run["run_id"], "model": run["model"],
        "prompt_template": run["prompt_template"], "prompt_hash": run["prompt_hash"],
        "items": {f"{r['pack_id']}/{r['item_id']}": {
            "lang": r["lang"], "em": r["em"], "contains": r["contains"],
            "em_extracted": r.get("em_extracted"), "prediction": r["prediction"]}
            for r in rows if r["error"] is None},
        "drift": drift,
    }


def load_baseline(path: Path) -> dict:
    """Read a baseline file; one clear line for anything unusable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"--baseline: cannot read {path}: {e.strerror}") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise InputError(f"--baseline: {path} is not valid JSON: {e}") from None
    if not isinstance(data, dict) or data.get("format") != BASELINE_FORMAT:
        raise InputError(f"--baseline: {path}: field format: expected {BASELINE_FORMAT!r} "
                         "(make one with `tinyqa baseline update RUN_ID --out FILE`)")
    items = data.get("items")
    if not isinstance(items, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("lang"), str) for v in items.values()):
        raise InputError(f"--baseline: {path}: field items: expected an object of item outcomes")
    return data


def majority(runs: list[list[dict]], metric: str) -> list[dict]:
    """Per item, the majority outcome over repeated runs (ties count as wrong); an item is
    errored only if it errored in every run."""
    by_key: dict[tuple, list[dict]] = defaultdict(list)
    for rows in runs:
        for r in rows:
            by_key[(r["pack_id"], r["item_id"])].append(r)
    out = []
    for rs in by_key.values():
        answered = [r for r in rs if r["error"] is None]
        if not answered:
            out.append(rs[0])
            continue
        right = sum(bool(r[metric]) for r in answered)
        out.append({**answered[0], metric: right * 2 > len(answered)})
    return out


def verdict(rows: list[dict], baseline: dict | None, t: Thresholds) -> list[Check]:
    """The floors and significant-drop checks for every pack (and language within it)."""
    checks: list[Check] = []
    by_pack: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_pack[r["pack_id"]].append(r)
    for pack_id, prs in sorted(by_pack.items()):
        answered = [r for r in prs if r["error"] is None]
        for metric, floor in (("em", t.min_em), ("contains", t.min_contains)):
            rate = sum(bool(r[metric]) for r in answered) / len(answered) if answered else 0.0
            checks.append(Check(pack_id, f"floor {metric}", rate >= floor,
                                f"{metric} {rate:.0%} (floor {floor:.0%}, {len(answered)} answered)"))
        if baseline is None:
            continue
        slices = {"all": answered}
        if len({r["lang"] for r in answered}) > 1:
            for r in answered:
                slices.setdefault(f"lang={r['lang']}", []).append(r)
        for name, srs in slices.items():
            checks.append(_drop_check(pack_id, name, srs, baseline["items"], t))
    return checks


def _drop_check(pack_id: str, slice_: str, rows: list[dict], base: dict, t: Thresholds) -> Check:
    pairs = [(b, r) for r in rows if (b := base.get(f"{pack_id}/{r['item_id']}")) is not None]
    lost, gained, paired = flips(pairs, t.metric)
    drop = (len(lost) - len(gained)) / paired if paired else 0.0
    p = mcnemar_exact(len(lost), len(gained))
    failed = drop > t.max_drop and p < t.alpha
    msg = (f"{t.metric} {'dropped' if drop > 0 else 'changed'} {drop:+.0%} on {paired} paired items "
           f"({len(lost)} right→wrong, {len(gained)} wrong→right, McNemar p={p:.3g}; "
           f"fails above {t.max_drop:.0%} with p<{t.alpha})")
    details = [f"right→wrong {r['item_id']} {r['question']!r}: was {r['prediction_a']!r}, now {r['prediction']!r}"
               for r in lost] + [f"wrong→right {r['item_id']} {r['question']!r}: now {r['prediction']!r}" for r in gained]
    return Check(pack_id, f"drop {slice_}", not failed, msg, details)
