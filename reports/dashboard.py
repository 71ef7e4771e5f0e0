"""The static dashboard: one self-contained `index.html` built from the report store.

The page needs no server and no network: the Vega, Vega-Lite and vega-embed JavaScript comes
from vl-convert's offline bundle (cached under `$TINYQA_CACHE_DIR/vega/`), the chart specs
are built with Altair and inlined as JSON, and every other piece of text goes through Jinja's
HTML escaping. What it shows, all read through DuckDB views over the store:

- the latest tiny QA status per model and pack (with the verdict of an exact McNemar test
  on the items that flipped since the model's previous run);
- accuracy over time per pack and per language, with the 95% Wilson bands of the metrics table;
- the lm-eval suites beside them (reports/dashboard_lmeval.py): each task's score over time
  with its ± 1.96·stderr band, and the latest scores;
- the items that flipped between the last two runs of each model;
- item analysis over all runs (suites/items.py): flaky items, items never or always answered
  right, discrimination, and every item's share of runs right per model;
- a tokenizer drift summary (the drift table's latest run per tokenizer);
- per model and pack, the smallest drop a gate against the latest run would detect (80% power,
  suites/stats.min_detectable_drop at the gate's alpha and max_drop) and what the run cost;
- latency, tokens and cost per run (the cost where LiteLLM knows the model's price; the page
  says so where it does not).
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from tinyqa.files import write_atomic
from tinyqa.reports import charts, dashboard_lmeval, store
from tinyqa.reports import items as item_store
from tinyqa.settings import cache_dir
from tinyqa.suites import items as item_rules
from tinyqa.suites.gate import Thresholds, judge, thresholds
from tinyqa.suites.scoring import LABELS, PROPORTIONS
from tinyqa.suites.stats import min_detectable_drop, wilson
from tinyqa.text import COMMENT_MAX, cap

TEMPLATE = "dashboard.html.j2"
PAGE = "index.html"
SUITE = "tinyqa"
HEADLINE = "contains"  # the metric of the status table, the flips and the verdicts
METRICS = {m: LABELS[m] for m in PROPORTIONS}   # the scorers that are shares of items right
PALETTE = ["#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2",
           "#ff9da6", "#9d755d", "#bab0ac"]
# The drift suite's per-language metrics shown first (suites/drift.py writes them to metrics).
DRIFT_METRICS = ("fertility", "chars_per_token", "split_word_rate", "single_token_retention",
                 "byte_fallback_rate", "roundtrip_fidelity")
MAX_FLIPS = 200    # flipped items listed per model; the counts always cover all of them
MAX_ITEMS = 300    # items listed per item-analysis table; the counts always cover all of them


@dataclass
class Dashboard:
    """Everything the page shows: table rows for Jinja and Vega-Lite specs keyed by chart id."""

    store: str
    generated: str
    n_runs: int = 0
    n_qa_runs: int = 0
    first_run: str = "-"
    last_run: str = "-"
    series: list[str] = field(default_factory=list)
    packs: list[str] = field(default_factory=list)
    langs: list[str] = field(default_factory=list)
    status: list[dict] = field(default_factory=list)
    flips: list[dict] = field(default_factory=list)
    drift: list[dict] = field(default_factory=list)         # latest run per tokenizer, per language
    drift_metrics: list[str] = field(default_factory=list)  # the drift suite's metric names present
    perf: list[dict] = field(default_factory=list)
    n_lmeval_runs: int = 0
    lmeval: list[dict] = field(default_factory=list)          # latest lm-eval scores per model and task
    lmeval_metrics: list[str] = field(default_factory=list)   # the lm-eval scores shown, headline first
    charts: dict[str, dict] = field(default_factory=dict)
    verdicts: dict[str, int] = field(default_factory=dict)
    has_cost: bool = False
    windows: dict[str, int] = field(default_factory=dict)  # runs per trend-line window, per chart
    rule: Thresholds = field(default_factory=Thresholds)   # the gate's: "worse" means what it fails on
    items: dict = field(default_factory=dict)              # the item analysis (_item_analysis)


def build(reports: Path | str, out: Path | str, rule: Thresholds | None = None) -> Path:
    """Read the store at `reports` (a folder or a filesystem URL) and write `out/index.html`
    atomically; returns its path. A change is worse or better by the gate's rule (`rule`,
    default the [gate] table of tinyqa.toml). A store location that does not exist is an
    InputError."""
    store.require(reports)
    page = render(gather(reports, rule or thresholds()))
    return write_atomic(Path(out) / PAGE, page)


# ----------------------------------------------------------------------------- data


def _rows(con, sql: str, **params) -> list[dict]:
    rel = con.execute(sql, params) if params else con.execute(sql)
    cols = [d[0] for d in rel.description]
    return [dict(zip(cols, r)) for r in rel.fetchall()]


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def gather(reports: Path | str, rule: Thresholds | None = None) -> Dashboard:
    """Query the store (DuckDB views over its Parquet files) for everything the page shows."""
    con = store.connect(reports)
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    d = Dashboard(store=str(reports), generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                  rule=rule or Thresholds())
    runs = _rows(con, """
        select run_id, epoch_ms(started_at) as t, suite, model, coalesce(prompt_template, '') as tpl, status,
               pack_ids
        from runs order by started_at, run_id""")
    d.n_runs = len(runs)
    if runs:
        d.first_run, d.last_run = _when(runs[0]["t"]), _when(runs[-1]["t"])
    qa_runs = {r["run_id"]: r for r in runs if r["suite"] == SUITE}
    d.n_qa_runs = len(qa_runs)
    _label_series(qa_runs)
    d.series = sorted({r["series"] for r in qa_runs.values()})
    colors = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(d.series)}
    for r in qa_runs.values():
        r["color"] = colors[r["series"]]

    acc = _rows(con, """
        select run_id, pack_id, slice, metric, value, n, ci_low, ci_high from metrics
        where suite = $suite and value is not null
          and (slice = 'all' or slice like 'lang=%')
          and list_contains($metrics, metric)""", suite=SUITE,
        metrics=[*METRICS, "errors", "latency_p50_s"])
    acc = [m for m in acc if m["run_id"] in qa_runs]
    d.packs = sorted({m["pack_id"] for m in acc})
    pack_rows = [_point(qa_runs[m["run_id"]], m, m["pack_id"]) for m in acc
                 if m["slice"] == "all" and m["metric"] in METRICS]
    lang_rows = _pooled_by_lang(qa_runs, acc)
    d.langs = sorted({r["facet"] for r in lang_rows})

    pairs = _last_two(qa_runs)
    flip_rows = _flip_rows(con, reports, pairs)
    d.flips = _flip_groups(qa_runs, pairs, flip_rows, d.rule)
    d.status = _status(qa_runs, acc, d.flips, d.rule)
    for s in d.status:
        d.verdicts[s["verdict"]] = d.verdicts.get(s["verdict"], 0) + 1

    perf = _rows(con, """
        select run_id,
               quantile_cont(latency_s, 0.5) filter (where error is null and not coalesce(cached, false)) as p50,
               quantile_cont(latency_s, 0.95) filter (where error is null and not coalesce(cached, false)) as p95,
               count(*) as n, count(error) as errors,
               avg(coalesce(cached, false)::int) as cached,
               sum(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0)) as tokens,
               sum(cost_usd) as cost, count(cost_usd) as priced
        from items where suite = $suite group by run_id""", suite=SUITE)
    perf = [dict(p, **{k: qa_runs[p["run_id"]][k] for k in ("t", "series", "color", "model")})
            for p in perf if p["run_id"] in qa_runs]
    d.perf = [p | {"price": _priced(p)} for p in _perf_table(perf)]
    d.has_cost = any(p["cost"] for p in perf)
    pack_cost = {(c["run_id"], c["pack_id"]): c for c in _rows(con, """
        select run_id, pack_id, sum(cost_usd) as cost, count(cost_usd) as priced, count(*) as n
        from items where suite = $suite group by run_id, pack_id""", suite=SUITE)}
    for st in d.status:
        c = pack_cost.get((st["run"], st["pack"]), {"cost": None, "priced": 0, "n": 0})
        st["cost"], st["price"] = c["cost"], _priced(c | {"model": qa_runs[st["run"]]["model"]})

    drift = _rows(con, """
        select run_id, tokenizer, lang, count(*) as n, count(*) filter (where changed) as changed,
               count(baseline_ids_sha) as with_baseline, avg(n_tokens) as tokens, max(date) as date
        from drift group by all""")
    drift_metrics: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    if drift:
        for m in _rows(con, """select run_id, slice, metric, value from metrics
                               where suite = 'drift' and slice like 'lang=%' and value is not null"""):
            drift_metrics[(m["run_id"], m["slice"][5:])][m["metric"]] = m["value"]
    started = {r["run_id"]: r["t"] for r in runs}
    d.drift = _drift_latest([r | {"t": started.get(r["run_id"])} for r in drift], drift_metrics)
    d.drift_metrics = _drift_metric_names(d.drift)

    lm_runs = {r["run_id"]: r | {"tasks": set(r["pack_ids"] or []), "when": _when(r["t"])}
               for r in runs if r["suite"] == dashboard_lmeval.SUITE}
    d.n_lmeval_runs = len(lm_runs)
    _label_series(lm_runs)
    for series in sorted({r["series"] for r in lm_runs.values()} - set(colors)):
        colors[series] = PALETTE[len(colors) % len(PALETTE)]     # a model keeps its colour across suites
    for r in lm_runs.values():
        r["color"] = colors[r["series"]]
    lm_points = []
    if lm_runs:
        lm_metrics = _rows(con, """select run_id, pack_id, slice, metric, value, n, ci_low, ci_high from metrics
                                   where suite = $suite and value is not null""", suite=dashboard_lmeval.SUITE)
        lm_points, d.lmeval, d.lmeval_metrics = dashboard_lmeval.gather(lm_runs, lm_metrics)

    item_runs = _rows(con, "select run_id, suite, model, prompt_template, started_at from runs where suite = $suite",
                      suite=SUITE)
    item_rows = _rows(con, f"select {', '.join([*item_store.COLUMNS, HEADLINE])} from items where suite = $suite",
                      suite=SUITE)
    d.items = _item_analysis(item_rules.analyse(item_runs, item_rows, HEADLINE), colors)
    d.charts = _charts(d, pack_rows, lang_rows, perf, colors, lm_points)
    return d


def _label_series(runs: dict[str, dict]) -> None:
    """A series is one model with one prompt template (suites/items.series_labels)."""
    labels = item_rules.series_labels([{"run_id": r["run_id"], "model": r["model"], "prompt_template": r["tpl"]}
                                       for r in runs.values()])
    for r in runs.values():
        r["series"] = labels[r["run_id"]]


def _item_analysis(a: item_rules.Analysis, colors: dict[str, str]) -> dict:
    """The item analysis section: per list its rows (at most MAX_ITEMS) and its full count."""
    def row(i: item_rules.ItemStats) -> dict:
        return {"pack": i.pack_id, "item": i.item_id, "lang": i.lang or "-", "difficulty": i.difficulty or "-",
                "question": i.question, "gold": i.gold, "runs": i.runs, "flips": i.flips, "pairs": i.pairs,
                "flip_rate": i.flip_rate, "share": i.share, "discrimination": i.discrimination,
                "by": [None if (o := i.by_series.get(s)) is None else {"right": o.right, "n": o.n, "flips": o.flips}
                       for s in a.series]}

    def listed(rows: list) -> dict:
        return {"rows": [row(i) for i in rows[:MAX_ITEMS]], "count": len(rows), "hidden": max(0, len(rows) - MAX_ITEMS)}

    return {"series": [{"name": s, "color": colors.get(s, "#888"), "runs": a.runs[s]} for s in a.series],
            "n": len(a.items), "repeated": a.repeated, "discriminating": a.discriminating,
            "min_series": item_rules.MIN_SERIES, "flaky": listed(a.flaky), "never": listed(a.never),
            "always": listed(a.always), "negative": listed(a.negative), "all": listed(a.items)}


def _point(run: dict, m: dict, facet: str) -> dict:
    return {"series": run["series"], "facet": facet, "t": run["t"], "run": run["run_id"],
            "metric": m["metric"], "v": round(m["value"], 4), "n": m["n"],
            "lo": None if m["ci_low"] is None else round(m["ci_low"], 4),
            "hi": None if m["ci_high"] is None else round(m["ci_high"], 4)}


def _pooled_by_lang(runs: dict[str, dict], acc: list[dict]) -> list[dict]:
    """Per run, language and metric: the packs' `lang=` slices pooled (k = value·n summed)
    with a 95% Wilson interval; with one pack per language this is the metrics row itself."""
    pooled: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for m in acc:
        if m["slice"].startswith("lang=") and m["metric"] in METRICS and m["n"]:
            kn = pooled[(m["run_id"], m["slice"][5:], m["metric"])]
            kn[0] += round(m["value"] * m["n"])
            kn[1] += m["n"]
    out = []
    for (run_id, lang, metric), (k, n) in pooled.items():
        lo, hi = wilson(k, n)
        out.append(_point(runs[run_id], {"metric": metric, "value": k / n, "n": n,
                                          "ci_low": lo, "ci_high": hi}, lang))
    return out


def _last_two(runs: dict[str, dict]) -> dict[str, tuple[str, str]]:
    """Per series: (previous run, latest run), for series with at least two runs."""
    by_series = defaultdict(list)
    for r in runs.values():
        by_series[r["series"]].append(r)
    pairs = {}
    for series, rs in by_series.items():
        rs.sort(key=lambda r: (r["t"] or 0, r["run_id"]))
        if len(rs) >= 2:
            pairs[series] = (rs[-2]["run_id"], rs[-1]["run_id"])
    return pairs


def _flip_rows(con, reports: Path | str, pairs: dict[str, tuple[str, str]]) -> list[dict]:
    """Items answered (no error) in both runs of each pair, with both outcomes; only the
    pairs' own item files are read."""
    if not pairs:
        return []
    con.register("_pairs", pa.table({"series": list(pairs), "run_a": [a for a, _ in pairs.values()],
                                     "run_b": [b for _, b in pairs.values()]}))
    con.register("_pair_items", store.read(reports, "items", run_ids={r for p in pairs.values() for r in p}))
    return _rows(con, f"""
        select p.series, b.pack_id, b.item_id, b.lang, b.question, b.gold,
               a.prediction as pred_a, b.prediction as pred_b, a.{HEADLINE} as ok_a, b.{HEADLINE} as ok_b
        from _pairs p
        join _pair_items a on a.run_id = p.run_a
        join _pair_items b on b.run_id = p.run_b and b.pack_id = a.pack_id and b.item_id = a.item_id
        where a.error is null and b.error is null
        order by p.series, b.pack_id, b.item_id""")


