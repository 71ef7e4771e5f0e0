"""The one shape of a suite run: what tiny QA, drift and lm-eval return, what the report store
writes (`store.write_run`), what flows pass on and what the CLI renders.

A result holds its report rows as the store's tables name them (the runs row, items, metrics,
drift), the checks that make its verdict, notices for the reader, and `details`: what only
its suite has to say (drift's changed tokens, lm-eval's cross-check and timings), JSON-able.
"""
from __future__ import annotations

from dataclasses import dataclass, field


FLOOR, DROP, DRIFT = "floor", "drop", "drift"   # the kinds of check


@dataclass(kw_only=True)
class Check:
    """One line of a verdict (and one JUnit test case): a floor (`kind` floor: `metric` of
    `pack_id` against its floor), a drop against a baseline (`kind` drop: `metric` of a `slice`
    of `pack_id`: `all` or `lang=fr`), a tokenizer's drift (`kind` drift: `subject` is the
    tokenizer; no pack). `measures` holds the numbers behind the message, JSON-able (a floor:
    metric, value, low, high, floor, n; a drop: metric, change, low, high, p, paired, lost,
    gained), for a report to lay out. Renderers read these fields; `name` is the label users
    see (the JUnit test case name), derived from them."""

    kind: str
    pack_id: str | None
    passed: bool
    message: str
    details: list[str] = field(default_factory=list)
    measures: dict = field(default_factory=dict)
    slice: str = "all"
    metric: str | None = None
    subject: str | None = None   # what a check of no pack is about (drift: the tokenizer)

    @classmethod
    def floor(cls, pack_id: str, metric: str, passed: bool, message: str, measures: dict | None = None) -> Check:
        return cls(kind=FLOOR, pack_id=pack_id, metric=metric, passed=passed, message=message,
                   measures=measures or {})

    @classmethod
    def drop(cls, pack_id: str, slice_: str, metric: str, passed: bool, message: str,
             details: list[str] | None = None, measures: dict | None = None) -> Check:
        return cls(kind=DROP, pack_id=pack_id, slice=slice_, metric=metric, passed=passed, message=message,
                   details=details or [], measures=measures or {})

    @classmethod
    def drift(cls, tokenizer: str, passed: bool, message: str, details: list[str] | None = None) -> Check:
        return cls(kind=DRIFT, pack_id=None, subject=tokenizer, passed=passed, message=message,
                   details=details or [])

    @property
    def name(self) -> str:
        """The label users see (`floor em`, `drop all`, `drop lang=fr`, `tokenizer local`)."""
        if self.kind == FLOOR:
            return f"floor {self.metric}"
        if self.kind == DROP:
            return f"drop {self.slice}"
        if self.kind == DRIFT:
            return f"tokenizer {self.subject}"
        return " ".join(x for x in (self.kind, self.subject) if x)

    @property
    def group(self) -> str:
        """What a report groups the check under: its pack, else its kind (`drift`)."""
        return self.pack_id or self.kind

    @property
    def lang(self) -> str | None:
        """The language of a per-language check (`slice` lang=fr), else None."""
        return self.slice.removeprefix("lang=") if self.slice.startswith("lang=") else None


@dataclass(frozen=True)
class Baseline:
    """Which baseline a gate compared with: a file, a stored run or none (`source`), and the
    sentence that says which and why (`why`)."""

    source: str                 # "file" | "run" | "none"
    why: str
    file: str | None = None
    run_id: str | None = None   # a file's run, or the stored run chosen
    # How it was made differently (another prompt template hash, decoding or scorer version):
    # compared all the same, and named (suites/gate.differences); `--strict-baseline` refuses it.
    differences: tuple[str, ...] = ()

    @property
    def comparable(self) -> bool:
        return self.source != "none" and not self.differences

    @property
    def ref(self) -> str | None:
        """The file, or the run id; None without a baseline."""
        return self.file if self.source == "file" else self.run_id if self.source == "run" else None


class Details:
    """Typed details (a dataclass), read as fields; `details["key"]`, `"key" in details` and
    `details.get("key")` still work for older callers (`in` and `get`: a field that is None is
    absent)."""

    def __getitem__(self, key: str):
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: str) -> bool:
        return key in self.__dataclass_fields__ and getattr(self, key) is not None

    def get(self, key: str, default=None):
        return getattr(self, key) if key in self else default


