"""The gate's whole policy: its thresholds, which run it compares with, and its verdict.

A pack fails below an absolute floor, or when it lost more than `max_drop` of its paired
items against the baseline *and* the loss is significant (exact McNemar on the paired items,
p < alpha): identical runs never fail, and a flip or two on a 40-item pack is not called a
regression. Errored items are infrastructure, never a regression. The same rule (`judge`)
marks a change worse or better on the dashboard.

A drop above `max_drop` that is not significant is "inconclusive": it passes, and says how
many paired items would settle it. Every drop check carries the smallest drop the gate would
have detected with 80% power on its items (suites/stats.py, `min_detectable_drop`).

The baseline is a file (`tinyqa baseline update`) or, without one, the latest earlier run in
the report store that is comparable and passed: the same model, packs and prompt template,
status `complete` (not a failed gate, not a run with errored items). Items are paired by id
and content hash: an item edited or added since the baseline is listed, not compared. A
baseline made with another prompt template, decoding or scorer version is named as such
(`differences`); `--strict-baseline` refuses it. Flaky items (right in some runs and wrong in
others with identical settings: suites/items.py has the rule) are listed, and with
`--quarantine` left out of the drop test.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tinyqa.errors import InputError
from tinyqa.suites.compare import counted, flips
from tinyqa.suites.result import Baseline, Check
from tinyqa.suites.scoring import PROPORTIONS, SCORER_VERSION
from tinyqa.suites.stats import items_needed, mcnemar_exact, min_detectable_drop, paired_difference, wilson
from tinyqa.text import COMMENT_MAX, cap

BASELINE_FORMAT = "tinyqa-baseline/1"
SUITE = "tinyqa"   # the runs a gate compares: tiny QA's


class Thresholds(BaseModel):
    """`[gate]` in tinyqa.toml (or [tool.tinyqa.gate]), overridden by the command's options."""

    model_config = ConfigDict(extra="forbid")

    metric: str = "contains"
    min_em: float = Field(default=0.0, ge=0, le=1)
    min_contains: float = Field(default=0.0, ge=0, le=1)
    max_drop: float = Field(default=0.05, ge=0, le=1)
    alpha: float = Field(default=0.05, gt=0, le=1)
    max_drifted: int = Field(default=0, ge=0)

    @field_validator("metric")
    @classmethod
    def _proportion(cls, metric: str) -> str:
        if metric not in PROPORTIONS:
            raise ValueError(f"must be one of {', '.join(PROPORTIONS)}")
        return metric

    @classmethod
    def merged(cls, table: dict | None, overrides: dict | None = None, source: str = "[gate]") -> Thresholds:
        """`table` (the [gate] table) with the overrides that are set; InputError naming the
        field when a value is invalid."""
        merged = {**(table or {}), **{k: v for k, v in (overrides or {}).items() if v is not None}}
        try:
            return cls(**merged)
        except ValidationError as e:
            err = e.errors()[0]
            raise InputError(f"{source}: field gate.{'.'.join(map(str, err['loc']))}: "
                             f"{err['msg'].removeprefix('Value error, ')}") from None


def thresholds(overrides: dict | None = None) -> Thresholds:
    """[gate] of tinyqa.toml (or [tool.tinyqa.gate]) with the `overrides` that are set."""
    from tinyqa import config

    cfg, path = config.load()
    return Thresholds.merged(cfg.gate, overrides, source=str(path or "gate options"))


@dataclass(frozen=True)
class Judgement:
    drop: float      # share of paired items lost, net of those gained
    p: float         # exact McNemar p-value
    worse: bool      # lost more than max_drop, significantly
    better: bool     # gained more than max_drop, significantly


def judge(lost: int, gained: int, paired: int, t: Thresholds) -> Judgement:
    """The one rule for "did it get worse": a net loss above `max_drop` of the paired items
    that is also significant (p < alpha); "better" is its mirror."""
    drop = (lost - gained) / paired if paired else 0.0
    p = mcnemar_exact(lost, gained)
    return Judgement(drop, p, drop > t.max_drop and p < t.alpha, -drop > t.max_drop and p < t.alpha)


# --- baselines ------------------------------------------------------------------------------

def baseline_from_rows(run: dict, rows: list[dict]) -> dict:
    """A baseline document from a stored run's row and its items."""
    return {
        "format": BASELINE_FORMAT, "run_id": run["run_id"], "model": run["model"],
        "prompt_template": run["prompt_template"], "prompt_hash": run["prompt_hash"],
        "pack_ids": run.get("pack_ids"), "decoding": run.get("decoding"),
        "scorer_version": run.get("scorer_version"),
        "items": {f"{r['pack_id']}/{r['item_id']}": {
            "lang": r["lang"], "prediction": r["prediction"], **{m: r.get(m) for m in PROPORTIONS},
            **({"sha256": r["item_sha256"]} if r.get("item_sha256") else {})}
            for r in rows if r["error"] is None},
    }


