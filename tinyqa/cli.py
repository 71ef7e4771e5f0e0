"""The `tinyqa` command line: it parses options, checks what can be checked cheaply, calls a
flow (or, for the commands that ask no model, the one function that does the work) and
renders the result. Every command has --help; errors are one line. Exit codes: 0 pass, 1 a
regression or a failed check, 2 a usage or input error, 3 an infrastructure failure
(docs/architecture.md)."""
from __future__ import annotations

import atexit
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from tinyqa import phases, runinfo, startup
from tinyqa.errors import InputError, TinyQAError
from tinyqa.settings import DEFAULT_REPORTS

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Tiny multilingual QA packs, tokenizer drift and lm-eval suites as a model gate.")
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)

Reports = Annotated[str, typer.Option("--reports", help="Report store: a folder or a filesystem URL (s3://…, gs://…).")]
PacksOpt = Annotated[str, typer.Option("--packs", help="Pack ids or pack folders, comma-separated.")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Ask the model even when a cached answer exists.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's logs.")]
ModelOpt = Annotated[str, typer.Option(help="LiteLLM model string, or `local` for the embedded model.")]
ApiBase = Annotated[Optional[str], typer.Option(help="Base URL of an OpenAI-compatible (or the provider's own) server.")]


def _metric_names() -> str:
    from tinyqa.suites.scoring import PROPORTIONS

    return ", ".join(PROPORTIONS)


# --- rendering ----------------------------------------------------------------------------

def _summary(result) -> Table:
    """Per pack: n, EM, contains, p50 latency and errors, from a run's metrics rows."""
    rows = {(m["pack_id"], m["metric"]): m for m in result.metrics if m["slice"] == "all"}
    table = Table("pack", "n", "EM", "contains", "p50 latency", "errors",
                  title=f"run {result.run_id} · {result.run['model']}")
    for pack_id in result.run["pack_ids"]:
        def pct(metric):
            v = rows.get((pack_id, metric), {}).get("value")
            return "-" if v is None else f"{v:.0%}"
        p50 = rows.get((pack_id, "latency_p50_s"), {}).get("value")
        errs = rows[(pack_id, "errors")]
        table.add_row(pack_id, str(errs["n"]), pct("em"), pct("contains"),
                      "-" if p50 is None else f"{p50:.2f} s", f"{errs['value']:.0f}")
    return table


def _notes(notices: list[str]) -> None:
    for n in notices:
        out.print(f"note: {n}", markup=False)


def _finish(result, reports: str) -> None:
    """Print a tiny QA run and leave with its exit code (3 errors, 1 a failed floor)."""
    from tinyqa.suites.result import exit_code

    out.print(_summary(result))
    _notes(result.notices)
    out.print(f"reports written to {reports}/ (run {result.run_id})", markup=False)
    if result.errors:
        err.print(f"tinyqa: {result.errors} item(s) failed beyond the retry budget (see the items report)")
    for c in result.checks:
        if not c.passed:
            err.print(f"FAIL {c.pack_id}: {c.message}", markup=False)
    raise typer.Exit(exit_code([result]))


# --- commands -------------------------------------------------------------------------------

@app.command("packs")
def packs_cmd() -> None:
    """List the shipped packs: id, languages, items, size and sha256 of data.jsonl."""
    import hashlib

    from tinyqa.pack import DATA_FILE, load_pack, shipped_dir, shipped_ids

    table = Table("pack", "langs", "items", "size", "sha256")
    for pid in shipped_ids():
        pack = load_pack(shipped_dir() / pid)
        data = (pack.path / DATA_FILE).read_bytes()
        table.add_row(pid, ",".join(pack.langs), str(len(pack.items)), f"{len(data) / 1024:.1f} kB",
                      hashlib.sha256(data).hexdigest()[:16])
    out.print(table)


@app.command()
def describe(pack_dir: Annotated[Path, typer.Argument(help="A pack folder, or a folder of packs.")]) -> None:
    """Fill in each item's id and sha256 and (re)write the pack's croissant.json; for a folder
    of packs, every pack and an index croissant.json for the folder."""
    from tinyqa.pack import DATA_FILE, describe_pack
    from tinyqa.validators import croissant
    from tinyqa.validators.validate import pack_dirs

    packs = [describe_pack(d) for d in pack_dirs([pack_dir])]
    for pack in packs:
        out.print(f"{pack.path}: {len(pack.items)} items described; croissant.json written", markup=False)
    if not (pack_dir / DATA_FILE).is_file():
        out.print(f"{croissant.write_index(pack_dir, packs)}: index of {len(packs)} packs", markup=False)


@app.command()
def run(
    model: Annotated[Optional[str], typer.Option(help="LiteLLM model string, or `local` for the embedded model.")] = None,
    packs: PacksOpt = "core_en",
    api_base: Annotated[Optional[str], typer.Option(help="Base URL of the model's server (with --resume: instead of the recorded one).")] = None,
    template: Annotated[str, typer.Option(help="Prompt template name or TOML file.")] = "qa-v1",
    concurrency: Annotated[Optional[int], typer.Option(min=1, max=256, help="Requests in flight (default 16; 1 for `local`).")] = None,
    no_cache: NoCache = False,
    resume: Annotated[Optional[str], typer.Option(help="Finish an interrupted run: its answered items are not asked again.")] = None,
    min_em: Annotated[float, typer.Option(min=0, max=1, help="Fail below this EM per pack.")] = 0.0,
    min_contains: Annotated[float, typer.Option(min=0, max=1, help="Fail below this contains per pack.")] = 0.0,
    reports: Reports = DEFAULT_REPORTS,
    verbose: Verbose = False,
) -> None:
    """Run the tiny QA suite on any model and packs; write reports; print the summary."""
    if resume:
        from tinyqa.reports.checkpoint import Checkpoint

        checkpoint = Checkpoint.load(reports, resume)
        meta, api_base = checkpoint.meta, checkpoint.resume_api_base(api_base)
        model, packs, template = meta["model"], ",".join(meta["packs"]), meta["template"]
    elif model is None:
        raise InputError("--model is required (or --resume RUN_ID)")
    startup.check_run_inputs(model, packs, api_base, template)
    startup.start_flows(verbose, model, api_base)
    from tinyqa.flows.qa import qa_run

    phases.mark("flows imported")
    started = time.time()
    try:
        result = qa_run(model=model, packs=packs.split(","), api_base=runinfo.hidden(api_base), template=template,
                        concurrency=concurrency, use_cache=not no_cache, reports=reports, resume=resume,
                        min_em=min_em, min_contains=min_contains)
    except KeyboardInterrupt:
        _resume_hint(reports, started)
        raise
    _finish(result, reports)


def _resume_hint(reports: str, since: float) -> None:
    from tinyqa.reports.checkpoint import Checkpoint

    folder = Checkpoint.folder(reports)
    for cp in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        if cp.stat().st_mtime >= since:
            err.print(f"tinyqa: interrupted; answered items are kept: finish with `tinyqa run --resume {cp.stem}"
                      f"{'' if reports == DEFAULT_REPORTS else f' --reports {reports}'}`", markup=False)


@app.command()
def smoke(
    packs: PacksOpt = "core_en",
    reports: Reports = DEFAULT_REPORTS,
    min_contains: Annotated[Optional[float], typer.Option(min=0, max=1, help="Fail below this contains per pack (default 0.3).")] = None,
    no_cache: NoCache = False,
    verbose: Verbose = False,
) -> None:
    """The main job: the embedded local model answers core_en; reports written; pass/fail on floors."""
    startup.check_run_inputs("local", packs, None, "qa-v1")
    startup.start_flows(verbose)
    from tinyqa.flows.qa import smoke as smoke_flow

    floor = {} if min_contains is None else {"min_contains": min_contains}
    _finish(smoke_flow(packs=packs.split(","), use_cache=not no_cache, reports=reports, **floor), reports)


@app.command()
def validate(paths: Annotated[list[Path], typer.Argument(help="Pack folders or folders of packs.")]) -> None:
    """Check packs: the pack model with ids and hashes recomputed, the Great Expectations suite
    and the Croissant records. Exit 1 when anything fails; the packs are never written to."""
    from tinyqa.validators.validate import pack_dirs, validate_pack

    failed = 0
    for d in pack_dirs(paths):
        problems = validate_pack(d)
        for p in problems:
            out.print(f"{d.name}: {p}", markup=False)
        out.print(f"{d.name}: {'FAIL' if problems else 'ok'}", markup=False)
        failed += bool(problems)
    raise typer.Exit(1 if failed else 0)


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
    out.print(_summary(RunResult(row, metrics=store.run_rows(reports, "metrics", run_id))))
    out.print(f"{row['started_at']:%Y-%m-%d %H:%M:%S} · template {row['prompt_template']} · "
              f"git {(row['git_sha'] or '-')[:10]} · {row['trigger']} · {row['status']}")
    _notes(row.get("notes") or [])


@app.command()
def compare(
    run_a: Annotated[str, typer.Argument(help="The reference run.")],
    run_b: Annotated[str, typer.Argument(help="The run compared with it.")],
    metric: Annotated[str, typer.Option(help=f"{_metric_names()}.")] = "contains",
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
    return text if len(text) <= width else text[:width - 1] + "…"


@app.command("items")
def items_cmd(
    reports: Reports = DEFAULT_REPORTS,
    packs: Annotated[Optional[str], typer.Option(help="Pack ids, comma-separated (default: every pack in the store).")] = None,
    metric: Annotated[str, typer.Option(help=f"{_metric_names()}.")] = "contains",
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
def generate(
    languages: Annotated[str, typer.Option(help="Language codes (BCP-47), comma-separated: fr,de.")],
    categories: Annotated[str, typer.Option(help="Categories, comma-separated: science,history.")],
    n: Annotated[int, typer.Option("--n", help="Items in the pack, shared evenly across languages, then categories.")],
    model: ModelOpt,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="The pack folder to write; its name is the pack id.")] = None,
    difficulty: Annotated[str, typer.Option(help="easy, medium or hard.")] = "medium",
    api_base: ApiBase = None,
    context: Annotated[Optional[str], typer.Option(help="Domain notes the items should be about.")] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed sent to the model; also picks the exemplars.")] = 0,
    avoid: Annotated[Optional[str], typer.Option(help="Packs (ids or folders, comma-separated) whose questions must not be repeated.")] = None,
    allow_partial: Annotated[bool, typer.Option("--allow-partial", help="Write the valid items obtained even when some are missing (exit 0).")] = False,
    str_output: Annotated[bool, typer.Option("--str-output", help="Print the items as JSONL to stdout (the summary goes to stderr).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing non-empty --out folder.")] = False,
    batch_size: Annotated[Optional[int], typer.Option(help="Items asked for per request (default 8; 4 for `local`).")] = None,
    max_calls: Annotated[Optional[int], typer.Option(help="Request budget (default: 3 × the requests a run without rejections needs, + 2 a language).")] = None,
    max_tokens: Annotated[Optional[int], typer.Option(help="Token budget, prompt and completion, over all requests.")] = None,
    max_cost: Annotated[Optional[float], typer.Option(help="Cost budget in USD (counted where LiteLLM knows the price).")] = None,
    published: Annotated[Optional[str], typer.Option("--date", help="croissant.json's datePublished, YYYY-MM-DD (default: kept from --out, else today).")] = None,
    no_cache: NoCache = False,
    verbose: Verbose = False,
) -> None:
    """Generate a pack: exactly N valid items over the languages and categories, or exit 1
    saying what could not be obtained (nothing written unless --allow-partial)."""
    from tinyqa.generators import generate as gen

    spec = gen.make_spec(languages, categories, n, model, difficulty=difficulty, api_base=api_base, context=context,
                         seed=seed, avoid=avoid, batch_size=batch_size, max_calls=max_calls, max_tokens=max_tokens,
                         max_cost_usd=max_cost, published=published)
    gen.check_out(out_dir, force=force, str_output=str_output)
    startup.start_flows(verbose)
    import asyncio

    from tinyqa.flows.generate import generate_pack

    result = asyncio.run(generate_pack(spec, api_base=runinfo.hidden(api_base), out=str(out_dir) if out_dir else None,
                                       allow_partial=allow_partial, force=force, use_cache=not no_cache))
    console = err if str_output else out
    for line in gen.report_lines(result):
        console.print(line, markup=False)
    if not result["complete"]:
        err.print(f"tinyqa: {gen.missing_line(result)}", markup=False)
        if not allow_partial or not any(result["kept"].values()):
            err.print("tinyqa: nothing written (--allow-partial writes the valid items obtained, if any)")
            raise typer.Exit(1)
    if str_output and (result["complete"] or allow_partial):
        sys.stdout.write(result["jsonl"])
    if result["written"]:
        console.print(f"{result['written']}: {sum(result['kept'].values())} items written", markup=False)


def _tokens(pieces: list[str]) -> str:
    return "".join(f"[{p}]" for p in pieces).replace("\n", "\\n")


@app.command()
def drift(
    tokenizer: Annotated[str, typer.Option(help="`local`, `gemma3-270m`, a .gguf / tokenizer.json / tokenizer folder, "
                                                "tiktoken:NAME, or a model name or string resolvable offline.")],
    packs: Annotated[Optional[str], typer.Option(help="Pack ids or folders, comma-separated (default: every shipped pack).")] = None,
    baseline: Annotated[Optional[Path], typer.Option(help="Compare with this baseline file; exit 1 on drift.")] = None,
    write_baseline: Annotated[Optional[Path], typer.Option(help="Write the fingerprint here as a new baseline.")] = None,
    max_changed: Annotated[int, typer.Option(min=0, help="Items allowed to tokenize differently.")] = 0,
    max_metric_delta: Annotated[float, typer.Option(min=0, help="Allowed metric change: absolute for rates, relative above 1.")] = 0.01,
    fail_on_identity: Annotated[bool, typer.Option(help="Fail when an identity part (vocab, merges, template, ...) changed.")] = True,
    show: Annotated[int, typer.Option(min=0, help="Changed items to print.")] = 20,
    reports: Reports = DEFAULT_REPORTS,
) -> None:
    """Tokenizer drift: fingerprint a tokenizer on the packs (no model is called), show its
    per-language metrics, compare with a baseline (exit 0 no drift, 1 drift) and write reports.
    Regenerate the shipped baseline: `tinyqa drift --tokenizer local --write-baseline packs/baselines/drift-local.json`."""
    from tinyqa.reports import store
    from tinyqa.suites import drift as drift_suite

    res = drift_suite.run(tokenizer, packs.split(",") if packs else None, baseline, write_baseline,
                          drift_suite.Limits(max_changed, max_metric_delta, fail_on_identity))
    store.write_run(reports, res)
    d, t = res.details, res.details["timings"]
    out.print(f"tokenizer {d['tokenizer']['spec']} ({d['tokenizer']['kind']}: {d['tokenizer']['name']}) · "
              f"{d['items']} items in {len(d['packs'])} packs · load {t['load_s']:.2f} s · "
              f"fingerprint {t['fingerprint_s'] * 1000:.0f} ms · metrics {t['metrics_s'] * 1000:.0f} ms", markup=False)
    compared = "changed" in d
    deltas = {(x["lang"], x["metric"]): x for x in d.get("metric_deltas", [])}
    cols = {"fertility": "fertility", "chars_per_token": "chars/tok", "split_word_rate": "split words",
            "single_token_retention": "single-token", "byte_fallback_rate": "byte/partial",
            "roundtrip_fidelity": "round-trip", "digits_per_token": "digits/tok", "digit_group_max": "max digits"}
    values = {(m["slice"].removeprefix("lang="), m["metric"]): m["value"] for m in res.metrics if m["slice"] != "all"}
    table = Table("lang", *cols.values(), title="per-language metrics" + (" (Δ vs baseline, shared items)" if compared else ""))
    for lang in sorted({lang for lang, _ in values}):
        cells = []
        for metric in cols:
            value = values.get((lang, metric))
            cell = "-" if value is None else f"{value:.3f}"
            x = deltas.get((lang, metric))
            if x and x["delta"]:
                cell += f" ({x['delta']:+.3f}{'!' if x['breach'] else ''})"
            cells.append(cell)
        table.add_row(lang, *cells)
    out.print(table)
    if compared:
        for x in d["identity_changed"]:
            out.print(f"identity changed: {x['part']}: {x['old'] or '-'} → {x['new'] or '-'}", markup=False)
        for x in d["changed"][:show]:
            for part in x["parts"]:
                same = " (same pieces, other ids)" if x["old"][part] == x["new"][part] else ""
                out.print(f"changed {x['pack_id']}/{x['item_id']} [{x['lang']}] {part}: "
                          f"{_tokens(x['old'][part])} → {_tokens(x['new'][part])}{same}", markup=False)
        if len(d["changed"]) > show:
            out.print(f"… and {len(d['changed']) - show} more changed items (see {reports}/drift)", markup=False)
        out.print(f"{len(d['changed']) + d['unchanged']} items compared with {baseline}: {len(d['changed'])} changed, "
                  f"{d['new']} new (not in the baseline), {d['missing']} missing", markup=False)
    out.print(f"reports written to {reports}/ (run {res.run_id})", markup=False)
    if d.get("baseline_written"):
        out.print(f"baseline written to {d['baseline_written']} ({d['items']} items)", markup=False)
    for f in d.get("failures", []):
        err.print(f"FAIL {f}", markup=False)
    if compared and res.passed:
        out.print(f"no drift against {baseline}", markup=False)
    raise typer.Exit(0 if res.passed else 1)


baseline_app = typer.Typer(help="Gate baselines: make one from a stored run.", no_args_is_help=True)
app.add_typer(baseline_app, name="baseline")


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


@app.command()
def gate(
    model: ModelOpt,
    packs: PacksOpt = "core_en",
    baseline: Annotated[Optional[Path], typer.Option(help="Baseline file (default: the latest comparable passing run in --reports).")] = None,
    api_base: ApiBase = None,
    template: Annotated[str, typer.Option(help="Prompt template name or TOML file.")] = "qa-v1",
    tokenizer: Annotated[Optional[str], typer.Option(help="Tokenizer for drift (default: the model's own, if known offline).")] = None,
    drift_baseline: Annotated[Optional[Path], typer.Option(help="Drift baseline (default: packs/baselines/drift-<tokenizer>.json).")] = None,
    repeats: Annotated[int, typer.Option(min=1, max=15, help="Runs per item; the verdict uses the per-item majority.")] = 1,
    junit: Annotated[Optional[Path], typer.Option(help="Write a JUnit XML report here.")] = None,
    markdown: Annotated[Optional[Path], typer.Option(help="Write the verdict as Markdown here (a pull-request comment).")] = None,
    metric: Annotated[Optional[str], typer.Option(help=f"{_metric_names()} (default contains).")] = None,
    min_em: Annotated[Optional[float], typer.Option(help="Floor for EM per pack.")] = None,
    min_contains: Annotated[Optional[float], typer.Option(help="Floor for contains per pack.")] = None,
    max_drop: Annotated[Optional[float], typer.Option(help="Largest tolerated drop per pack and language (default 0.05).")] = None,
    alpha: Annotated[Optional[float], typer.Option(help="Significance level of the paired test (default 0.05).")] = None,
    max_drifted: Annotated[Optional[int], typer.Option(help="Items allowed to tokenize differently (default 0).")] = None,
    strict_baseline: Annotated[bool, typer.Option("--strict-baseline", help="Refuse (exit 2) a baseline made with another prompt template, decoding or scorer version.")] = False,
    quarantine: Annotated[bool, typer.Option("--quarantine", help="Leave flaky items (right and wrong in identical earlier runs) out of the drop test; still reported.")] = False,
    max_usd: Annotated[Optional[float], typer.Option("--max-usd", min=0, help="Refuse (exit 2) before any request when the expected cost is above this.")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the verdict as JSON here.")] = None,
    no_cache: NoCache = False,
    reports: Reports = DEFAULT_REPORTS,
    verbose: Verbose = False,
) -> None:
    """The pull-request gate: drift + tiny QA against a baseline; exit 1 on a regression, 3 on
    an infrastructure failure. Thresholds come from the gate table of tinyqa.toml, overridden here."""
    started = time.perf_counter()
    overrides = {"metric": metric, "min_em": min_em, "min_contains": min_contains, "max_drop": max_drop,
                 "alpha": alpha, "max_drifted": max_drifted}
    startup.check_run_inputs(model, packs, api_base, template)
    from tinyqa.suites import gate as gate_suite
    from tinyqa.suites.result import exit_code

    gate_suite.thresholds(overrides)
    if baseline is not None:
        gate_suite.load_baseline(baseline)
    startup.start_flows(verbose, model, api_base)
    estimate = _cost_before_asking(model, packs, template, repeats, max_usd)
    from tinyqa.flows.gate import gate as gate_flow
    from tinyqa.reports import markdown as md

    result = gate_flow(model=model, packs=packs.split(","), baseline=str(baseline) if baseline else None,
                       api_base=runinfo.hidden(api_base), template=template, tokenizer=tokenizer,
                       drift_baseline=str(drift_baseline) if drift_baseline else None, repeats=repeats,
                       overrides=overrides, use_cache=not no_cache, reports=reports,
                       strict_baseline=strict_baseline, quarantine=quarantine, estimate=estimate)
    table = Table("pack", "check", "result", "detail", title=f"tinyqa gate · {model}")
    for c in result.checks:
        table.add_row(c.group, c.name, "pass" if c.passed else "[bold red]FAIL[/]", c.message)
    out.print(table)
    for c in result.checks:
        for d in ([] if c.passed else c.details[:20]):
            out.print(f"  {c.group}: {d}", markup=False)
    _notes(result.notes)
    if junit:
        from tinyqa.reports import junit as junit_xml

        junit_xml.write(junit, result.checks, time_s=time.perf_counter() - started,
                        properties={"model": model, "baseline": (result.baseline and result.baseline.ref) or "none",
                                    "runs": ",".join(r.run_id for r in result.qa)})
    if json_out:
        from tinyqa.reports import verdict as verdict_json

        verdict_json.write(json_out, result)
    text = md.gate(result)
    if markdown:
        from tinyqa.files import write_atomic

        write_atomic(markdown, text)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as f:
            f.write(text)
    if os.environ.get("GITHUB_OUTPUT"):   # a step output of GitHub Actions (the tinyqa action's run-id)
        with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as f:
            f.write(f"run-id={','.join(r.run_id for r in result.qa)}\n")
    said = {"pass": "passed", "fail": "FAILED", "inconclusive": "passed, inconclusive", "error": "FAILED (errors)"}
    out.print(f"gate {said[result.verdict]} in {time.perf_counter() - started:.1f} s")
    if result.errors:
        err.print(f"tinyqa: {result.errors} item(s) failed beyond the retry budget: infrastructure, not a regression")
    raise typer.Exit(exit_code(result.qa, result.checks))


def _cost_before_asking(model: str, packs: str, template: str, repeats: int, max_usd: float | None):
    """Print the run's expected cost (models/cost.py) before the first request; InputError
    (exit 2) when it is above `max_usd`, or unknown while `max_usd` is set."""
    from tinyqa import config
    from tinyqa.models import cost
    from tinyqa.pack import resolve_packs
    from tinyqa.suites.templates import load_template

    est = cost.estimate(model, resolve_packs(packs), load_template(template), repeats,
                        config.model_settings(model).get("max_tokens"))
    out.print(est.sentence, markup=False)
    if max_usd is not None and est.usd is None:
        raise InputError(f"--max-usd {max_usd:g}: LiteLLM has no price for {model}, so the cost cannot be bounded")
    if max_usd is not None and est.usd > max_usd:
        raise InputError(f"--max-usd {max_usd:g}: the expected cost ${est.usd:.4f} is above it; nothing was asked")
    return est


@app.command()
def export(
    pack: Annotated[str, typer.Argument(help="A pack id or pack folder.")],
    fmt: Annotated[str, typer.Option("--format", help="openai-evals, lm-eval, hf, langsmith, opik, promptfoo or csv.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write into.")],
) -> None:
    """Export a pack for another tool (OpenAI Evals, lm-eval, Hugging Face datasets, ...)."""
    from tinyqa.export import export_pack
    from tinyqa.pack import resolve_packs

    (p,) = resolve_packs([pack])
    for path in export_pack(p, fmt, out_dir):
        out.print(str(path), markup=False)


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


@app.command()
def nightly(
    models: Annotated[Optional[str], typer.Option(help="Models, comma-separated (default: tinyqa.toml [nightly], else local).")] = None,
    packs: Annotated[Optional[str], typer.Option(help="Packs, comma-separated (default: tinyqa.toml [nightly], else every shipped pack).")] = None,
    lmeval_tasks: Annotated[Optional[str], typer.Option(help="lm-eval tasks per model, comma-separated (default: tinyqa.toml [nightly], else none).")] = None,
    lmeval_backend: Annotated[Optional[str], typer.Option(help="lm-eval's backend (default: tinyqa.toml [nightly], else local-chat-completions; hf scores multiple choice).")] = None,
    lmeval_datasets: Annotated[Optional[str], typer.Option(help="lm-eval's dataset mirror (default: tinyqa.toml [nightly], else $TINYQA_DATASETS).")] = None,
    lmeval_limit: Annotated[Optional[float], typer.Option(help="lm-eval docs per task (default: tinyqa.toml [nightly], else all).")] = None,
    task_runner: Annotated[Optional[str], typer.Option(help="thread, dask, dask://HOST:PORT, ray or ray://HOST:PORT (default $TINYQA_TASK_RUNNER, else thread).")] = None,
    reports: Reports = DEFAULT_REPORTS,
    site: Annotated[Path, typer.Option(help="Dashboard folder.")] = Path("site"),
    verbose: Verbose = False,
) -> None:
    """What the nightly deployment runs, here: check the packs, tiny QA on every model × pack
    (fanned out on the task runner), drift per tokenizer, lm-eval, then the dashboard. Exit 3
    when items errored, 1 when a pack is invalid or a tokenizer drifted."""
    from tinyqa import config
    from tinyqa.flows.runners import task_runner as runner
    from tinyqa.pack import locate_packs

    cfg = config.load()[0].nightly
    fan_out = runner(task_runner)
    if packs:
        locate_packs(packs)   # what is in them is the nightly's first check (exit 1)
    for model in models.split(",") if models else cfg.models or ["local"]:
        startup.check_model_cheaply(model, None)
    startup.start_flows(verbose)
    from tinyqa.flows.nightly import nightly as nightly_flow

    result = nightly_flow.with_options(task_runner=fan_out)(
        models=models.split(",") if models else None, packs=packs.split(",") if packs else None,
        lmeval_tasks=lmeval_tasks.split(",") if lmeval_tasks else None, reports=reports, site=str(site),
        lmeval_backend=lmeval_backend, lmeval_datasets=lmeval_datasets, lmeval_limit=lmeval_limit)
    out.print(f"nightly: {len(result.qa)} tiny QA run(s), {result.errors} item error(s); reports in {reports}/",
              markup=False)
    for d in result.drift:
        failures = d.details.get("failures")
        out.print(f"drift {d.run['model']}: {'; '.join(failures) if failures else 'no change'}", markup=False)
    for r in result.lmeval:
        out.print(f"lm-eval {r.run['model']} ({r.run['prompt_template'].removeprefix('lm-eval/')}): "
                  f"{_lmeval_headlines(r)} · run {r.run_id}", markup=False)
    if result.dashboard:
        out.print(f"dashboard: {result.dashboard}", markup=False)
    raise typer.Exit(result.exit_code)


def _lmeval_headlines(result) -> str:
    """Each task's first score of an lm-eval run as `task score value ±stderr`."""
    from tinyqa.reports.dashboard_lmeval import PREFERRED, facet

    rows = {(m["pack_id"], m["slice"], m["metric"]): m for m in result.metrics}
    shown = []
    for task in result.run["pack_ids"]:
        for (t, slice_, metric), m in rows.items():
            if t == task and metric in PREFERRED[:2]:
                se = rows.get((t, slice_, f"{metric}_stderr"))
                shown.append(f"{facet(t, slice_)} {metric} {m['value']:.3f}" + (f" ±{se['value']:.3f}" if se else ""))
    return ", ".join(shown) or "no scores"


lmeval_app = typer.Typer(no_args_is_help=False)
app.add_typer(lmeval_app, name="lmeval")
DatasetsOpt = Annotated[Optional[str], typer.Option(
    "--datasets", envvar="TINYQA_DATASETS", show_envvar=True,
    help="A dataset mirror folder (`tinyqa lmeval mirror` builds one) or a Hugging Face datasets cache: "
         "lm-eval's tasks read their data there, offline.")]


@lmeval_app.callback(invoke_without_command=True)
def lmeval_cmd(
    ctx: typer.Context,
    model: Annotated[Optional[str], typer.Option(help="`local` (the embedded model), the model an --api-base server serves "
                                                      "(openai/NAME sends NAME), or for hf/vllm a model folder or GGUF file.")] = None,
    tasks: Annotated[Optional[str], typer.Option(help="lm-eval tasks and tinyqa packs (tinyqa_core_en or a pack folder), comma-separated.")] = None,
    api_base: Annotated[Optional[str], typer.Option(help="Base URL of an OpenAI-compatible server (…/v1).")] = None,
    backend: Annotated[str, typer.Option(help="local-chat-completions, local-completions, hf or vllm.")] = "local-chat-completions",
    datasets: DatasetsOpt = None,
    limit: Annotated[Optional[float], typer.Option(help="Docs per task (a fraction of each below 1).")] = None,
    batch_size: Annotated[Optional[str], typer.Option(help="A number, auto or auto:N (default 1 on API backends and the CPU, auto on a GPU).")] = None,
    num_fewshot: Annotated[Optional[int], typer.Option(min=0, help="Few-shot examples (default: each task's own).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for lm-eval's samplers and the model.")] = 1234,
    chat_template: Annotated[Optional[bool], typer.Option("--chat-template/--no-chat-template", help="Apply the chat template (default: on for local-chat-completions only).")] = None,
    concurrency: Annotated[Optional[int], typer.Option(min=1, max=256, help="Requests in flight on API backends (default 1 for `local`, else 8).")] = None,
    device: Annotated[Optional[str], typer.Option(help="hf's device: cuda, cuda:N, cpu (default: cuda when the machine has a GPU, else cpu).")] = None,
    model_args: Annotated[Optional[str], typer.Option(help="More lm-eval model arguments, k=v,k=v (override tinyqa's).")] = None,
    allow_hub: Annotated[bool, typer.Option("--allow-hub", help="Let lm-eval download datasets and models from the Hugging Face Hub.")] = False,
    reports: Reports = DEFAULT_REPORTS,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show lm-eval's and Prefect's logs and progress bars.")] = False,
) -> None:
    """Full lm-evaluation-harness suites (and tinyqa packs as lm-eval tasks) on any model;
    metrics and items go to the report store. Offline unless --allow-hub; datasets from
    --datasets (`tinyqa lmeval mirror` builds that folder on a connected machine)."""
    if ctx.invoked_subcommand is not None:
        return
    if model is None or tasks is None:
        raise InputError(f"--{'model' if model is None else 'tasks'} is required "
                         "(`tinyqa lmeval --model M --tasks T`, or `tinyqa lmeval mirror --tasks T --out DIR`)")
    from tinyqa.suites import lmeval

    settings = lmeval.Settings(model=model, tasks=tuple(tasks.split(",")), backend=backend, api_base=api_base,
                               limit=lmeval.parse_limit(limit), batch_size=lmeval.parse_batch_size(batch_size),
                               num_fewshot=num_fewshot, seed=seed, chat_template=chat_template,
                               concurrency=concurrency, model_args=lmeval.parse_model_args(model_args),
                               allow_hub=allow_hub, datasets=datasets, device=device, verbose=verbose)
    lmeval.check(settings)
    startup.start_flows(verbose)
    from tinyqa.flows.lmeval import lmeval_suite

    result = lmeval_suite(settings, reports)
    rows = {(m["pack_id"], m["slice"], m["metric"]): m for m in result.metrics}
    table = Table("task", "metric", "filter", "value", "stderr", "n",
                  title=f"lm-eval {result.details['lm_eval_version']} · {model} · {backend}")
    for (task_id, slice_, metric), m in rows.items():
        if metric.endswith("_stderr") or metric in ("tinyqa_exact_match", "em_disagreements"):
            continue
        se = rows.get((task_id, slice_, f"{metric}_stderr"))
        table.add_row(task_id, metric, slice_.removeprefix("filter="), f"{m['value']:.4f}",
                      "-" if se is None else f"{se['value']:.4f}", "-" if m["n"] is None else str(m["n"]))
    out.print(table)
    for a in result.details["agreement"]:
        same = "agrees with" if not a["differ"] else f"differs on {len(a['differ'])} item(s) from"
        out.print(f"{a['task']} (filter {a['filter']}): lm-eval exact_match {a['k_lmeval']}/{a['n']} "
                  f"{same} tinyqa's EM {a['k_tinyqa']}/{a['n']} on the same answers", markup=False)
        for d in a["differ"][:20]:
            out.print(f"  {d['item_id']}: {d['prediction']!r} lm-eval {'right' if d['lmeval_em'] else 'wrong'}, "
                      f"tinyqa {'right' if d['tinyqa_em'] else 'wrong'}: {d['why']}", markup=False)
    _notes(result.notices)
    out.print(f"reports written to {reports}/ (run {result.run_id}) · lm-eval "
              f"{result.details['timings']['lm_eval_s']:.1f} s", markup=False)


@lmeval_app.command("mirror")
def lmeval_mirror_cmd(
    tasks: Annotated[str, typer.Option(help="lm-eval tasks or groups whose datasets to mirror, comma-separated.")],
    out_dir: Annotated[Path, typer.Option("--out", help="The mirror folder (created, or added to: a dataset mirrored again is rewritten).")],
    source: Annotated[Optional[Path], typer.Option("--from", help="Read the datasets offline from this mirror or Hugging Face "
                                                                  "datasets cache instead of the Hub.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show the datasets library's logs and progress bars.")] = False,
) -> None:
    """Build a dataset mirror on a machine that reaches the Hugging Face Hub: each dataset the
    tasks load, every split as Parquet under OUT/<dataset>/<config>/, with a manifest
    (tinyqa-mirror.json). Copy OUT to the offline machine and pass it as --datasets."""
    from tinyqa.suites import lmeval_mirror

    names = [t.strip() for t in tasks.split(",") if t.strip()]
    if not names:
        raise InputError("--tasks: give at least one lm-eval task (arc_easy, gsm8k, mmlu, ...)")
    if source is not None and not source.is_dir():
        raise InputError(f"--from {source}: no such folder")
    manifest = lmeval_mirror.build(names, out_dir, source, verbose)
    table = Table("dataset", "config", "tasks", "splits (rows)")
    for d in manifest["datasets"]:
        table.add_row(d["path"], d["name"] or "-", ", ".join(d["tasks"][:4]) + (" …" if len(d["tasks"]) > 4 else ""),
                      ", ".join(f"{k} {v['rows']}" for k, v in d["splits"].items()))
    out.print(table)
    if manifest["skipped"]:
        out.print(f"not mirrored (their data is not a Hub dataset lm-eval's config names): "
                  f"{', '.join(manifest['skipped'])}", markup=False)
    out.print(f"mirror written to {out_dir}/ ({len(manifest['datasets'])} dataset config(s)); run with "
              f"--datasets {out_dir}", markup=False)


# --- the process ----------------------------------------------------------------------------

_exit_status = 1   # an uncaught exception's, unless SystemExit says otherwise


def _leave() -> None:
    """The last exit handler: every other one (Prefect's drains, the API server's stop,
    logging's shutdown) has run; skip tearing down LiteLLM's and Prefect's module graphs,
    which costs about 1.2 s a command and does nothing for the user."""
    phases.report()
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(_exit_status)


def entry() -> None:
    """The `tinyqa` console script: main() as a short-lived process that leaves as soon as its
    exit handlers have run."""
    global _exit_status
    atexit.register(_leave)   # registered first, so it runs last
    from tinyqa import worker

    served = worker.handle(sys.argv[1:])
    if served is not None:   # the command ran in a warm worker, on this terminal
        os._exit(served)
    try:
        main()
    except SystemExit as e:
        _exit_status = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
        raise


def main() -> None:
    try:
        app()
    except TinyQAError as e:
        err.print(f"tinyqa: error: {e}", markup=False)
        for line in e.details:
            err.print(f"  {line}", markup=False)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("tinyqa: interrupted")
        sys.exit(130)
    except RuntimeError as e:
        if "ephemeral Prefect API server" not in str(e):
            raise
        err.print(f"tinyqa: error: Prefect's temporary API server did not start in time; set "
                  f"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS higher or PREFECT_API_URL to a running server "
                  f"({str(e).splitlines()[0][:200]})", markup=False)
        sys.exit(3)