def _quoted(answer: str | None) -> str | None:
    """An answer as the page shows it: cut to COMMENT_MAX characters (the store keeps 4096)."""
    return None if answer is None else cap(answer, COMMENT_MAX)


def _flip_groups(runs: dict[str, dict], pairs: dict, rows: list[dict], rule: Thresholds) -> list[dict]:
    """Per series (its last two runs): the flipped items, right→wrong first, and per pack and
    over all packs the paired items, right→wrong and wrong→right counts and McNemar's p."""
    groups: dict[str, dict] = {}
    for r in rows:
        if r["series"] not in groups:
            a, b = pairs[r["series"]]
            groups[r["series"]] = {"series": r["series"], "color": runs[b]["color"], "run_a": a, "run_b": b,
                                   "when_a": _when(runs[a]["t"]), "when_b": _when(runs[b]["t"]),
                                   "items": [], "packs": {}}
        g = groups[r["series"]]
        pk = g["packs"].setdefault(r["pack_id"], {"pack": r["pack_id"], "paired": 0, "regressed": 0, "improved": 0})
        pk["paired"] += 1
        if bool(r["ok_a"]) != bool(r["ok_b"]):
            direction = "regressed" if r["ok_a"] else "improved"
            pk[direction] += 1
            g["items"].append(r | {"direction": direction, "pred_a": _quoted(r.get("pred_a")), "pred_b": _quoted(r.get("pred_b"))})
    for g in groups.values():
        g["packs"] = sorted(g["packs"].values(), key=lambda pk: pk["pack"])
        for k in ("paired", "regressed", "improved"):
            g[k] = sum(pk[k] for pk in g["packs"])
        for c in [g, *g["packs"]]:
            j = judge(c["regressed"], c["improved"], c["paired"], rule)
            c["p"], c["verdict"] = j.p, "worse" if j.worse else "better" if j.better else "steady"
        g["items"].sort(key=lambda i: (i["direction"] != "regressed", i["pack_id"], i["item_id"]))
        g["hidden"] = max(0, len(g["items"]) - MAX_FLIPS)
        g["items"] = g["items"][:MAX_FLIPS]
    order = {"worse": 0, "better": 1, "steady": 2}
    return sorted(groups.values(), key=lambda g: (order[g["verdict"]], g["series"]))


