"""The commands that read the report store: runs, show, compare, items, report, compact, baseline update."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from tinyqa.cli.base import app, baseline_app, metric_names, Reports
from tinyqa.cli import render
from tinyqa.cli.render import out
from tinyqa.errors import InputError
from tinyqa.settings import DEFAULT_REPORTS
from tinyqa.text import terminal


@app.command()
def runs(reports: Reports = DEFAULT_REPORTS,
         limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20) -> None:
    """List recent runs in the report store."""
    from tinyqa.reports import store

    rows = sorted(store.read(reports, "runs").to_pylist(), key=lambda r: r["started_at"], reverse=True)
    table = Table("run", "started", "suite", "model", "packs", "template", "status")
    for r in rows[:limit]:
        table.add_row(r["run_id"], f"{r['started_at']:%Y-%m-%d %H:%M}", r["suite"], r["model"],
                      ",".join(r["pack_ids"] or []), r["prompt_template"] or "-", r["status"])
    out.print(table)


@app.command()
def show(run_id: Annotated[str, typer.Argument(help="A run id (see `tinyqa runs`).")],
         reports: Reports = DEFAULT_REPORTS) -> None:
    """One run's summary: per pack n, EM, contains, latency, errors."""
    from tinyqa.reports import history, store
    from tinyqa.suites.result import RunResult

    row = history.find_run(reports, run_id)
    out.print(render.summary(RunResult(row, metrics=store.run_rows(reports, "metrics", run_id))))
    out.print(f"{row['started_at']:%Y-%m-%d %H:%M:%S} · template {row['prompt_template']} · "
              f"git {(row['git_sha'] or '-')[:10]} · {row['trigger']} · {row['status']}")
    render.notes(row.get("notes") or [])


@app.command()
def compare(
    run_a: Annotated[str, typer.Argument(help="The reference run.")],
    run_b: Annotated[str, typer.Argument(help="The run compared with it.")],
    metric: Annotated[str, typer.Option(help=f"{metric_names()}.")] = "contains",
    reports: Reports = DEFAULT_REPORTS,
) -> None:
    """Item flips between two runs, per-slice deltas, and an exact McNemar test on the pairs."""
    from tinyqa.reports import history

    c = history.compare(reports, run_a, run_b, metric)
    table = Table("pack", "slice", run_a, run_b, "delta", title=f"{metric}: {run_a} → {run_b}")
    for d in c.deltas:
        if d["delta"] or d["slice"] == "all":
            table.add_row(d["pack_id"], d["slice"], f"{d['a']:.0%}", f"{d['b']:.0%}", f"{d['delta']:+.0%}")
    out.print(table)
    for label, flipped in (("right → wrong", c.regressed), ("wrong → right", c.improved)):
        for f in flipped:
            out.print(f"{label}  {f['pack_id']}/{f['item_id']}  {f['question']!r}  gold {f['gold']!r}  "
                      f"was {f['prediction_a']!r}  now {f['prediction']!r}", markup=False)
    out.print(f"{c.paired} paired items · {len(c.regressed)} right→wrong · {len(c.improved)} wrong→right · "
              f"exact McNemar p = {c.p_value:.3g}")


def _share(o) -> str:
    return "-" if o is None or not o.n else f"{o.right}/{o.n}"


def _short(text: str | None, width: int = 70) -> str:
    text = " ".join((text or "").split())
    return terminal(text if len(text) <= width else text[:width - 1] + "…")   # untrusted: markup, escapes as text


