"""What a tinyqa test reads, and what its failure says.

The pytest plugin runs one tiny QA run or one gate a session (tinyqa/pytest_session.py) and
hands tests views of that `Outcome`: `RunView` (the `tinyqa_run` fixture), `GateView`
(`tinyqa_gate`) and `PackView` (`tinyqa_pack`, and `.pack(id)` of either). A pack's scores are
`Metric`s, numbers named after the scorers of suites/scoring.py (`.em`, `.contains`, ...) that
carry their metrics row: the 95% Wilson interval and n. Every view notes what a test read in
its `Log`, so that a failing test's report lists, for what it read, the pack's metrics with
their intervals, the baseline and the flipped items (`section`); a failed comparison with a
Metric or a drift count explains itself in the assertion message too (`compare_lines`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tinyqa.suites.result import DRIFT, DROP, Check, DriftDetails, GateResult, RunResult
from tinyqa.suites.scoring import PROPORTIONS, SCORERS

MAX_ITEMS = 50   # flipped, wrong or drifted items listed per pack in a failure's report
SCORES = tuple(s.name for s in SCORERS)


@dataclass
class Outcome:
    """The session's one flow run: a tiny QA run, or a gate (`run` is its first QA run)."""

    model: str
    run: RunResult
    gate: GateResult | None = None

    @property
    def pack_ids(self) -> list[str]:
        return list(self.run.run["pack_ids"])

    @property
    def checks(self) -> list[Check]:
        return self.gate.checks if self.gate else self.run.checks

    @property
    def notices(self) -> list[str]:
        return self.gate.notes if self.gate else self.run.notices

    def pack_id(self, spec: str) -> str:
        """The id of a pack of this run named by id or folder; LookupError naming the packs run."""
        for pack_id in (spec, Path(spec).resolve().name if ("/" in spec or "\\" in spec) else spec):
            if pack_id in self.pack_ids:
                return pack_id
        raise LookupError(f"tinyqa: pack {spec!r} was not run in this session (run: {', '.join(self.pack_ids)}); "
                          "name it in @pytest.mark.tinyqa(packs=[...]) on the test, or in --tinyqa-packs")

    def baseline(self) -> str:
        """Which baseline the gate compared with and why (or why there was none)."""
        if self.gate is None:
            return "no baseline: a tiny QA run compares with none (the tinyqa_gate fixture does)"
        return self.gate.baseline.why if self.gate.baseline else "no baseline"

    def headline(self) -> str:
        runs = ", ".join(r.run_id for r in self.gate.qa) if self.gate else self.run.run_id
        kind = "gate" if self.gate else "tiny QA run"
        return f"tinyqa {kind} of {self.model} · run {runs} · {self.baseline()}"


@dataclass
class Log:
    """What one test read of `outcome`: packs (PackView), regressions (of a pack, or of all:
    None), drift."""

    outcome: Outcome
    packs: list[PackView] = field(default_factory=list)
    regressions: list[str | None] = field(default_factory=list)
    drift: DriftView | None = None

    def __bool__(self) -> bool:
        return bool(self.packs or self.regressions or self.drift)


class Metric(float):
    """One score of a pack (or of a language in it), compared like the number it is, with its
    metrics row: `n` answered items and, for a proportion, the 95% Wilson interval
    (`low`, `high`). NaN when no item was answered."""

    view: PackView
    name: str
    n: int
    low: float | None
    high: float | None

    def __new__(cls, view: PackView, row: dict) -> Metric:
        self = super().__new__(cls, math.nan if row["value"] is None else row["value"])
        self.view, self.name, self.n = view, row["metric"], row["n"]
        self.low, self.high = row["ci_low"], row["ci_high"]
        return self

    def value_text(self) -> str:
        ci = f", 95% CI {self.low:.3f}–{self.high:.3f}" if self.low is not None else ""
        return f"{float(self):.3f} ({self.n} answered{ci})"

    def __repr__(self) -> str:
        return f"{self.view.label} {self.name} {self.value_text()}"

    def explain(self) -> list[str]:
        """The pack, the metric with its interval, the baseline and the flipped items."""
        pct = "no answered item" if math.isnan(self) else f"{float(self):.0%}"
        ci = f" (95% CI {self.low:.0%}–{self.high:.0%})" if self.low is not None else ""
        lines = [f"{self.view.label}: {self.name} {pct}{ci} on {self.n} answered item(s)",
                 self.view.outcome.baseline()]
        return lines + self.view.comparison(self.name)


class Changed(int):
    """The number of items that tokenize differently from the drift baseline, with the items."""

    drift: DriftView

    def __new__(cls, drift: DriftView) -> Changed:
        self = super().__new__(cls, len(drift.details.changed))
        self.drift = drift
        return self

    def __repr__(self) -> str:
        return f"{int(self)} item(s) tokenized differently by {self.drift.tokenizer}"

    def explain(self) -> list[str]:
        return self.drift.lines()


