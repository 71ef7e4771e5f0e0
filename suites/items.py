"""Item analysis: what the stored runs say about each item rather than about each model.
Pure functions over runs and items rows (reports/items.py reads them from a store).

Per item and series (a model with one prompt template, as the dashboard names them):

- `share`: the share of the series' runs that answered the item right (`metric`, a proportion
  of the scorer registry; runs where the item errored are left out);
- `flip rate`: the share of consecutive pairs of the series' runs (in start order, both
  answered) whose outcome differs. A flaky item makes a gate cry wolf: at temperature 0 with
  a seed most endpoints repeat themselves, so flips come from nondeterministic endpoints,
  `--repeats`, or a model changed under the same name;
- `never`: no run of any series answered it right (suspect gold: a wrong label or a missing
  alias, or a question no model here knows); `always`: every run answered it right (no signal
  between these models);
- `discrimination`: the point-biserial correlation, across series, of the item's outcome with
  the series' score on the rest of the item's pack (the corrected item-total correlation). It
  needs at least MIN_SERIES series: with two, any correlation is ±1.

`measured_difficulty` is the rule the shipped packs' difficulty tags follow (packs/README.md).
"""
from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from tinyqa.suites.compare import check_metric  # noqa: F401  (the one rule: a proportion)

SUITE = "tinyqa"
MIN_SERIES = 3          # series needed for a discrimination index
EASY_SHARE = 2 / 3      # measured_difficulty: the reference runs that must answer an easy item


@dataclass
class Outcomes:
    """One item's outcomes in one series, in run order (True right, False wrong)."""

    series: str
    runs: list[bool] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def right(self) -> int:
        return sum(self.runs)

    @property
    def share(self) -> float | None:
        return self.right / self.n if self.n else None

    @property
    def flips(self) -> int:
        return sum(a != b for a, b in zip(self.runs, self.runs[1:]))

    @property
    def pairs(self) -> int:
        return max(0, self.n - 1)


@dataclass
class ItemStats:
    pack_id: str
    item_id: str
    lang: str | None
    difficulty: str | None
    question: str | None
    gold: str | None
    by_series: dict[str, Outcomes] = field(default_factory=dict)
    discrimination: float | None = None

    @property
    def runs(self) -> int:
        return sum(o.n for o in self.by_series.values())

    @property
    def right(self) -> int:
        return sum(o.right for o in self.by_series.values())

    @property
    def share(self) -> float | None:
        """The mean over series of each series' share right (a series with many runs weighs
        no more than one with a single run)."""
        shares = [o.share for o in self.by_series.values() if o.n]
        return sum(shares) / len(shares) if shares else None

    @property
    def flips(self) -> int:
        return sum(o.flips for o in self.by_series.values())

    @property
    def pairs(self) -> int:
        return sum(o.pairs for o in self.by_series.values())

    @property
    def flip_rate(self) -> float | None:
        """Flips over consecutive pairs of runs, pooled over series; None without a pair."""
        return self.flips / self.pairs if self.pairs else None

    @property
    def flaky(self) -> bool:
        return any(flaky(o.runs) for o in self.by_series.values())

    @property
    def never(self) -> bool:
        return self.runs > 0 and self.right == 0

    @property
    def always(self) -> bool:
        return self.runs > 0 and self.right == self.runs

    def share_of(self, series: str) -> float | None:
        o = self.by_series.get(series)
        return o.share if o else None


@dataclass
class Analysis:
    metric: str
    series: list[str]                                  # labels, in order of first run
    runs: dict[str, int]                               # tiny QA runs read per series
    items: list[ItemStats]                             # by pack and item id

    @property
    def flaky(self) -> list[ItemStats]:
        """Items whose outcome changed between consecutive runs of a series, flakiest first."""
        return sorted((i for i in self.items if i.flaky),
                      key=lambda i: (-(i.flip_rate or 0), -i.flips, i.pack_id, i.item_id))

    @property
    def never(self) -> list[ItemStats]:
        return [i for i in self.items if i.never]

    @property
    def always(self) -> list[ItemStats]:
        return [i for i in self.items if i.always]

    @property
    def negative(self) -> list[ItemStats]:
        """Items the models that score better on the pack miss more, most negative first."""
        return sorted((i for i in self.items if i.discrimination is not None and i.discrimination < 0),
                      key=lambda i: i.discrimination)

    @property
    def repeated(self) -> bool:
        """Whether any series has two runs or more (else no flip rate can be measured)."""
        return any(n > 1 for n in self.runs.values())

    @property
    def discriminating(self) -> bool:
        return len(self.series) >= MIN_SERIES

# --- flaky items: the one rule, for `tinyqa items` and the gate ----------------------------------

def flaky(outcomes: Iterable[bool]) -> bool:
    """The rule for a flaky item: over runs that should agree (one series here; runs with
    identical settings for the gate), right in some and wrong in others."""
    return len(set(outcomes)) > 1


# What runs must share for their outcomes to be expected equal (with the pack's content).
SETTINGS = ("model", "prompt_hash", "decoding")


def pack_hash(item_hashes: Iterable[str | None]) -> str | None:
    """The content hash of a pack as run: over its items' sha256, in any order; None when an
    item's hash was not recorded (a run stored before they were)."""
    hashes = list(item_hashes)
    if not hashes or any(h is None for h in hashes):
        return None
    return hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()