# What makes a baseline comparable beyond its items: (field of the runs row and of the baseline
# file, what to call it). A file made before a field was recorded lacks it: named too.
SETTINGS = (("prompt_hash", "prompt template hash"), ("decoding", "decoding"), ("scorer_version", "scorer version"))


def differences(base: dict, run: dict) -> list[str]:
    """How the baseline was made differently from `run` (a runs row): another prompt template
    hash, decoding or scorer version, or one the baseline did not record; [] when comparable."""
    out = []
    for field, what in SETTINGS:
        was, now = base.get(field), run.get(field)
        if field == "scorer_version" and now is None:
            now = SCORER_VERSION
        if was is None:
            out.append(f"{what}: not recorded in the baseline (now {_short(now)})")
        elif was != now:
            out.append(f"{what}: {_short(was)} in the baseline, {_short(now)} now")
    return out


def _short(value) -> str:
    text = str(value)
    return text[:12] if len(text) == 64 and text.isalnum() else text


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


def file_baseline(path: str, data: dict) -> Baseline:
    """The choice of a baseline file (its document `data`, from load_baseline)."""
    return Baseline("file", f"baseline: the file {path} (run {data.get('run_id')})", file=str(path),
                    run_id=data.get("run_id"))


def choose_baseline(runs: list[dict], model: str, pack_ids: list[str], prompt_hash: str) -> tuple[dict | None, Baseline]:
    """Among stored runs rows, the latest tiny QA run of `model` on the same packs with the
    same prompt template that passed; and the choice as a value: which and why (or why none)."""
    mine = [r for r in runs if r["suite"] == SUITE and r["model"] == model]
    packs = sorted(pack_ids)
    other_packs = [r for r in mine if sorted(r["pack_ids"] or []) != packs]
    other_template = [r for r in mine if r not in other_packs and r["prompt_hash"] != prompt_hash]
    unfit = [r for r in mine if r not in other_packs and r not in other_template and r["status"] != "complete"]
    fit = [r for r in mine if r not in other_packs and r not in other_template and r not in unfit]
    if fit:
        best = max(fit, key=lambda r: (r["started_at"], r["run_id"]))
        return best, Baseline("run", f"baseline: run {best['run_id']} ({best['started_at']:%Y-%m-%d %H:%M} UTC), "
                                     f"the latest passing run of {model} on {','.join(packs)} with the same prompt "
                                     "template", run_id=best["run_id"])
    if not mine:
        return None, Baseline("none", f"no baseline: no earlier run of {model} in the report store; "
                                      "only the floors are checked")
    skipped = [f"{len(rs)} {why}" for rs, why in ((other_packs, "on other packs"),
                                                  (other_template, "with another prompt template"),
                                                  (unfit, "failed or with errored items")) if rs]
    return None, Baseline("none", f"no baseline: {len(mine)} earlier run(s) of {model}, none comparable "
                                  f"({', '.join(skipped)}); only the floors are checked")


# --- the verdict ----------------------------------------------------------------------------

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


def floors(rows: list[dict], t: Thresholds) -> list[Check]:
    """Per pack: EM and contains over its answered items against their floors."""
    checks = []
    for pack_id, prs in sorted(_by_pack(rows).items()):
        answered = [r for r in prs if r["error"] is None]
        for metric, floor in (("em", t.min_em), ("contains", t.min_contains)):
            right = sum(bool(r[metric]) for r in answered)
            rate = right / len(answered) if answered else 0.0
            low, high = wilson(right, len(answered))
            checks.append(Check.floor(pack_id, metric, rate >= floor,
                                      f"{metric} {rate:.0%} (floor {floor:.0%}, {len(answered)} answered)",
                                      measures={"metric": metric, "value": rate, "low": low, "high": high,
                                                "floor": floor, "n": len(answered)}))
    return checks