@app.command("items")
def items_cmd(
    reports: Reports = DEFAULT_REPORTS,
    packs: Annotated[Optional[str], typer.Option(help="Pack ids, comma-separated (default: every pack in the store).")] = None,
    metric: Annotated[str, typer.Option(help=f"{metric_names()}.")] = "contains",
    last: Annotated[Optional[int], typer.Option(min=1, help="Only each model's latest N runs (default: all).")] = None,
    show: Annotated[int, typer.Option(min=0, help="Items to print per list.")] = 30,
    per_item: Annotated[bool, typer.Option("--per-item", help="Print every item's share right per model.")] = False,
    reference: Annotated[Optional[str], typer.Option(help="Models (as listed) whose shares set the difficulty tags "
                                                          "(packs/README.md): print the items whose tag would change.")] = None,
) -> None:
    """Item analysis over the report store: per item and model the share of runs answering it
    right, flaky items (the outcome changed between consecutive runs of one model), items no
    run answers (suspect gold) and items every run answers (no signal), and with three models
    or more each item's discrimination (point-biserial, item against the rest of its pack)."""
    from tinyqa.reports import items as item_store
    from tinyqa.suites import items as rules

    a = item_store.analyse(reports, metric, packs.split(",") if packs else None, last)
    refs = reference.split(",") if reference else []
    for r in refs:
        if r not in a.series:
            raise InputError(f"--reference: no tiny QA runs of {r!r} in {reports} (models: {', '.join(a.series) or 'none'})")
    out.print(f"{sum(a.runs.values())} tiny QA run(s) of {len(a.series)} model(s) · {len(a.items)} items · "
              f"metric {metric}", markup=False)
    for s in a.series:
        right = [i.share_of(s) for i in a.items if i.share_of(s) is not None]
        mean = f"{sum(right) / len(right):.0%} of {len(right)} items" if right else "no items"
        out.print(f"  {s}: {a.runs[s]} run(s), {mean}", markup=False)

    def listing(title: str, rows, cols, cells) -> None:
        rows = list(rows)
        table = Table(*cols, title=f"{title} ({len(rows)})")
        for i in rows[:show]:
            table.add_row(*cells(i))
        out.print(table)
        if len(rows) > show:
            out.print(f"… and {len(rows) - show} more (--show)", markup=False)

    who = a.series
    if a.repeated:
        listing("flaky: the outcome changed between consecutive runs of one model", a.flaky,
                ["item", "lang", "flips", *who, "question", "gold"],
                lambda i: [f"{i.pack_id}/{i.item_id}", i.lang or "-",
                           f"{i.flips}/{i.pairs} ({i.flip_rate:.0%})", *(_share(i.by_series.get(s)) for s in who),
                           _short(i.question), _short(i.gold, 30)])
    else:
        out.print("flaky: no model has two runs here, so no flip rate (repeat a run; at temperature 0 with a "
                  "seed most endpoints answer alike)", markup=False)
    listing("never right: suspect gold, or beyond every model here", a.never,
            ["item", "lang", "difficulty", "runs", "question", "gold"],
            lambda i: [f"{i.pack_id}/{i.item_id}", i.lang or "-", i.difficulty or "-", str(i.runs),
                       _short(i.question), _short(i.gold, 30)])
    listing("always right: no signal between these models", a.always,
            ["item", "lang", "difficulty", "runs", "question"],
            lambda i: [f"{i.pack_id}/{i.item_id}", i.lang or "-", i.difficulty or "-", str(i.runs), _short(i.question)])
    if a.discriminating:
        listing("negative discrimination: the models that score better on the pack miss it more",
                a.negative,
                ["item", "lang", "discrimination", *who, "question", "gold"],
                lambda i: [f"{i.pack_id}/{i.item_id}", i.lang or "-", f"{i.discrimination:+.2f}",
                           *(_share(i.by_series.get(s)) for s in who), _short(i.question), _short(i.gold, 30)])
    else:
        out.print(f"discrimination: needs {rules.MIN_SERIES} models or more ({len(a.series)} here)", markup=False)
    if per_item:
        table = Table("item", "lang", "difficulty", *who, "flips", "discrimination", title=f"per item: runs right ({metric})")
        for i in a.items:
            table.add_row(f"{i.pack_id}/{i.item_id}", i.lang or "-", i.difficulty or "-",
                          *(_share(i.by_series.get(s)) for s in who),
                          "-" if i.flip_rate is None else f"{i.flips}/{i.pairs}",
                          "-" if i.discrimination is None else f"{i.discrimination:+.2f}")
        out.print(table)
    if refs:
        changes = rules.difficulty_changes(a, refs)
        listing(f"difficulty by the rule of packs/README.md, measured by {', '.join(refs)}", changes,
                ["item", "lang", "tagged", "measured", *refs, "question"],
                lambda c: [f"{c.item.pack_id}/{c.item.item_id}", c.item.lang or "-", c.item.difficulty or "-",
                           c.measured, *(_share(c.item.by_series.get(r)) for r in refs), _short(c.item.question)])


@app.command()
def report(
    reports: Reports = DEFAULT_REPORTS,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the dashboard (index.html).")] = Path("site"),
) -> None:
    """Build the static dashboard: one self-contained index.html (no server, no network)."""
    from tinyqa.reports.dashboard import build

    page = build(reports, out_dir)
    out.print(f"dashboard written to {page} (open file://{page.resolve()})", markup=False)


@app.command()
def compact(
    reports: Reports = DEFAULT_REPORTS,
    older_than: Annotated[int, typer.Option(min=1, help="Compact the days at least this many days before today "
                                                       "(UTC); 2 leaves yesterday, whose runs may still be running.")] = 2,
) -> None:
    """Rewrite each closed day of every report table as one file, for stores with many runs
    (an object store lists and opens each file: docs/scale.md). Readers see the run files or
    the compacted file, never both."""
    from datetime import datetime, timedelta, timezone

    from tinyqa.reports.compaction import compact as compact_store

    through = datetime.now(timezone.utc).date() - timedelta(days=older_than)
    done = compact_store(reports, through)
    table = Table("table", "day", "run files", "rows", title=f"compacted through {through}")
    for c in done:
        table.add_row(c.table, c.date, str(c.files), str(c.rows))
    out.print(table if done else f"nothing to compact through {through}", markup=False)


@baseline_app.command("update")
def baseline_update(
    run_id: Annotated[str, typer.Argument(help="The stored run to take as the baseline.")],
    out_file: Annotated[Path, typer.Option("--out", help="The baseline file to write.")],
    reports: Reports = DEFAULT_REPORTS,
) -> None:
    """Write a gate baseline (each item's outcome and answer) from a stored run."""
    import json

    from tinyqa.files import write_atomic
    from tinyqa.reports import history

    data = history.baseline(reports, run_id)
    write_atomic(out_file, json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    out.print(f"baseline written to {out_file}: run {run_id}, {len(data['items'])} items")