class Regressions(list):
    """The gate's failed checks (Check): floors, significant drops, drift."""

    def __repr__(self) -> str:
        if not self:
            return "no regression"
        return f"{len(self)} failed check(s): " + "; ".join(f"{c.group} {c.name}: {c.message}" for c in self)


class PackView:
    """A pack of the session's run (`lang`: one language of it): its scores as attributes named
    after the scorers (`.em`, `.contains`, `.em_extracted`, `.lev_ratio`, `.f1`), its
    regressions and its items."""

    def __init__(self, outcome: Outcome, pack_id: str, lang: str | None = None, log: Log | None = None):
        self.outcome, self.pack_id, self.lang = outcome, pack_id, lang
        self.slice = "all" if lang is None else f"lang={lang}"
        self.read: list[str] = []   # the scores a test read, in order
        self.label = pack_id if lang is None else f"{pack_id} [{lang}]"
        if outcome.run.metric(pack_id, "errors", self.slice) is None:
            raise LookupError(f"tinyqa: pack {pack_id} has no {lang!r} items")
        if log is not None:
            log.packs.append(self)

    def __repr__(self) -> str:
        return f"<tinyqa pack {self.label}>"

    def __getattr__(self, name: str) -> Metric:
        if name in SCORES:
            return self.metric(name)
        raise AttributeError(f"{type(self).__name__} has no {name!r} (scores: {', '.join(SCORES)})")

    def __dir__(self):
        return [*super().__dir__(), *SCORES]

    def metric(self, name: str) -> Metric:
        row = self.outcome.run.metric(self.pack_id, name, self.slice)
        if row is None:
            raise LookupError(f"tinyqa: no {name!r} for {self.label} (scores: {', '.join(SCORES)})")
        self.read.append(name)
        return Metric(self, row)

    @property
    def items(self) -> list[dict]:
        """The items table's rows of this pack (and language)."""
        return [r for r in self.outcome.run.items
                if r["pack_id"] == self.pack_id and (self.lang is None or r["lang"] == self.lang)]

    @property
    def errors(self) -> int:
        return sum(r["error"] is not None for r in self.items)

    def _langs(self) -> set[str]:
        return {m["slice"] for m in self.outcome.run.metrics
                if m["pack_id"] == self.pack_id and m["slice"].startswith("lang=")}

    def checks(self) -> list[Check]:
        """The gate's checks of this pack; of one language of a multilingual pack, its own."""
        mine = [c for c in self.outcome.checks if c.pack_id == self.pack_id]
        if self.lang is None or len(self._langs()) <= 1:
            return mine
        return [c for c in mine if c.kind == DROP and c.slice == self.slice]

    def regressions(self) -> Regressions:
        """The gate's failed checks of this pack (its floors and its drop against the baseline)."""
        if self.outcome.gate is None:
            raise RuntimeError("tinyqa: regressions are the gate's: this session ran tiny QA only "
                               "(request the tinyqa_gate or tinyqa_pack fixture in a test)")
        return Regressions(c for c in self.checks() if not c.passed)

    def comparison(self, metric: str) -> list[str]:
        """Against the baseline: the drop check and its flipped items; without one, the items
        wrong on `metric`."""
        drop = next((c for c in self.checks() if c.kind == DROP and c.slice == self.slice), None)
        if drop is None and self.lang is not None:
            drop = next((c for c in self.checks() if c.kind == DROP and c.slice == "all"), None)
        if drop is not None:
            more = len(drop.details) - MAX_ITEMS
            return ([f"{drop.name}: {'pass' if drop.passed else 'FAIL'}: {drop.message}", *drop.details[:MAX_ITEMS]]
                     + ([f"… and {more} more"] if more > 0 else []))
        if metric not in PROPORTIONS:
            return []
        wrong = [r for r in self.items if r["error"] is None and not r[metric]]
        lines = [f"wrong on {metric} ({len(wrong)}):" if wrong else f"no item wrong on {metric}"]
        lines += [f"{r['item_id']} {r['question']!r}: {r['prediction']!r} (gold {r['gold']!r})"
                  for r in wrong[:MAX_ITEMS]]
        return lines + ([f"… and {len(wrong) - MAX_ITEMS} more"] if len(wrong) > MAX_ITEMS else [])

    def lines(self) -> list[str]:
        """Every score with its interval, the checks and the comparison, for a failure's report."""
        scores = []
        for name in SCORES:
            row = self.outcome.run.metric(self.pack_id, name, self.slice)
            if row is not None and row["value"] is not None:
                ci = f" [{row['ci_low']:.0%}–{row['ci_high']:.0%}]" if row["ci_low"] is not None else ""
                scores.append(f"{name} {row['value']:.0%}{ci}" if name in PROPORTIONS else f"{name} {row['value']:.2f}")
        answered = len(self.items) - self.errors
        out = [f"{self.label}: {', '.join(scores)} ({answered} answered, {self.errors} errored)"]
        out += [f"  {c.name}: {'pass' if c.passed else 'FAIL'}: {c.message}"
                for c in self.checks() if c.kind != DROP]
        read = [m for m in self.read if m in PROPORTIONS]
        return out + [f"  {line}" for line in self.comparison(read[0] if read else "contains")]