@dataclass
class DriftDetails(Details):
    """What a drift run has to say beyond its rows: the tokenizer (spec, kind, name), timings,
    items and packs fingerprinted, the baseline file; compared with one, the items that
    changed (with their tokens), how many are new, missing or unchanged, the identity parts
    that changed, the per-language metric deltas and the failures; `baseline_written` when a
    new baseline was written."""

    tokenizer: dict
    timings: dict
    items: int
    packs: list[str]
    baseline: str | None = None
    changed: list[dict] | None = None          # None: not compared (no baseline)
    new: int | None = None
    missing: int | None = None
    unchanged: int | None = None
    identity_changed: list[dict] = field(default_factory=list)
    metric_deltas: list[dict] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    baseline_written: str | None = None

    @property
    def compared(self) -> bool:
        return self.changed is not None


@dataclass
class LmevalDetails(Details):
    """What an lm-eval run has to say beyond its rows: the cross-check of lm-eval's
    exact_match with tinyqa's EM on the same answers (`agreement`, one entry per task and
    filter), lm-eval's version, where it ran (device, batch size), each task's output type,
    and timings (`total_s`, `lm_eval_s`)."""

    agreement: list[dict] = field(default_factory=list)
    lm_eval_version: str | None = None
    device: str | None = None
    batch_size: int | str | None = None
    output_types: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


@dataclass
class RunResult:
    run: dict                                           # the runs row
    items: list[dict] = field(default_factory=list)     # items table rows (tiny QA, lm-eval)
    metrics: list[dict] = field(default_factory=list)   # metrics table rows
    drift: list[dict] = field(default_factory=list)     # drift table rows
    checks: list[Check] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    details: dict | Details = field(default_factory=dict)   # DriftDetails, LmevalDetails

    @property
    def run_id(self) -> str:
        return self.run["run_id"]

    @property
    def errors(self) -> int:
        """Items that failed beyond the retry budget (infrastructure, never a wrong answer)."""
        return sum(r["error"] is not None for r in self.items)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def status(self) -> str:
        """The runs row's status: `errors` (items failed beyond the retry budget), `failed` (a
        check failed: a floor, the gate, drift) or `complete`."""
        return "errors" if self.errors else "complete" if self.passed else "failed"

    def metric(self, pack_id: str | None, metric: str, slice_: str = "all") -> dict | None:
        """The metrics row for (`pack_id`, `slice_`, `metric`), if any."""
        for m in self.metrics:
            if m["pack_id"] == pack_id and m["slice"] == slice_ and m["metric"] == metric:
                return m
        return None


@dataclass
class GateResult:
    """A gate's verdict: its checks, the runs it judged (tiny QA, repeated; drift), which
    baseline it compared with and why (a `Baseline`), why drift did not run or ran without a
    baseline (`drift_note`), and the other notices."""

    model: str
    checks: list[Check]
    qa: list[RunResult]
    drift: RunResult | None = None
    baseline: Baseline | None = None
    notices: list[str] = field(default_factory=list)
    drift_note: str | None = None
    estimate: object | None = None      # models.cost.Estimate: the cost expected before asking

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.qa)

    @property
    def verdict(self) -> str:
        """`error` (items failed beyond the retry budget), `fail`, `inconclusive` (a drop above
        max_drop that is not significant: it passes, unsettled) or `pass`."""
        if self.errors:
            return "error"
        if not self.passed:
            return "fail"
        if any(c.measures.get("verdict") == "inconclusive" for c in self.checks):
            return "inconclusive"
        return "pass"

    @property
    def cost_usd(self) -> float | None:
        """What the runs cost as LiteLLM priced their answers; None when it priced none."""
        costs = [r["cost_usd"] for run in self.qa for r in run.items if r.get("cost_usd") is not None]
        return sum(costs) if costs else None

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def notes(self) -> list[str]:
        """What the reader is told, in order: the baseline and why, drift's note, the notices."""
        return [*([self.baseline.why] if self.baseline else []), *([self.drift_note] if self.drift_note else []),
                *self.notices]


def exit_code(results: list[RunResult], checks: list[Check] | None = None) -> int:
    """The command's exit code: 3 when items errored (infrastructure, never a regression),
    1 when a check failed, else 0."""
    if any(r.errors for r in results):
        return 3
    checks = checks if checks is not None else [c for r in results for c in r.checks]
    return 0 if all(c.passed for c in checks) else 1
