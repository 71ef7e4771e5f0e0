"""The dashboard's lm-eval section: the full suites (ARC, GSM8K, MMLU, ... and tinyqa packs run
through lm-eval) beside the tiny packs, from the store's `lmeval` runs.

Per model (a series: the model, with lm-eval's backend where it ran on more than one) and per
task asked for (a group such as `mmlu` counts once; its subtasks are left out) and filter:
each run's score over time with the band lm-eval's standard error gives, value ± 1.96·stderr
(the metrics rows' ci_low/ci_high, clipped to [0, 1]), and the latest run's scores in a table.
Only scores that are shares (every value in [0, 1]: acc, acc_norm, exact_match, ...) are
shown; perplexities and counts are not accuracies.
"""
from __future__ import annotations

from collections import defaultdict

from tinyqa.reports import charts

SUITE = "lmeval"
HIDDEN = ("em_disagreements",)          # a count, not a score (the cross-check's)
PREFERRED = ("acc", "exact_match", "acc_norm", "tinyqa_exact_match")   # the headline, in order
HEADLINE = "headline"   # the chart's default: each panel's own headline score


def facet(task: str, slice_: str) -> str:
    """A panel's name: the task, with its filter when it has one (`gsm8k · strict-match`)."""
    filt = slice_.removeprefix("filter=")
    return task if filt == "none" else f"{task} · {filt}"


def gather(runs: dict[str, dict], metrics: list[dict]) -> tuple[list[dict], list[dict], list[str]]:
    """From the lm-eval runs (by run id, each with `series`, `t`, `color`) and their metrics
    rows: the chart's points, the latest-run table and the metric names shown (the headline
    first)."""
    stderr = {(m["run_id"], m["pack_id"], m["slice"], m["metric"][: -len("_stderr")]): m["value"]
              for m in metrics if m["metric"].endswith("_stderr")}
    scores = [m for m in metrics if not m["metric"].endswith("_stderr") and m["metric"] not in HIDDEN
              and m["run_id"] in runs and m["pack_id"] in runs[m["run_id"]]["tasks"]]
    outside = {m["metric"] for m in scores if not 0.0 <= m["value"] <= 1.0}
    scores = [m for m in scores if m["metric"] not in outside]
    names = sorted({m["metric"] for m in scores}, key=lambda x: (x not in PREFERRED,
                                                                 PREFERRED.index(x) if x in PREFERRED else 0, x))
    points = []
    for m in scores:
        run = runs[m["run_id"]]
        se = stderr.get((m["run_id"], m["pack_id"], m["slice"], m["metric"]))
        points.append({"series": run["series"], "facet": facet(m["pack_id"], m["slice"]), "t": run["t"],
                       "run": m["run_id"], "metric": m["metric"], "shown": m["metric"], "v": round(m["value"], 4), "n": m["n"],
                       "se": None if se is None else round(se, 4),
                       "lo": None if m["ci_low"] is None else round(m["ci_low"], 4),
                       "hi": None if m["ci_high"] is None else round(m["ci_high"], 4)})
    head = {}
    for p in points:
        if p["facet"] not in head or names.index(p["metric"]) < names.index(head[p["facet"]]):
            head[p["facet"]] = p["metric"]
    table = latest(runs, points, names)
    points += [p | {"metric": HEADLINE, "shown": p["metric"]} for p in points if head[p["facet"]] == p["metric"]]
    return points, table, names


def latest(runs: dict[str, dict], points: list[dict], names: list[str]) -> list[dict]:
    """Per series and panel: the newest run's headline score (its first metric in `names`)
    with stderr and band, its other scores, the change since the series' previous run and
    how many runs it has."""
    by_key: dict[tuple[str, str], dict[tuple, dict[str, dict]]] = defaultdict(lambda: defaultdict(dict))
    for p in points:
        by_key[(p["series"], p["facet"])][(p["t"] or 0, p["run"])][p["metric"]] = p
    rows = []
    for (series, panel), history in sorted(by_key.items()):
        order = sorted(history)
        newest = history[order[-1]]
        metric = next(m for m in names if m in newest)
        head = newest[metric]
        prev = history[order[-2]].get(metric) if len(order) > 1 else None
        run = runs[head["run"]]
        rows.append({"series": series, "color": run["color"], "facet": panel, "metric": metric,
                     "value": head["v"], "se": head["se"], "lo": head["lo"], "hi": head["hi"], "n": head["n"],
                     "others": [(m, newest[m]["v"], newest[m]["se"]) for m in names if m in newest and m != metric],
                     "delta": None if prev is None else head["v"] - prev["v"], "runs": len(order),
                     "run": head["run"], "when": run["when"], "backend": run["tpl"].removeprefix("lm-eval/") or "-"})
    return rows


def chart(alt, color, facets: int, names: list[str], window: int):
    """Per panel (task · filter; two a row), each model's score over time: a line, the band
    value ± 1.96·stderr, and for long histories a trend line; a metric picker below."""
    labels = {"acc": "accuracy (acc)", "acc_norm": "length-normalised accuracy (acc_norm)",
              "exact_match": "exact match", "tinyqa_exact_match": "tinyqa's exact match"}
    metric = alt.param(name="metric", value=HEADLINE, bind=alt.binding_select(
        options=[HEADLINE, *names], labels=["each task's own (acc, else exact_match, …)",
                                            *[labels.get(n, n) for n in names]], name="score: "))
    tooltip = [alt.Tooltip("series:N", title="model"), alt.Tooltip("facet:N", title="task"),
               alt.Tooltip("shown:N", title="score"), alt.Tooltip("t:T", title="started", format="%Y-%m-%d %H:%M"),
               alt.Tooltip("v:Q", format=".1%", title="value"), alt.Tooltip("se:Q", format=".3f", title="stderr"),
               alt.Tooltip("lo:Q", format=".1%", title="−1.96 stderr"),
               alt.Tooltip("hi:Q", format=".1%", title="+1.96 stderr"), alt.Tooltip("n:Q"), alt.Tooltip("run:N")]
    return charts.over_time(alt, color, "lmeval", metric, facets, window, "score (± 1.96 stderr)", tooltip)