def _by_pack(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        out[r["pack_id"]].append(r)
    return out


def verdict(rows: list[dict], baseline: dict | None, t: Thresholds,
            flaky: set[tuple[str, str]] | frozenset = frozenset(), quarantine: bool = False) -> list[Check]:
    """The floors, and against a baseline the significant-drop check of every pack (and of
    every language within a pack of several). `flaky` items ((pack id, item id)) are listed
    in their drop checks and, with `quarantine`, left out of the test."""
    checks = floors(rows, t)
    if baseline is None:
        return checks
    for pack_id, prs in sorted(_by_pack(rows).items()):
        answered = [r for r in prs if r["error"] is None]
        slices = {"all": answered}
        if len({r["lang"] for r in answered}) > 1:
            for r in answered:
                slices.setdefault(f"lang={r['lang']}", []).append(r)
        for name, srs in slices.items():
            checks.append(_drop_check(pack_id, name, srs, baseline["items"], t,
                                      {i for p, i in flaky if p == pack_id}, quarantine))
    return checks


def _quoted(rows: list[dict]) -> list[dict]:
    """Flipped rows as a check's details quote them (terminal, JUnit, Markdown): question and
    answers cut to COMMENT_MAX characters (the details show their repr: controls escaped)."""
    keys = ("question", "prediction", "prediction_a")
    return [r | {k: cap(r[k], COMMENT_MAX) for k in keys if isinstance(r.get(k), str)} for r in rows]


def pair(pack_id: str, rows: list[dict], base: dict) -> tuple[list[tuple[dict, dict]], list[dict]]:
    """The (baseline, now) pairs of `rows` by item id and content hash, and the items not
    compared: {"id", "reason"}, `added` (not in the baseline: a new item, or one whose question
    or label changed, which changes its id) or `changed` (its content hash differs: aliases,
    context or tags edited). A baseline that did not record hashes pairs by id alone."""
    pairs, not_compared = [], []
    for r in rows:
        b = base.get(f"{pack_id}/{r['item_id']}")
        if b is None:
            not_compared.append({"id": r["item_id"], "reason": "added"})
        elif b.get("sha256") and r.get("item_sha256") and b["sha256"] != r["item_sha256"]:
            not_compared.append({"id": r["item_id"], "reason": "changed"})
        else:
            pairs.append((b, r))
    return pairs, not_compared


def _drop_check(pack_id: str, slice_: str, rows: list[dict], base: dict, t: Thresholds,
                flaky: set[str] = frozenset(), quarantine: bool = False) -> Check:
    pairs, not_compared = pair(pack_id, rows, base)
    flaky_here = sorted(r["item_id"] for _, r in pairs if r["item_id"] in flaky)
    if quarantine:
        pairs = [(b, r) for b, r in pairs if r["item_id"] not in flaky]
    lost, gained, paired = flips(pairs, t.metric)
    lost, gained = _quoted(lost), _quoted(gained)
    j = judge(len(lost), len(gained), paired, t)
    scored = [(b, r) for b, r in pairs if counted(b, r, t.metric)]
    now = sum(bool(r[t.metric]) for _, r in scored)
    both = sum(bool(b[t.metric]) and bool(r[t.metric]) for b, r in scored)
    change, low, high = paired_difference(both, len(gained), len(lost), paired - both - len(gained) - len(lost))
    base_rate = (now + len(lost) - len(gained)) / paired if paired else None
    rates = f", {base_rate:.0%} in the baseline → {now / paired:.0%}" if paired else ""
    detectable = min_detectable_drop(paired, base_rate, alpha=t.alpha, max_drop=t.max_drop) if paired else None
    status = "fail" if j.worse else "inconclusive" if j.drop > t.max_drop else "pass"
    msg = (f"{t.metric} {'dropped' if j.drop > 0 else 'changed'} {j.drop:+.0%} on {paired} paired items{rates} "
           f"({len(lost)} right→wrong, {len(gained)} wrong→right, McNemar p={j.p:.3g}; "
           f"fails above {t.max_drop:.0%} with p<{t.alpha}); {power_sentence(paired, detectable)}")
    settled = settle(j.drop, base_rate, paired, t) if status == "inconclusive" else None
    if settled:
        msg += "; " + settled
    if not_compared:
        msg += f"; not compared: {_listing(not_compared)}"
    if flaky_here:
        msg += f"; flaky{' (quarantined)' if quarantine else ''}: {', '.join(flaky_here)}"
    details = [f"right→wrong {r['item_id']} {r['question']!r}: was {r['prediction_a']!r}, now {r['prediction']!r}"
               for r in lost] + [f"wrong→right {r['item_id']} {r['question']!r}: now {r['prediction']!r}" for r in gained]
    return Check.drop(pack_id, slice_, t.metric, not j.worse, msg, details,
                      {"metric": t.metric, "change": change, "low": low, "high": high, "p": j.p, "paired": paired,
                       "lost": len(lost), "gained": len(gained), "max_drop": t.max_drop, "alpha": t.alpha,
                       "rate": now / paired if paired else None, "baseline_rate": base_rate,
                       "min_detectable_drop": detectable, "verdict": status, "settle": settled,
                       "not_compared": not_compared, "flaky": flaky_here,
                       "quarantined": flaky_here if quarantine else []})


def power_sentence(n: int, detectable: float | None) -> str:
    """"n = 52: detects drops of 15 points or more" (with 80% power)."""
    if detectable is None:
        return f"n = {n}: too few items to detect any drop with 80% power"
    return f"n = {n}: detects drops of {round(detectable * 100)} points or more"


def settle(drop: float, base_rate: float, paired: int, t: Thresholds) -> str:
    """What would settle an inconclusive drop: the paired items at which a drop this large is
    detected with 80% power, and repeats for flaky items."""
    need = items_needed(drop, base_rate, alpha=t.alpha, max_drop=t.max_drop)
    more = (f"a pack of {need} paired items would detect a drop this large with 80% power"
            if need else "no pack size would detect a drop this small")
    return f"inconclusive: above {t.max_drop:.0%} but not significant; {more}, or --repeats 3 to steady flaky items"


def _listing(not_compared: list[dict]) -> str:
    shown = [f"{n['id']} ({n['reason']})" for n in not_compared[:10]]
    return ", ".join(shown) + (f" and {len(not_compared) - 10} more" if len(not_compared) > 10 else "")
