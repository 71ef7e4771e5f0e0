"""The one shape of a suite run: what tiny QA, drift and lm-eval return, what the report store
writes (`store.write_run`), what flows pass on and what the CLI renders.

A result holds its report rows as the store's tables name them (the runs row, items, metrics,
drift), the checks that make its verdict, notices for the reader, and `details`: what only
its suite has to say (drift's changed tokens, lm-eval's cross-check and timings), JSON-able.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Check:
    """One line of a verdict (and one JUnit test case): a floor, a drop against a baseline,
    a tokenizer's drift. `measures` holds the numbers behind the message, JSON-able (a floor:
    metric, value, low, high, floor, n; a drop: metric, change, low, high, p, paired, lost,
    gained), for a report to lay out."""

    pack_id: str
    name: str
    passed: bool
    message: str
    details: list[str] = field(default_factory=list)
    measures: dict = field(default_factory=dict)


@dataclass
class RunResult:
    run: dict                                           # the runs row
    items: list[dict] = field(default_factory=list)     # items table rows (tiny QA, lm-eval)
    metrics: list[dict] = field(default_factory=list)   # metrics table rows
    drift: list[dict] = field(default_factory=list)     # drift table rows
    checks: list[Check] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)

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
    baseline (a run id or a file) and the notices that say why."""

    model: str
    checks: list[Check]
    qa: list[RunResult]
    drift: RunResult | None = None
    baseline: str | None = None
    notices: list[str] = field(default_factory=list)
    # {"source": "file"|"store"|None, "run_id", "comparable", "differences": [...]}
    baseline_info: dict = field(default_factory=dict)
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


def exit_code(results: list[RunResult], checks: list[Check] | None = None) -> int:
    """The command's exit code: 3 when items errored (infrastructure, never a regression),
    1 when a check failed, else 0."""
    if any(r.errors for r in results):
        return 3
    checks = checks if checks is not None else [c for r in results for c in r.checks]
    return 0 if all(c.passed for c in checks) else 1