def _priced(c: dict) -> str:
    """How a run's (or a pack's) cost is known: `priced` (LiteLLM priced every answer),
    `partly` (some answers), `free` (the embedded model), `no price` (LiteLLM has none)."""
    if c.get("model") == "local":
        return "free"
    if not c.get("priced"):
        return "no price"
    return "priced" if c["priced"] >= c["n"] else "partly"


def _detectable(n: int | None, rate: float | None, rule: Thresholds, cache: dict) -> float | None:
    """The smallest drop a gate of `n` paired items at baseline rate `rate` detects with 80%
    power (suites/stats.min_detectable_drop); None when none is (or n or rate is unknown)."""
    if not n or rate is None:
        return None
    key = (n, round(rate, 6))
    if key not in cache:
        cache[key] = min_detectable_drop(n, rate, alpha=rule.alpha, max_drop=rule.max_drop)
    return cache[key]


def _status(runs: dict[str, dict], acc: list[dict], flips: list[dict], rule: Thresholds | None = None) -> list[dict]:
    """Per series and pack: the latest run's headline numbers, the change since the previous
    run of the series, the verdict of the flips test, and the smallest drop a gate with the
    latest run as its baseline would detect (its n items at its rate, the gate's rule)."""
    rule = rule or Thresholds()
    cache: dict = {}
    vals: dict[tuple[str, str], dict] = defaultdict(dict)
    for m in acc:
        if m["slice"] == "all":
            vals[(m["run_id"], m["pack_id"])][m["metric"]] = m
    history = defaultdict(list)
    for (run_id, pack), v in vals.items():
        history[(runs[run_id]["series"], pack)].append((runs[run_id]["t"] or 0, run_id, v))
    verdicts = {(g["series"], pk["pack"]): pk | {"run_a": g["run_a"], "run_b": g["run_b"]}
                for g in flips for pk in g["packs"]}
    out = []
    for (series, pack), hist in sorted(history.items()):
        hist.sort()
        _, run_id, v = hist[-1]
        run = runs[run_id]
        head = v.get(HEADLINE, {})
        prev = hist[-2][2].get(HEADLINE, {}).get("value") if len(hist) > 1 else None
        g = verdicts.get((series, pack))
        same_pair = g is not None and g["run_b"] == run_id and len(hist) > 1 and g["run_a"] == hist[-2][1]
        verdict = g["verdict"] if same_pair else ("first run" if len(hist) == 1 else "not paired")
        out.append({
            "series": series, "color": run["color"], "pack": pack, "run": run_id, "when": _when(run["t"]),
            "status": run["status"] or "-", "runs": len(hist), "value": head.get("value"),
            "lo": head.get("ci_low"), "hi": head.get("ci_high"), "n": head.get("n"),
            "em": v.get("em", {}).get("value"), "errors": v.get("errors", {}).get("value"),
            "p50": v.get("latency_p50_s", {}).get("value"),
            "delta": None if prev is None or head.get("value") is None else head["value"] - prev,
            "verdict": verdict, "flips": f"{g['regressed']}↓ {g['improved']}↑" if same_pair else "-",
            "p": g["p"] if same_pair else None,
            "detectable": _detectable(head.get("n"), head.get("value"), rule, cache),
        })
    order = {"worse": 0, "better": 1, "steady": 2, "not paired": 3, "first run": 4}
    out.sort(key=lambda s: (order[s["verdict"]], s["series"], s["pack"]))
    return out