def flaky_items(runs: list[dict], items: list[dict], like: dict, pack_hashes: dict[str, str | None],
                metric: str = "contains") -> set[tuple[str, str]]:
    """(pack id, item id) of the items that are flaky (`flaky`) over the tiny QA `runs` with
    the settings of `like` (a runs row: model, prompt template hash, decoding) on the same
    content of each pack (`pack_hashes`: pack id -> pack_hash of the current pack); errored
    or unscored items are left out, never counted wrong."""
    same = {r["run_id"] for r in runs
            if r.get("suite", SUITE) == SUITE and all(r.get(k) == like.get(k) for k in SETTINGS)}
    by_run_pack: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in items:
        if row["run_id"] in same:
            by_run_pack[(row["run_id"], row["pack_id"])].append(row)
    outcomes: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for (_, pack_id), rows in by_run_pack.items():
        want = pack_hashes.get(pack_id)
        if want is None or pack_hash(r.get("item_sha256") for r in rows) != want:
            continue
        for r in rows:
            if r.get("error") is None and r.get(metric) is not None:
                outcomes[(pack_id, r["item_id"])].append(bool(r[metric]))
    return {key for key, seq in outcomes.items() if flaky(seq)}


def series_labels(runs: list[dict]) -> dict[str, str]:
    """Per run id, its series label: the model, followed by the prompt template only where
    the model was run with more than one template."""
    templates = defaultdict(set)
    for r in runs:
        templates[r["model"]].add(r.get("prompt_template") or "")
    return {r["run_id"]: r["model"] if len(templates[r["model"]]) == 1
            else f"{r['model']} · {r.get('prompt_template') or '-'}" for r in runs}


def _order(run: dict):
    return (run.get("started_at") is None, run.get("started_at") or 0, run["run_id"])


def analyse(runs: list[dict], items: list[dict], metric: str = "contains", *, last: int | None = None) -> Analysis:
    """The item analysis of tiny QA `runs` (runs rows) over their `items` rows. Only runs of
    the tiny QA suite count; with `last`, only the latest `last` runs of each series. Items
    that errored or were not scored are left out, never counted wrong."""
    check_metric(metric)
    qa = sorted((r for r in runs if r.get("suite") == SUITE), key=_order)
    labels = series_labels(qa)
    by_series: dict[str, list[str]] = defaultdict(list)
    for r in qa:
        by_series[labels[r["run_id"]]].append(r["run_id"])
    if last is not None:
        by_series = {s: ids[-last:] for s, ids in by_series.items()}
    position = {rid: (s, k) for s, ids in by_series.items() for k, rid in enumerate(ids)}
    rank = {r["run_id"]: n for n, r in enumerate(qa)}    # the item's text is the latest run's

    outcomes: dict[tuple[str, str], dict[str, list[tuple[int, bool]]]] = defaultdict(lambda: defaultdict(list))
    info: dict[tuple[str, str], dict] = {}
    for row in items:
        where = position.get(row["run_id"])
        if where is None or row.get("suite", SUITE) != SUITE:
            continue
        key = (row["pack_id"], row["item_id"])
        series, k = where
        if key not in info or rank[row["run_id"]] >= info[key]["_at"]:
            info[key] = {"_at": rank[row["run_id"]], **{f: row.get(f) for f in ("lang", "difficulty", "question", "gold")}}
        if row.get("error") is None and row.get(metric) is not None:
            outcomes[key][series].append((k, bool(row[metric])))

    order = list(by_series)
    stats = []
    for key in sorted(info):
        meta = {f: info[key][f] for f in ("lang", "difficulty", "question", "gold")}
        item = ItemStats(*key, **meta)
        for s in order:
            seq = outcomes[key].get(s)
            if seq:
                item.by_series[s] = Outcomes(s, [ok for _, ok in sorted(seq)])
        stats.append(item)
    out = Analysis(metric, order, {s: len(ids) for s, ids in by_series.items()}, stats)
    if out.discriminating:
        _discrimination(out)
    return out


def point_biserial(xs: list[float], ys: list[float]) -> float | None:
    """Pearson's correlation of paired values; with 0/1 in `xs` it is the point-biserial
    correlation. None when either side does not vary (or fewer than two pairs)."""
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / math.sqrt(sxx * syy)


def _discrimination(a: Analysis) -> None:
    """Each item's correlation across series of its share right with the series' mean share
    on the other items of its pack (so the item does not correlate with itself)."""
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
    for i in a.items:
        for s, o in i.by_series.items():
            if o.n:
                acc = sums[(s, i.pack_id)]
                acc[0] += o.share
                acc[1] += 1
    for i in a.items:
        xs, ys = [], []
        for s, o in i.by_series.items():
            total, n = sums[(s, i.pack_id)]
            if o.n and n > 1:
                xs.append(o.share)
                ys.append((total - o.share) / (n - 1))
        i.discrimination = point_biserial(xs, ys) if len(xs) >= MIN_SERIES else None


def measured_difficulty(authored: str | None, shares: list[float]) -> str | None:
    """The difficulty tag the measurement supports (packs/README.md, "Difficulty"): `shares`
    are the reference models' shares of runs answering the item right. An item the reference
    models answer (mean share at least EASY_SHARE: with two runs, both) is easy, whatever it
    was tagged: the references are tiny models, and what they know is common knowledge. An
    item they miss keeps its tag: a tiny model misses easy items too, so that is no evidence
    of difficulty."""
    if shares and sum(shares) / len(shares) >= EASY_SHARE:
        return "easy"
    return authored


@dataclass
class DifficultyChange:
    item: ItemStats
    measured: str


def difficulty_changes(a: Analysis, references: list[str]) -> list[DifficultyChange]:
    """The items whose difficulty tag `measured_difficulty` would change, measured by the
    `references` series (models made for every language of these packs)."""
    out = []
    for i in a.items:
        shares = [i.share_of(r) for r in references if i.share_of(r) is not None]
        measured = measured_difficulty(i.difficulty, shares)
        if measured != i.difficulty:
            out.append(DifficultyChange(i, measured))
    return out