class DriftView:
    """The gate's tokenizer drift: `changed` items (a number), `identity_changed`, `passed`.
    A test that reads it is skipped, with the gate's reason, when drift did not run or had no
    baseline to compare with."""

    def __init__(self, outcome: Outcome, log: Log | None = None):
        self.outcome = outcome
        drift = outcome.gate.drift if outcome.gate else None
        if drift is None:
            notice = (outcome.gate.drift_note if outcome.gate else None) or "drift skipped"
            pytest.skip(notice.replace("(pass --tokenizer)", "(pass --tinyqa-tokenizer)"))
        self.result: RunResult = drift
        self.details: DriftDetails = drift.details
        if not self.details.compared:
            pytest.skip(f"drift: no baseline for tokenizer {self.tokenizer}; fingerprinted only")
        if log is not None:
            log.drift = self

    @property
    def tokenizer(self) -> str:
        return self.details.tokenizer["spec"]

    @property
    def changed(self) -> Changed:
        return Changed(self)

    @property
    def identity_changed(self) -> list[dict]:
        return self.details.identity_changed

    @property
    def passed(self) -> bool:
        return self.result.passed

    def lines(self) -> list[str]:
        d = self.details
        out = [f"drift of tokenizer {self.tokenizer}: {len(d.changed)} changed, {d.unchanged} unchanged, "
               f"{d.new} new, {d.missing} missing", *(f"  {f}" for f in d.failures)]
        out += [f"  identity changed: {x['part']}: {x['old'] or '-'} → {x['new'] or '-'}" for x in d.identity_changed]
        for x in d.changed[:MAX_ITEMS]:
            for part in x["parts"]:
                out.append(f"  changed {x['pack_id']}/{x['item_id']} [{x['lang']}] {part}: "
                           f"{'|'.join(x['old'][part])} → {'|'.join(x['new'][part])}")
        return out


class RunView:
    """The session's tiny QA run (the `tinyqa_run` fixture): `pack(id)`, the RunResult."""

    def __init__(self, outcome: Outcome, log: Log | None = None):
        self.outcome, self.log = outcome, log
        self.result: RunResult = outcome.run

    def __repr__(self) -> str:
        return f"<tinyqa run {self.run_id} of {self.outcome.model}>"

    @property
    def run_id(self) -> str:
        return self.result.run_id

    @property
    def notices(self) -> list[str]:
        return self.outcome.notices

    def pack(self, pack: str, lang: str | None = None) -> PackView:
        return PackView(self.outcome, self.outcome.pack_id(pack), lang, self.log)


class GateView(RunView):
    """The session's gate (the `tinyqa_gate` fixture): `pack(id)`, `regressions()`, `drift`,
    `passed`, the GateResult."""

    def __init__(self, outcome: Outcome, log: Log | None = None):
        super().__init__(outcome, log)
        self.gate: GateResult = outcome.gate

    def __repr__(self) -> str:
        return f"<tinyqa gate of {self.outcome.model}: {'passed' if self.passed else 'FAILED'}>"

    @property
    def checks(self) -> list[Check]:
        return self.gate.checks

    @property
    def passed(self) -> bool:
        return self.gate.passed

    @property
    def baseline(self) -> str:
        return self.outcome.baseline()

    def regressions(self, pack: str | None = None) -> Regressions:
        """The gate's failed checks (of `pack`, or all of them, drift included)."""
        pack_id = None if pack is None else self.outcome.pack_id(pack)
        if self.log is not None:
            self.log.regressions.append(pack_id)
        return Regressions(c for c in self.gate.checks if not c.passed and pack_id in (None, c.pack_id))

    @property
    def drift(self) -> DriftView:
        return DriftView(self.outcome, self.log)


# --- failure text -----------------------------------------------------------------------------

def compare_lines(op: str, left, right) -> list[str] | None:
    """pytest_assertrepr_compare for a comparison with a Metric or a drift count: the
    comparison, then what it is about."""
    ours = left if isinstance(left, (Metric, Changed)) else right if isinstance(right, (Metric, Changed)) else None
    if ours is None:
        return None
    return [f"{left!r} {op} {right!r}", *ours.explain()]


def section(log: Log) -> str:
    """A failing test's report of what it read: the run and its baseline, each pack's scores
    with their intervals, checks and flipped (or wrong) items, the failed checks, the drift."""
    lines = [log.outcome.headline()]
    seen = set()
    for view in log.packs:
        if view.label not in seen:
            seen.add(view.label)
            lines += view.lines()
    for pack_id in dict.fromkeys(log.regressions):
        for c in (c for c in log.outcome.checks if not c.passed and pack_id in (None, c.pack_id)):
            if (c.kind != DRIFT and c.pack_id in seen) or (c.kind == DRIFT and log.drift):
                continue
            lines.append(f"{c.group} {c.name}: FAIL: {c.message}")
            lines += [f"  {d}" for d in c.details[:MAX_ITEMS]]
    if log.drift is not None:
        lines += log.drift.lines()
    return "\n".join(lines)