def _perf_table(perf: list[dict]) -> list[dict]:
    """Per series: the latest run's latency percentiles, tokens and cost, and the run count."""
    latest: dict[str, dict] = {}
    count = defaultdict(int)
    for p in perf:
        count[p["series"]] += 1
        if p["series"] not in latest or (p["t"] or 0, p["run_id"]) > (latest[p["series"]]["t"] or 0, latest[p["series"]]["run_id"]):
            latest[p["series"]] = p
    rows = []
    for series, p in sorted(latest.items()):
        rows.append(p | {"runs": count[series], "when": _when(p["t"]),
                         "tokens_per_item": p["tokens"] / p["n"] if p["n"] else None})
    return rows


def _drift_latest(rows: list[dict], metrics: dict[tuple[str, str], dict[str, float]]) -> list[dict]:
    """The latest drift run per tokenizer, one row per language: items, items whose token ids
    changed among those with a baseline (None without a baseline) and their share, mean tokens
    per item, and that run's per-language drift metrics. The first row of each tokenizer
    carries `span`, the number of its rows."""
    latest: dict[str, tuple] = {}
    for r in rows:
        key = (r["t"] or 0, r["date"] or "", r["run_id"])
        if r["tokenizer"] not in latest or key > latest[r["tokenizer"]]:
            latest[r["tokenizer"]] = key
    out = []
    for r in rows:
        if latest[r["tokenizer"]][2] != r["run_id"]:
            continue
        based = r["with_baseline"] or 0
        out.append(r | {"when": _when(r["t"]) if r["t"] else (r["date"] or "-"),
                        "changed": r["changed"] if based else None,
                        "share": r["changed"] / based if based else None,
                        "metrics": metrics.get((r["run_id"], r["lang"]), {}), "span": 0})
    out.sort(key=lambda r: (r["tokenizer"], r["lang"] or ""))
    first: dict[str, dict] = {}
    for r in out:
        first.setdefault(r["tokenizer"], r)["span"] += 1
    return out


def _drift_metric_names(rows: list[dict]) -> list[str]:
    """The drift metrics present, the best known first."""
    present = {m for r in rows for m in r["metrics"]}
    return [m for m in DRIFT_METRICS if m in present] + sorted(present - set(DRIFT_METRICS))


# ----------------------------------------------------------------------------- charts


def _charts(d: Dashboard, pack_rows: list[dict], lang_rows: list[dict], perf: list[dict],
            colors: dict[str, str], lm_points: list[dict] | None = None) -> dict[str, dict]:
    """The Vega-Lite specs, keyed by the id of the element each is drawn into; a chart with
    no data is left out (the page says so instead)."""
    import altair as alt

    def legend(series: list[str]):
        return alt.Color("series:N", title="model", scale=alt.Scale(domain=series, range=[colors[s] for s in series]),
                         legend=alt.Legend(orient="top", labelLimit=360, symbolOpacity=1, labelFontSize=12))

    color = legend(list(colors))
    charts = {}
    latest = [s for s in d.status if s["value"] is not None]
    if latest:
        charts["chart-latest"] = _latest_chart(alt, color, latest, len(d.series))
    if pack_rows:
        d.windows["packs"] = trend_window(pack_rows)
        charts["chart-packs"] = _over_time(alt, color, "packs", "pack", len(d.packs), d.windows["packs"])
    if lang_rows:
        d.windows["langs"] = trend_window(lang_rows)
        charts["chart-langs"] = _over_time(alt, color, "langs", "language", len(d.langs), d.windows["langs"])
    if lm_points:
        lm_color = legend(sorted({p["series"] for p in lm_points}))
        d.windows["lmeval"] = trend_window(lm_points)
        charts["chart-lmeval"] = dashboard_lmeval.chart(alt, lm_color, len({p["facet"] for p in lm_points}),
                                                         d.lmeval_metrics, d.windows["lmeval"])
    if perf:
        charts["chart-latency"] = _latency_chart(alt, color, trend_window(perf) > 1)
        charts["chart-cost"] = _cost_chart(alt, color, d.has_cost, trend_window(perf) > 1)
    shares = [r["share"] for r in d.drift if r["share"] is not None]
    if shares or "fertility" in d.drift_metrics:
        charts["chart-drift"] = _drift_chart(alt, max(shares) if shares else None, "fertility" in d.drift_metrics,
                                             len({r["lang"] for r in d.drift}) * len({r["tokenizer"] for r in d.drift}))
    data = {"latest": [{k: s[k] for k in ("series", "pack", "value", "lo", "hi", "n", "run", "when")}
                       for s in latest],
            "packs": pack_rows, "langs": lang_rows, "lmeval": lm_points or [],
            "perf": [{k: p[k] for k in ("series", "t", "run_id", "p50", "p95", "tokens", "cost", "n")} for p in perf],
            "drift": [{k: r[k] for k in ("tokenizer", "lang", "n", "changed", "share", "tokens", "run_id")}
                      | {"fertility": r["metrics"].get("fertility")} for r in d.drift]}
    names = {"chart-latest": "latest", "chart-packs": "packs", "chart-langs": "langs", "chart-lmeval": "lmeval",
             "chart-latency": "perf", "chart-cost": "perf", "chart-drift": "drift"}
    specs = {}
    for cid, chart in charts.items():
        spec = chart.configure_view(stroke="#e3e6ea").configure_axis(
            labelColor="#444", titleColor="#444", gridColor="#eef0f3", domainColor="#bbb",
        ).configure(font="system-ui, -apple-system, 'Segoe UI', sans-serif").to_dict()
        spec["datasets"] = {names[cid]: data[names[cid]]}
        specs[cid] = spec
    return specs


def _latest_chart(alt, color, latest: list[dict], n_series: int):
    base = alt.Chart(alt.Data(name="latest")).encode(
        y=alt.Y("pack:N", title=None, axis=alt.Axis(labelFontSize=12, labelFontWeight="bold")),
        yOffset=alt.YOffset("series:N"), color=color)
    x = alt.X("lo:Q", title=f"{METRICS[HEADLINE]}, latest run (95% CI)",
              scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%", tickCount=10))
    rule = base.mark_rule(strokeWidth=3, opacity=0.55).encode(x=x, x2="hi:Q")
    dot = base.mark_circle(size=90, opacity=1).encode(
        x="value:Q",
        tooltip=[alt.Tooltip("series:N", title="model"), alt.Tooltip("pack:N"),
                 alt.Tooltip("value:Q", format=".1%", title=HEADLINE),
                 alt.Tooltip("lo:Q", format=".1%", title="95% CI low"),
                 alt.Tooltip("hi:Q", format=".1%", title="95% CI high"),
                 alt.Tooltip("n:Q"), alt.Tooltip("run:N"), alt.Tooltip("when:N")])
    return alt.layer(rule, dot).properties(width="container", height=alt.Step(max(14, 8 * n_series)))


def trend_window(rows: list[dict]) -> int:
    """How many runs the trend line averages: 1 (no trend line) up to 40 runs a series, then
    enough that about 25 windows span the longest series."""
    per = defaultdict(int)
    for r in rows:
        per[(r["series"], r.get("facet"), r.get("metric"))] += 1
    longest = max(per.values(), default=0)
    return 1 if longest <= 40 else round(longest / 25)


def _over_time(alt, color, name: str, what: str, facets: int, window: int):
    """Per pack or language: the share correct over time with its 95% Wilson band."""
    metric = alt.param(name="metric", value=HEADLINE, bind=alt.binding_select(
        options=list(METRICS), labels=list(METRICS.values()), name="metric: "))
    tooltip = [alt.Tooltip("series:N", title="model"), alt.Tooltip("facet:N", title=what),
               alt.Tooltip("t:T", title="started", format="%Y-%m-%d %H:%M"),
               alt.Tooltip("v:Q", format=".1%", title="value"), alt.Tooltip("lo:Q", format=".1%", title="95% CI low"),
               alt.Tooltip("hi:Q", format=".1%", title="95% CI high"), alt.Tooltip("n:Q"), alt.Tooltip("run:N")]
    return charts.over_time(alt, color, name, metric, facets, window, "share correct", tooltip)


def _latency_chart(alt, color, dense: bool):
    """p50 (solid) and p95 (dashed) answer latency per run, log scale; points unless dense."""
    point = False if dense else alt.OverlayMarkDef(size=14, filled=True)
    return alt.Chart(alt.Data(name="perf")).transform_fold(["p50", "p95"], as_=["quantile", "s"]).transform_filter(
        "isValid(datum.s) && datum.s > 0").mark_line(
        strokeWidth=1.2 if dense else 1.6, interpolate="monotone", point=point).encode(
        x=alt.X("t:T", title=None, axis=alt.Axis(labelOverlap=True, grid=False, tickCount=8)),
        y=alt.Y("s:Q", title="seconds per answer (not cached, log scale)", scale=alt.Scale(type="log")),
        color=color,
        strokeDash=alt.StrokeDash("quantile:N", title="latency", scale=alt.Scale(domain=["p50", "p95"], range=[[1, 0], [5, 3]]),
                                  legend=alt.Legend(orient="top", symbolType="stroke", symbolStrokeWidth=2,
                                                    symbolStrokeColor="#555")),
        tooltip=[alt.Tooltip("series:N", title="model"), alt.Tooltip("quantile:N"),
                 alt.Tooltip("s:Q", format=".2f", title="seconds"), alt.Tooltip("run_id:N", title="run"),
                 alt.Tooltip("t:T", title="started", format="%Y-%m-%d %H:%M")],
    ).properties(width="container", height=220)


def _cost_chart(alt, color, has_cost: bool, dense: bool):
    """Cost per run where any run has a cost, else tokens per run."""
    field, title, fmt = ("cost", "cost per run (USD)", "$.4f") if has_cost else ("tokens", "tokens per run", ",.0f")
    point = False if dense else alt.OverlayMarkDef(size=14, filled=True)
    return alt.Chart(alt.Data(name="perf")).transform_filter(f"isValid(datum.{field})").mark_line(
        strokeWidth=1.2 if dense else 1.6, interpolate="monotone", point=point).encode(
        x=alt.X("t:T", title=None, axis=alt.Axis(labelOverlap=True, grid=False, tickCount=8)),
        y=alt.Y(f"{field}:Q", title=title),
        color=color,
        tooltip=[alt.Tooltip("series:N", title="model"), alt.Tooltip(f"{field}:Q", format=fmt, title=title),
                 alt.Tooltip("tokens:Q", format=",.0f"), alt.Tooltip("n:Q", title="items"),
                 alt.Tooltip("run_id:N", title="run")],
    ).properties(width="container", height=220)


def _drift_chart(alt, top: float | None, fertility: bool, bars: int):
    """Per language, a bar per tokenizer: the share of items whose token ids changed against
    the baseline (when any run had one) and the fertility, tokens per word (when measured)."""
    base = alt.Chart(alt.Data(name="drift")).encode(
        x=alt.X("lang:N", title="language", axis=alt.Axis(labelAngle=0)), xOffset="tokenizer:N",
        color=alt.Color("tokenizer:N", scale=alt.Scale(scheme="dark2"),
                        legend=alt.Legend(orient="top", labelLimit=360, labelFontSize=12)))
    tips = [alt.Tooltip("tokenizer:N"), alt.Tooltip("lang:N"), alt.Tooltip("n:Q", title="items"),
            alt.Tooltip("changed:Q"), alt.Tooltip("share:Q", format=".0%", title="changed share"),
            alt.Tooltip("fertility:Q", format=".3f", title="tokens per word"),
            alt.Tooltip("tokens:Q", format=".1f", title="mean tokens"), alt.Tooltip("run_id:N", title="run")]
    panels = []
    width = min(560 if top is not None and fertility else 1120, 80 + 40 * bars)
    if top is not None:
        panels.append(base.transform_filter("isValid(datum.share)").mark_bar(cornerRadiusEnd=2).encode(
            y=alt.Y("share:Q", title="items whose token ids changed", axis=alt.Axis(format="%"),
                    scale=alt.Scale(domain=[0, max(0.1, top)], nice=True)),
            tooltip=tips).properties(width=width, height=200))
    if fertility:
        panels.append(base.transform_filter("isValid(datum.fertility)").mark_bar(cornerRadiusEnd=2).encode(
            y=alt.Y("fertility:Q", title="tokens per word (fertility)", scale=alt.Scale(zero=True)),
            tooltip=tips).properties(width=width, height=200))
    return panels[0] if len(panels) == 1 else alt.hconcat(*panels, spacing=40)


# ----------------------------------------------------------------------------- page


def vega_bundle() -> str:
    """The Vega + Vega-Lite + vega-embed JavaScript for Altair's Vega-Lite version, from
    vl-convert (offline); built once (a few seconds) and cached by both versions."""
    import altair as alt
    import vl_convert as vlc

    vl = ".".join(alt.VEGALITE_VERSION.split(".")[:2])
    if vl not in vlc.get_vegalite_versions():
        vl = vlc.get_vegalite_versions()[-1]
    path = cache_dir() / "vega" / f"bundle-vlc{vlc.__version__}-vl{vl}.js"
    if path.is_file():
        return path.read_text(encoding="utf-8")
    js = vlc.javascript_bundle(vl_version=vl)
    write_atomic(path, js)
    return js


def _finite(value):
    """`value` with every NaN or infinite float replaced by None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def script_json(value) -> str:
    """JSON safe inside a <script> element: `<`, `>` and `&` written as \\u escapes; NaN and
    infinities become null."""
    text = json.dumps(_finite(value), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _pct(v) -> str:
    return "-" if v is None else f"{v:.0%}"


def _points(v) -> str:
    """A detectable drop (a share) as whole points: "15 pts"."""
    return "none" if v is None else f"{round(v * 100)} pts"


def _usd(v, price: str) -> str:
    """A cost cell: dollars where LiteLLM priced the answers, else why there is none."""
    if price == "free":
        return "$0 (embedded)"
    if price == "no price" or v is None:
        return "unknown: LiteLLM has no price"
    return f"${v:.4f}" + (" (part priced)" if price == "partly" else "")


def _signed(v) -> str:
    if v is None:
        return "-"
    pts = v * 100
    return "±0 pts" if abs(pts) < 0.05 else f"{pts:+.0f} pts"


def _num(v, fmt: str = ".2f", unit: str = "") -> str:
    return "-" if v is None else f"{format(v, fmt)}{unit}"


def render(d: Dashboard) -> str:
    """The page's HTML: the Jinja template (autoescaped) with the charts' specs and the
    Vega bundle inlined, so the file works alone from a file:// URL."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(pct=_pct, signed=_signed, num=_num, points=_points)
    env.globals.update(usd=_usd)
    bundle = vega_bundle().replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")
    return env.get_template(TEMPLATE).render(
        d=d, metrics=METRICS, headline=HEADLINE, specs_json=script_json(d.charts),
        vega_bundle=bundle)
